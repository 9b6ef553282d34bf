"""Parse an untrusted calendar in a child process, with a time limit.

The pure parser caps expansion, but a rule that never matches (``BYMONTH=2;BYMONTHDAY=30``)
makes dateutil step to the year 9999 -- about half a second per such event -- and nothing
can interrupt that inside the process. Uploads and fetched URLs are therefore parsed by
``python -m integrations.calendar_sandbox``, which is killed when the time limit passes
and caps its own CPU time and memory. It answers with the shifts and problems as JSON,
so the parent does not parse the calendar a second time.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from schedules.calendar import CalendarError, CalendarOptions, parse_calendar
from schedules.model import ParsedCalendar, Person, Problem, Shift

PARSE_TIME_LIMIT = 5.0  # seconds, including the child's start-up (~0.2 s)
MEMORY_LIMIT = 1 << 30  # bytes of address space for the child
_ROOT = str(Path(__file__).resolve().parent.parent)


class ParseTimeout(CalendarError):
    """The calendar took longer than the limit to parse: treated as hostile."""


def parse_sandboxed(
    data: bytes,
    *,
    people: Sequence[Person],
    options: CalendarOptions,
    window_start: datetime,
    window_end: datetime,
    time_limit: float = PARSE_TIME_LIMIT,
) -> ParsedCalendar:
    """``parse_calendar`` in a child process; ParseTimeout past ``time_limit`` seconds."""
    request = {
        "data": data.decode("latin-1"),  # bytes <-> str one to one
        "people": [[p.id, p.name, p.email, p.phone] for p in people],
        "options": {"timezone": options.timezone, "match": list(options.match),
                    "tier_markers": dict(options.tier_markers), "default_tier": options.default_tier,
                    "max_shifts": options.max_shifts, "max_recurrence_steps": options.max_recurrence_steps},
        "window": [window_start.isoformat(), window_end.isoformat()],
        "cpu_seconds": int(time_limit) + 1,
    }
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run([sys.executable, "-m", "integrations.calendar_sandbox"],
                              input=json.dumps(request).encode(), capture_output=True,
                              timeout=time_limit, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise ParseTimeout(f"the calendar took over {time_limit:g}s to parse (a recurrence rule that "
                           "never matches?); rejected") from None
    try:
        reply = json.loads(done.stdout)
    except ValueError:
        raise CalendarError(f"the parser stopped (exit {done.returncode}): the calendar is too large or "
                            "too costly to expand") from None
    if reply.get("error"):
        raise CalendarError(reply["error"])
    return ParsedCalendar(
        shifts=tuple(Shift(t, p, _time(s), _time(e), "calendar", uid) for t, p, s, e, uid in reply["shifts"]),
        problems=tuple(Problem(k, m, t, _time(s), _time(e)) for k, m, t, s, e in reply["problems"]),
    )


def _time(value: str | None) -> Any:
    return datetime.fromisoformat(value) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _serve(request: dict[str, Any]) -> dict[str, Any]:
    people = [Person(*fields) for fields in request["people"]]
    start, end = (datetime.fromisoformat(v) for v in request["window"])
    try:
        parsed = parse_calendar(request["data"].encode("latin-1"), people=people,
                                options=CalendarOptions(**request["options"]),
                                window_start=start, window_end=end)
    except CalendarError as exc:
        return {"error": str(exc)}
    return {
        "shifts": [[s.tier, s.person, _iso(s.start), _iso(s.end), s.uid] for s in parsed.shifts],
        "problems": [[p.kind, p.message, p.tier, _iso(p.start), _iso(p.end)] for p in parsed.problems],
    }


def main() -> None:
    request = json.loads(sys.stdin.buffer.read())
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CPU, (request["cpu_seconds"], request["cpu_seconds"] + 1))
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ImportError, ValueError, OSError):  # not on this platform: the wall-clock limit still holds
        pass
    json.dump(_serve(request), sys.stdout)


if __name__ == "__main__":
    main()
