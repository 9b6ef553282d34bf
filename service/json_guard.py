"""Hostile JSON must end in a 4xx, quickly, never a 500 or a hang.

What the parsers already do, and the tests in ``tests/security/test_hostile_input.py``
keep true: bodies are capped (``service.http_guards.BodyLimit``), pydantic-core's parser
(the Alertmanager webhook, dry runs) stops at its recursion limit and at numbers out of
range, and the standard ``json`` module behind FastAPI's body models turns deep nesting
into a RecursionError that FastAPI answers with 400, and refuses integers over 4300
digits.

What it did not: ``1e999`` (or 900 000 digits with a decimal point) parses to ``inf``;
FastAPI's default 422 handler echoes the input back and ``inf`` is not valid JSON, so
the answer was a 500. ``validation_error`` renders the same 422 with non-finite numbers
written as strings and echoed input cut to a sane size.
"""
from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

MAX_ECHO = 1000  # characters of an offending input value echoed back


def _safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str) and len(value) > MAX_ECHO:
        return value[:MAX_ECHO] + "…"
    if isinstance(value, dict):
        return {k: _safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_safe(v) for v in value]
    return value


def _error(error: dict[str, Any]) -> dict[str, Any]:
    out = dict(error)
    if "input" in out:
        text = repr(out["input"]) if not isinstance(out["input"], (str, int, float, bool, type(None))) else None
        if text is not None and len(text) > MAX_ECHO:  # a huge nested input: say what it was, not all of it
            out["input"] = text[:MAX_ECHO] + "…"
    return out


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_error(e) for e in exc.errors()]
    return JSONResponse({"detail": _safe(jsonable_encoder(errors))}, status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
