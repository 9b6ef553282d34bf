"""The console's pure helpers: the schedule grid, the next change of person, links,
timeline sentences and the session cookie format."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from routing.incident import AlertState, Incident, TimelineEntry
from schedules.model import Handoff, Person, Shift
from schedules.rotation import Rotation
from service.web.incident_view import describe, links
from service.web.oncall_view import tier_now
from service.web.render import safe_link, span
from service.web.schedule_grid import weeks
from service.web.session import anonymous, decode, encode

UTC = timezone.utc
NOW = datetime(2026, 5, 6, 12, tzinfo=UTC)  # a Wednesday
PEOPLE = {"alice": Person("alice", "Alice Adams"), "bob": Person("bob", "Bob Brown")}


def _week(person: str, start: datetime) -> Shift:
    return Shift("L1", person, start, start + timedelta(days=7), uid=f"{person}-{start:%m%d}")


def test_grid_marks_handoffs_and_gaps_and_joins_back_to_back_shifts():
    monday = datetime(2026, 5, 4, 8, tzinfo=UTC)
    rotation = Rotation.build([_week("alice", monday), _week("alice", monday + timedelta(days=7))],
                              [Handoff("h1", "L1", "bob", NOW + timedelta(hours=6), NOW + timedelta(hours=18),
                                       note="dentist")])
    rows = weeks(rotation, "L1", "UTC", PEOPLE, NOW)
    assert len(rows) == 5 and all(len(r) == 7 for r in rows)  # today is a Wednesday: 2 + 28 days
    days = {d.day.isoformat(): d for row in rows for d in row}
    assert days["2026-05-06"].today and days["2026-05-04"].past
    first = days["2026-05-04"].pieces
    assert [(p.label(), p.gap) for p in first] == [("00:00–08:00", True), ("08:00–24:00", False)]
    wednesday = [(p.label(), p.names, p.handoff, p.note) for p in days["2026-05-06"].pieces]
    assert wednesday == [("00:00–18:00", ("Alice Adams",), False, ""),
                         ("18:00–24:00", ("Bob Brown",), True, "dentist")]
    assert [p.label() for p in days["2026-05-11"].pieces] == ["00:00–24:00"]  # alice's two shifts: one stretch
    assert days["2026-05-18"].has_gap and days["2026-05-18"].pieces[-1].label() == "08:00–24:00"


def test_grid_days_follow_the_schedule_time_zone():
    rotation = Rotation.build([Shift("L1", "alice", datetime(2026, 3, 28, 23, tzinfo=UTC),
                                     datetime(2026, 3, 30, 22, tzinfo=UTC))])
    rows = weeks(rotation, "L1", "Europe/Berlin", PEOPLE, datetime(2026, 3, 25, tzinfo=UTC))
    days = {d.day.isoformat(): d for row in rows for d in row}
    sunday = days["2026-03-29"].pieces  # the day the clocks go forward: 23 hours
    assert len(sunday) == 1 and sunday[0].whole_day and sunday[0].names == ("Alice Adams",)
    assert [p.label() for p in days["2026-03-31"].pieces] == ["00:00–24:00"]  # Berlin midnight = 22:00 UTC
    assert weeks(None, "L1", "Not/AZone", PEOPLE, NOW)[0][0].pieces[0].gap  # no calendar: all gap


def test_next_change_skips_the_same_persons_next_shift():
    monday = datetime(2026, 5, 4, 8, tzinfo=UTC)
    shifts = [_week("alice", monday), _week("alice", monday + timedelta(days=7)),
              _week("bob", monday + timedelta(days=14))]
    book = type("Book", (), {"rotation": lambda self, name: Rotation.build(shifts)})()
    now = tier_now(book, "primary", "L1", PEOPLE, NOW)
    assert [p.name for p in now.current] == ["Alice Adams"] and now.change == monday + timedelta(days=14)
    assert [p.name for p in now.following] == ["Bob Brown"]
    last = tier_now(book, "primary", "L1", PEOPLE, monday + timedelta(days=15))
    assert [p.name for p in last.current] == ["Bob Brown"] and last.change == monday + timedelta(days=21)
    assert last.following == ()  # a gap comes next
    gap = tier_now(book, "primary", "L1", PEOPLE, monday - timedelta(days=1))
    assert gap.gap and gap.change == monday and [p.name for p in gap.following] == ["Alice Adams"]


def test_only_http_links_survive():
    assert safe_link("https://grafana.example/d/1?x=<y>") == "https://grafana.example/d/1?x=<y>"
    for bad in ("javascript:alert(1)", "data:text/html,x", "//evil.example", "ftp://x", "http://", None, 5,
                "https://" + "a" * 3000):
        assert safe_link(bad) is None
    alert = AlertState(fingerprint="f", status="firing", starts_at=NOW, generator_url="javascript:x",
                       labels={"alertname": "A"}, annotations={"runbook_url": "https://rb.example/a",
                                                               "dashboard_url": "vbscript:x", "summary": "https://no"})
    incident = Incident(id="1", receiver="r", group_key="g", policy="p", severity="P1", title="t",
                        created_at=NOW, alerts={"f": alert})
    assert links(incident) == [("runbook", "https://rb.example/a")]


def test_timeline_sentences_name_people_and_keep_unknown_kinds():
    people = PEOPLE
    entry = TimelineEntry(at=NOW, kind="acknowledged", details={"by": "alice", "via": "sms"})
    assert describe(entry, people).text == "Acknowledged by Alice Adams via sms"
    failed = describe(TimelineEntry(at=NOW, kind="page_failed", details={"person": "bob", "channel": "sms",
                                                                         "tier": "L2", "round": 2, "detail": "x"}),
                      people)
    assert failed.bad and failed.text == "Page failed: sms to Bob Brown (L2, round 2) — x"
    assert describe(TimelineEntry(at=NOW, kind="brand_new", details={"b": 2, "a": 1}), people).text == \
        "brand_new: a=1, b=2"
    assert span(59) == "59s" and span(3600 * 3 + 300) == "3h 05m" and span(86400 * 2 + 3600) == "2d 1h"


def test_session_cookie_round_trip_tamper_and_expiry():
    key = b"k" * 32
    data = anonymous()
    cookie = encode(key, data)
    assert decode(key, cookie, time.time()) == data
    assert decode(b"x" * 32, cookie, time.time()) is None
    body, _, mac = cookie.partition(".")
    assert decode(key, body[:-1] + ("A" if body[-1] != "A" else "B") + "." + mac, time.time()) is None
    assert decode(key, cookie, data["exp"] + 1) is None
    for junk in ("", ".", "a.b", "x" * 2000, None):
        assert decode(key, junk, time.time()) is None
