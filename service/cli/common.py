"""What the ``herald`` commands share: warnings on stderr, and telling the user when
the Redis they reached is not a Herald's.

A warning goes to stderr once, on a line of its own, after whatever the command has
printed to stdout so far (flushed first, so the two never run into each other on a
terminal or in ``2>&1``).
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from integrations.status_store import StatusStore


def warn(message: str) -> None:
    """``warning: message`` on stderr, on its own line."""
    sys.stdout.flush()
    print(f"warning: {message}", file=sys.stderr, flush=True)


def shown_url(url: str) -> str:
    """A Redis URL fit to print: its password (if any) replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:" if parts.username else ":"
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{user}***@{host}{port}", parts.path, parts.query, parts.fragment))


def where_from(variable: str) -> str:
    """``(HERALD_X)`` when the environment sets it, else that the default is in use."""
    return f"({variable})" if os.environ.get(variable) else f"(the default: {variable} is not set)"


def check_herald_data(status: StatusStore, url: str) -> bool:
    """Whether the Redis behind ``status`` holds anything a Herald writes; when it does
    not, say so on stderr (the answer that follows reads the calendar files only)."""
    if status.holds_herald_data():
        return True
    warn(f"no Herald data at {shown_url(url)} {where_from('HERALD_REDIS_URL')}: no Herald has used this Redis, so "
         "nothing stored there (uploads, handoffs, maintenance windows) is included. To ask a running Herald, set "
         "HERALD_REDIS_URL and HERALD_CONFIG to its values (`make run` prints the line to paste).")
    return False


@contextmanager
def calendar_log_muted() -> Iterator[None]:
    """Keep the calendar book's log lines off the terminal while a command runs: the
    command reports the same problems itself, once (with no logging configured, Python
    would print each of them to stderr as well, in between the command's own output)."""
    logger = logging.getLogger("herald.calendars")
    handler, propagate = logging.NullHandler(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
