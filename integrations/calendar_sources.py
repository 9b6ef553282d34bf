"""Where calendars come from: files on disk and http(s) URLs.

``fetch_url`` makes one conditional GET (If-None-Match / If-Modified-Since from the copy
in force), streams the body and stops reading past ``max_bytes`` or the overall deadline,
and turns every failure into a ``SourceError``. Messages never contain the URL: calendar
URLs often carry a secret (Google's "secret address in iCal format", Outlook's published
links), and these messages end up in the API, the logs and lint output.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from routing.errors import Unavailable

USER_AGENT = "Herald/0.1 (calendar poller)"


class SourceError(Unavailable):
    """The calendar could not be read or fetched; the message is safe to show (an
    ``Unavailable``: the copy in force stays, and the next poll tries again)."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """One fetch. ``data`` is None for 304 Not Modified: the copy in force is current."""

    data: bytes | None
    etag: str | None = None
    last_modified: str | None = None


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def redact_url(url: str) -> str:
    """``https://calendar.example.com/…``: enough to recognise the source, no secret."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def read_file(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; SourceError when it is missing, unreadable or over ``max_bytes``."""
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    if len(data) > max_bytes:
        raise SourceError(f"{path} is over {max_bytes} bytes")
    return data


def fetch_url(
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    timeout: float,
    max_bytes: int,
) -> Fetched:
    """GET ``url`` with the validators of the copy in force; at most ``max_bytes`` read
    and at most ``timeout`` seconds in all (connect, every read, and the whole body)."""
    headers = {"Accept": "text/calendar, text/plain;q=0.5, */*;q=0.1", "User-Agent": USER_AGENT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    deadline = time.monotonic() + timeout
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=5) as client:
            with client.stream("GET", url, headers=headers) as response:
                if response.status_code == 304:
                    return Fetched(None, response.headers.get("etag") or etag,
                                   response.headers.get("last-modified") or last_modified)
                if response.status_code != 200:
                    raise SourceError(f"the server answered HTTP {response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise SourceError(f"the calendar is {declared} bytes, over the limit of {max_bytes}")
                body = _read_body(response, max_bytes, deadline, timeout)
                return Fetched(body, response.headers.get("etag"), response.headers.get("last-modified"))
    except httpx.TimeoutException:
        raise SourceError(f"no answer within {timeout:g}s") from None
    except httpx.TooManyRedirects:
        raise SourceError("too many redirects") from None
    except httpx.HTTPError as exc:  # connect errors, protocol errors, bad URLs
        raise SourceError(f"fetch failed ({type(exc).__name__})") from None


def _read_body(response: httpx.Response, max_bytes: int, deadline: float, timeout: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise SourceError(f"the calendar is over the limit of {max_bytes} bytes; stopped reading")
        if time.monotonic() > deadline:
            raise SourceError(f"the calendar took over {timeout:g}s to download; stopped reading")
        chunks.append(chunk)
    return b"".join(chunks)
