"""Herald's one error root: every error Herald itself raises about a request or its data is
a ``HeraldError`` of one of four kinds, and the edge maps the kind to an answer in one
place (HTTP: ``service/api/errors.py``; the CLI prints the message and exits non-zero).

==============  ==========================================================  ====
kind            means                                                       HTTP
==============  ==========================================================  ====
``NotFound``    the thing named (an incident, a schedule, a window…) is      404
                not there
``Invalid``     the input is wrong: a field, a matcher, a calendar, a       400
                configuration; resending it unchanged fails again
``Conflict``    the input is fine but the state it meets refuses it: a      409
                schedule that takes no uploads, an incident whose policy
                was removed from the configuration
``Unavailable`` something Herald depends on did not answer (a calendar      503
                URL, Herald itself for ``herald fire``); try again later
==============  ==========================================================  ====

The message is the whole explanation, one sentence that names what and which field or
id (``"tier: policy 'payments' has no tier 'L9'"``); it is what the API answers as
``{"detail": ...}``, so it never carries a secret (a calendar URL, a token).

``Invalid`` is also a ``ValueError`` and ``NotFound`` a ``LookupError``: a pydantic
validator may raise ``Invalid`` (pydantic turns ValueErrors into validation errors), and
code that caught the builtin before keeps working.

Why in ``routing/``: the root must be importable from ``routing/`` and from ``schedules/``
(``CalendarError`` lives in ``schedules/``, ``MatcherError`` in ``routing/``), which are
otherwise independent siblings. This module imports nothing but the standard library and
is the one thing of ``routing/`` that ``schedules/`` may import (pyproject.toml's layers
contract says so, by name), so every layer raises the same classes and an error never
changes class on its way up. It does no I/O.
"""
from __future__ import annotations

__all__ = ["HeraldError", "NotFound", "Invalid", "Conflict", "Unavailable"]


class HeraldError(Exception):
    """The root. ``message``: one sentence saying what and which field or id;
    ``field``: the input it is about, when there is one (``"tier"``, ``"from"``)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class NotFound(HeraldError, LookupError):
    """What the request names does not exist (HTTP 404)."""


class Invalid(HeraldError, ValueError):
    """The input is wrong; sending it again unchanged fails again (HTTP 400)."""


class Conflict(HeraldError):
    """The input is well formed but the current state refuses it (HTTP 409)."""


class Unavailable(HeraldError):
    """A dependency did not answer; the same request may work later (HTTP 503)."""
