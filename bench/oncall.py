"""4. Who is on call: per-query latency of ``Rotation.oncall`` against the naive way.

The schedule: 3 years of weekly shifts for 8 people (one weekly RRULE each, every 8th
week), plus 500 handoffs (some replace the whole tier, some one person). Herald parses
the calendar once and builds the ``Rotation`` index; a query is then one bisect. The
naive way, per query: parse the .ics with icalendar, expand it at that instant with
recurring-ical-events, map attendees to people and apply the handoffs by a scan.

Then the same question over HTTP: ``GET /api/v1/oncall/{schedule}?at=…`` on
``herald serve`` loaded with the same calendar (and handoffs created through
``POST /api/v1/handoffs``), against ``GET /healthz`` on the same server as the baseline.
"""
from __future__ import annotations

import json
import random
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.report import pct, row
from bench.stack import API_HEADERS, Stack, loadgen, url_port

NAME = "oncall"
FULL = {"queries": 50_000, "naive_queries": 40, "http_requests": 3000, "http_handoffs": 200}
QUICK = {"queries": 500, "naive_queries": 2, "http_requests": 20, "http_handoffs": 2}
PEOPLE = [(f"p{i}", f"Person {i}", f"p{i}@example.com", f"+1555020{i:04d}") for i in range(8)]
YEARS = 3
HANDOFFS = 500
GOAL_P99_MS, GOAL_SPEEDUP = 0.1, 500.0


def calendar_ics(start: datetime) -> bytes:
    """8 people, each on call one week in eight, for 3 years (a weekly rotation)."""
    weeks = YEARS * 52
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Herald bench//EN"]
    for i, (pid, name, email, _phone) in enumerate(PEOPLE):
        first = start + timedelta(weeks=i)
        lines += ["BEGIN:VEVENT", f"UID:rot-{pid}", "DTSTAMP:20250101T000000Z",
                  f"DTSTART:{first:%Y%m%dT%H%M%SZ}", f"DTEND:{first + timedelta(weeks=1):%Y%m%dT%H%M%SZ}",
                  f"RRULE:FREQ=WEEKLY;INTERVAL={len(PEOPLE)};COUNT={weeks // len(PEOPLE) + 1}",
                  f"SUMMARY:On call {name}", f"ATTENDEE;CN={name}:mailto:{email}", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def handoffs(start: datetime, end: datetime, count: int, rng: random.Random) -> list[Any]:
    from schedules.model import Handoff

    span = (end - start).total_seconds()
    out = []
    for n in range(count):
        at = start + timedelta(seconds=rng.uniform(0, span - 3 * 86400))
        length = timedelta(hours=rng.choice([4, 8, 12, 24, 48]))
        to = rng.choice(PEOPLE)[0]
        # Half replace the whole tier; half replace whoever the calendar names then (if it is them).
        whom = None if n % 2 else rng.choice([p[0] for p in PEOPLE if p[0] != to])
        out.append(Handoff(id=f"h{n}", tier="L1", to=to, start=at, end=at + length, from_person=whom,
                           note=f"cover {n}"))
    return out


def naive_oncall(data: bytes, at: datetime, hands: list[Any]) -> tuple[str, ...]:
    """Parse and expand the calendar for this one instant, then apply the handoffs."""
    import recurring_ical_events
    from icalendar import Calendar

    calendar = Calendar.from_ical(data)
    people = {email: pid for pid, _n, email, _p in PEOPLE}
    found = []
    for event in recurring_ical_events.of(calendar).at(at):
        attendee = str(event.get("ATTENDEE", "")).removeprefix("mailto:")
        if attendee in people:
            found.append(people[attendee])
    for h in hands:  # a later handoff wins
        if h.start <= at < h.end:
            if h.from_person is None:
                found = [h.to]
            elif h.from_person in found:
                found = [p for p in found if p != h.from_person] + [h.to]
    return tuple(dict.fromkeys(found))


def _in_process(size: dict[str, Any], start: datetime, end: datetime) -> dict[str, Any]:
    from schedules.calendar import CalendarOptions, parse_calendar
    from schedules.model import Person
    from schedules.rotation import Rotation

    rng = random.Random(9)
    data = calendar_ics(start)
    hands = handoffs(start, end, HANDOFFS, rng)
    people = [Person(pid, name, email, phone) for pid, name, email, phone in PEOPLE]
    t = time.perf_counter()
    parsed = parse_calendar(data, people=people, options=CalendarOptions(default_tier="L1"),
                            window_start=start, window_end=end)
    rotation = Rotation.build(parsed.shifts, hands)
    build_ms = (time.perf_counter() - t) * 1000
    span = (end - start).total_seconds()
    instants = [start + timedelta(seconds=rng.uniform(0, span)) for _ in range(size["queries"])]
    oncall, clock = rotation.oncall, time.perf_counter_ns
    timings = []
    for at in instants:
        t0 = clock()
        oncall("L1", at)
        timings.append(clock() - t0)
    empty = []
    for at in instants[:2000]:
        t0 = clock()
        empty.append(clock() - t0)
    herald_ms = [x / 1e6 for x in timings]
    naive_ms, mismatches = [], 0
    for at in instants[: size["naive_queries"]]:
        t0 = clock()
        expected = naive_oncall(data, at, hands)
        naive_ms.append((clock() - t0) / 1e6)
        if set(expected) != {s.person for s in rotation.oncall("L1", at)}:
            mismatches += 1
    return {"shifts": len(parsed.shifts), "handoffs": len(hands), "build_ms": build_ms,
            "rotation": {"queries": len(herald_ms), "p50_ms": pct(herald_ms, 50), "p99_ms": pct(herald_ms, 99),
                         "max_ms": max(herald_ms), "timer_overhead_p50_ms": pct([x / 1e6 for x in empty], 50)},
            "naive": {"queries": len(naive_ms), "p50_ms": pct(naive_ms, 50), "p99_ms": pct(naive_ms, 99),
                      "max_ms": max(naive_ms)},
            "answers_differ": mismatches}


def _http(size: dict[str, Any], workdir: Path, start: datetime, end: datetime) -> dict[str, Any]:
    with Stack(workdir / NAME) as stack:
        conf = stack.config.parent
        (conf / "rotation.ics").write_bytes(calendar_ics(start))
        people = "\n".join(f'  - {{id: {p}, name: {n}, email: {e}, phone: "{ph}"}}' for p, n, e, ph in PEOPLE)
        (conf / "oncall.yaml").write_text(f"""people:
{people}
schedules:
  - {{name: rotation, calendar: rotation.ics, default_tier: L1}}
policies:
  - name: default
    tiers:
      - {{name: L1, schedule: rotation}}
route: {{policy: default}}
""")
        stack.with_config(conf / "oncall.yaml")
        api, url = stack.start_api()
        import httpx

        rng = random.Random(4)
        now = datetime.now(timezone.utc)
        created = 0
        with httpx.Client(base_url=url, headers=API_HEADERS, timeout=30) as client:
            for n in range(size["http_handoffs"]):
                at = now + timedelta(days=rng.uniform(1, 300), hours=rng.uniform(0, 24))
                body = {"schedule": "rotation", "tier": "L1", "to": rng.choice(PEOPLE)[0],
                        "start": at.isoformat(), "end": (at + timedelta(hours=rng.choice([4, 12, 24]))).isoformat(),
                        "note": f"bench {n}"}
                created += client.post("/api/v1/handoffs", json=body).status_code == 201
            probe = client.get("/api/v1/oncall/rotation")
        paths = [f"/api/v1/oncall/rotation?at={quote((now + timedelta(days=rng.uniform(-20, 390))).isoformat())}"
                 for _ in range(500)]
        common = {"port": url_port(url), "method": "GET", "headers": API_HEADERS, "concurrency": 1,
                  "max_requests": size["http_requests"], "duration": 30.0}
        loadgen({**common, "path": "/healthz", "max_requests": 50})
        health = loadgen({**common, "path": "/healthz"})
        oncall = loadgen({**common, "paths": paths})
        health2 = loadgen({**common, "path": "/healthz"})
    keep = ("ok", "rps", "p50_ms", "p99_ms", "max_ms", "statuses")
    return {"handoffs_created": created, "sample_status": probe.status_code,
            "oncall": {k: oncall[k] for k in keep},
            "healthz": {k: (health[k] + health2[k]) / 2 if k in ("rps", "p50_ms", "p99_ms") else health[k]
                        for k in keep}}


def run(quick: bool, workdir: Path, profile: bool | None = None) -> dict[str, Any]:
    size = QUICK if quick else FULL
    now = datetime.now(timezone.utc)
    monday = (now - timedelta(days=now.weekday() + 365)).replace(hour=8, minute=0, second=0, microsecond=0)
    start, end = monday, monday + timedelta(weeks=YEARS * 52)
    out: dict[str, Any] = {"config": {**size, "people": len(PEOPLE), "years": YEARS, "handoffs": HANDOFFS,
                                      "calendar": f"{start:%Y-%m-%d} .. {end:%Y-%m-%d}"}}
    out.update(_in_process(size, start, end))
    out["http"] = _http(size, workdir, start, end)
    r, n, h = out["rotation"], out["naive"], out["http"]
    speedup = n["p50_ms"] / r["p50_ms"] if r["p50_ms"] else None
    rows = [row(NAME, f"Rotation.oncall p50 ({out['shifts']} shifts + {out['handoffs']} handoffs)", r["p50_ms"], "ms",
                baseline=n["p50_ms"], baseline_name="naive: parse + expand .ics per query", ratio=speedup,
                goal=f"≥ {GOAL_SPEEDUP:g}× faster", met=speedup is not None and speedup >= GOAL_SPEEDUP,
                note="ratio = naive ÷ Herald"),
            row(NAME, "Rotation.oncall p99", r["p99_ms"], "ms", baseline=n["p99_ms"], baseline_name="naive p99",
                ratio=(n["p99_ms"] / r["p99_ms"]) if r["p99_ms"] else None, goal=f"≤ {GOAL_P99_MS:g} ms",
                met=r["p99_ms"] <= GOAL_P99_MS, note="ratio = naive ÷ Herald"),
            row(NAME, "answers that differ from the naive way", out["answers_differ"], f"of {n['queries']}"),
            row(NAME, "GET /api/v1/oncall/{schedule}?at= p50", h["oncall"]["p50_ms"], "ms",
                baseline=h["healthz"]["p50_ms"], baseline_name="GET /healthz, same server",
                note=f"{h['handoffs_created']} handoffs via the API"),
            row(NAME, "GET /api/v1/oncall/{schedule}?at= p99", h["oncall"]["p99_ms"], "ms",
                baseline=h["healthz"]["p99_ms"], baseline_name="GET /healthz p99")]
    out["rows"] = rows
    return out


if __name__ == "__main__":  # python -m bench.oncall [--quick]
    import sys
    import tempfile

    print(json.dumps(run("--quick" in sys.argv, Path(tempfile.mkdtemp())), indent=2, default=str))
