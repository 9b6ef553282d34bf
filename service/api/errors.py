"""One error shape for the whole API: every 4xx answers ``{"detail": "<one sentence>"}``.

Herald's own errors are mapped to a status here and nowhere else: a ``HeraldError``
(``routing.errors``) that leaves a route answers by its kind (``STATUS``) —

- ``NotFound`` 404, ``Invalid`` 400, ``Conflict`` 409, ``Unavailable`` 503 (with
  ``Retry-After``) — the detail being the error's message, which names what and which
  field or id. Routes therefore raise the core's and the adapters' errors through, rather
  than catching them to raise an ``HTTPException``; the console renders the same status
  as an HTML page (``service/web/base.py``). A bare ``HeraldError`` of no kind is a bug:
  500. Redis not answering (``redis.RedisError``) is an ``Unavailable`` too: 503
  ``storage unavailable, try again``.

Routes raise a kind too for what they check themselves (``NotFound(f"no incident
{id!r}")``, ``Invalid("tier: schedule 'backup' has no tier 'L9'")``), and
``HTTPException`` only for what is HTTP's own to say (401/403, 413, 415, a calendar
upload's 422). What the framework answers on its own is turned into the same shape
here, in one place:

- a body, query or path parameter that does not fit the route's model (FastAPI's
  ``RequestValidationError``, 422): one sentence per problem, naming where it is —
  ``field 'until' in the body: input should be a valid datetime, got 'tomorrow'`` —
  joined with ``"; "`` (at most ``MAX_PROBLEMS``, then how many more);
- a body that is not JSON at all (422): ``the body is not valid JSON: Expecting ','
  delimiter at line 1 column 12``;
- a body the JSON parser gives up on (FastAPI's bare 400 "There was an error parsing the
  body"): why — nested too deeply, a number with too many digits, not UTF-8;
- an ``HTTPException`` whose detail is not a string, and Starlette's bare reason phrases
  (404 "Not Found" for a URL no route serves, 405 "Method Not Allowed").

Echoed inputs are cut to ``MAX_ECHO`` characters, so a hostile body is never sent back,
and a number that parsed to infinity (``1e999``) is echoed as the word ``inf`` — the
answer is always valid JSON (it used to be a 500). Status codes stay as the framework
chose them: 422 stays 422, 400 stays 400.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

import logging

import redis
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from routing.errors import Conflict, HeraldError, Invalid, NotFound, Unavailable

MAX_ECHO = 80  # characters of an offending value echoed back
MAX_PROBLEMS = 10  # problems spelled out in one answer; the rest are counted
PLACES = {"query": "query parameter", "path": "path parameter", "header": "header", "cookie": "cookie"}
FRAMEWORK_PARSE_ERROR = "There was an error parsing the body"
#: Each kind of Herald error and the status it answers: the one mapping.
STATUS: dict[type[HeraldError], int] = {NotFound: 404, Invalid: 400, Conflict: 409, Unavailable: 503}
RETRY_AFTER_SECONDS = 5  # what an Unavailable answer suggests waiting
STORAGE_DOWN = "storage unavailable, try again"
log = logging.getLogger("herald.api")


def _echo(value: Any) -> str | None:
    """A short, printable form of an offending input; None for containers (not echoed)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return repr(value[:MAX_ECHO] + "…") if len(value) > MAX_ECHO else repr(value)
    if isinstance(value, (bool, int, float)) or value is None:
        try:
            text = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        except ValueError:  # an int too long to print (over sys.get_int_max_str_digits())
            return "a number too long to repeat"
        return text if len(text) <= MAX_ECHO else text[:MAX_ECHO] + "…"
    return None


def _path(parts: Sequence[Any]) -> str:
    """('alerts', 0, 'labels') -> 'alerts[0].labels'."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def place(loc: Sequence[Any]) -> str:
    """Where a problem is, in words: "field 'until' in the body", "query parameter 'limit'"."""
    if not loc:
        return "the request"
    source, rest = str(loc[0]), loc[1:]
    if source == "body":
        return f"field '{_path(rest)}' in the body" if rest else "the body"
    if source in PLACES:
        return f"{PLACES[source]} '{_path(rest)}'" if rest else PLACES[source]
    return f"field '{_path(loc)}'"


def _message(error: dict[str, Any]) -> str:
    msg = str(error.get("msg", "is not valid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return msg[:1].lower() + msg[1:]


def _json_invalid(error: dict[str, Any], body: Any) -> str:
    reason = str((error.get("ctx") or {}).get("error", "not JSON"))
    position = error["loc"][1] if len(error.get("loc", ())) > 1 and isinstance(error["loc"][1], int) else None
    if position is None or not isinstance(body, str):
        return f"the body is not valid JSON: {reason}"
    line = body.count("\n", 0, position) + 1
    column = position - body.rfind("\n", 0, position)
    return f"the body is not valid JSON: {reason} at line {line} column {column}"


def problem(error: dict[str, Any], body: Any = None) -> str:
    """One pydantic/FastAPI error as a clause naming its field."""
    kind, loc = error.get("type", ""), tuple(error.get("loc", ()))
    if kind == "json_invalid":
        return _json_invalid(error, body)
    where = place(loc)
    if kind == "missing":
        return "the body is missing: send a JSON object" if loc == ("body",) else f"{where} is required"
    if kind == "extra_forbidden":
        return f"{where} is not a field this route takes"
    if loc == ("body",) and kind in ("model_attributes_type", "model_type", "dict_type"):
        return "the body must be a JSON object (Content-Type: application/json)"
    text = f"{where}: {_message(error)}"
    echoed = _echo(error.get("input")) if "input" in error and kind not in ("value_error", "assertion_error") else None
    return f"{text}, got {echoed}" if echoed is not None else text


def sentence(errors: Iterable[dict[str, Any]], body: Any = None, within: tuple[str, ...] = ()) -> str:
    """Every problem in one sentence: "…; …" (the first ``MAX_PROBLEMS``, then a count).
    ``within`` goes before each location: ``("body",)`` for a model a route validates itself."""
    parts = [problem({**e, "loc": (*within, *e.get("loc", ()))}, body) for e in errors] or ["the request is not valid"]
    shown = parts[:MAX_PROBLEMS]
    if len(parts) > MAX_PROBLEMS:
        shown.append(f"and {len(parts) - MAX_PROBLEMS} more problems")
    return "; ".join(dict.fromkeys(shown))  # the same clause twice reads as a stutter


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": sentence(exc.errors(), exc.body)}, status_code=422)


def _parse_failure(cause: BaseException | None) -> str:
    if isinstance(cause, RecursionError):
        return "the body is not valid JSON: it is nested too deeply"
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not valid JSON: it is not UTF-8 text"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return "the body is not valid JSON: a number in it has too many digits"
    return "the body could not be parsed"


def _framework_phrase(request: Request, exc: HTTPException) -> str:
    """Starlette's bare reason phrase as a sentence about this request."""
    target = f"{request.method} {request.url.path[:200]}"
    if exc.status_code == 404:
        return f"there is no {target}" + (" (the API reference is at /docs)" if request.url.path.startswith("/api/")
                                          else "")
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow")
        return f"{request.method} is not allowed on {request.url.path[:200]}" + (
            f"; use {allowed}" if allowed else "")
    return f"{str(exc.detail).lower()}: {target}"


def detail_of(request: Request, exc: HTTPException) -> str:
    """The one-sentence ``detail`` for any HTTPException."""
    detail = exc.detail
    if detail == FRAMEWORK_PARSE_ERROR:
        return _parse_failure(exc.__cause__)
    if isinstance(detail, str):
        try:
            phrase = HTTPStatus(exc.status_code).phrase
        except ValueError:
            phrase = None
        return _framework_phrase(request, exc) if detail == phrase else detail
    if isinstance(detail, list) and all(isinstance(e, dict) for e in detail):
        return sentence(detail)  # a pydantic error list
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {v}" for k, v in detail.items()) or "the request is not valid"
    return str(detail)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = detail_of(request, exc)
    if detail != exc.detail:
        exc = HTTPException(exc.status_code, detail, headers=exc.headers)
    return await http_exception_handler(request, exc)


def status_of(exc: HeraldError) -> int:
    """The HTTP status of a Herald error: its kind's (the first kind in its class's MRO,
    so a class that is two kinds answers as the one it names first); 500 for none."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


async def herald_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HeraldError)
    status = status_of(exc)
    if status == 500:
        log.error("a Herald error of no kind (a bug): %s: %s", type(exc).__name__, exc)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    return JSONResponse({"detail": str(exc) or "the request failed"}, status_code=status, headers=headers)


async def redis_down(request: Request, exc: Exception) -> Response:
    """Redis did not answer: an ``Unavailable`` (503), whatever the route was doing."""
    log.error("redis unavailable: %s", type(exc).__name__)
    return await herald_error(request, Unavailable(STORAGE_DOWN))


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(HeraldError, herald_error)
    app.add_exception_handler(redis.RedisError, redis_down)
