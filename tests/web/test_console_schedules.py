"""Now, schedules and handoffs in the console."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from service.engine.runtime import Herald
from tests.web.conftest import csrf_of, login


def test_now_shows_who_is_on_call_until_when_and_next(admin):
    text = admin.get("/ui/").text
    assert 'data-schedule="primary"' in text and 'data-tier="L1"' in text
    primary = text[text.index('data-schedule="primary"'):text.index('data-schedule="backup"')]
    assert "Alice Adams" in primary and "Next:" in primary and "no change ahead" in primary  # alice, every week
    assert "Bob Brown" in text[text.index('data-schedule="backup"'):]
    assert "Erin Engel" in text and "Dave Dietz" in text  # fixed-people tiers of the policy


def test_schedules_grid_shows_four_weeks_and_the_load_status(admin):
    text = admin.get("/ui/schedules").text
    assert text.count('class="cal"') == 2
    assert text.count("data-day=") >= 2 * 28
    assert "Alice Adams" in text and "Loaded" in text and 'class="seg gap"' not in text


def _handoff(client, **fields):
    csrf = csrf_of(client.get("/ui/schedules").text)
    data = {"csrf": csrf, "target": "primary|L1", "to": "dave", "from_person": "", "start": "", "end": "",
            "hours": "", "note": "", **fields}
    return client.post("/ui/schedules/handoffs", data=data)


def test_handoff_form_puts_the_new_person_on_call(admin):
    r = _handoff(admin, hours="4", note="watch <db1>")
    assert r.status_code == 200 and "Handoff saved" in r.text
    assert "⇄ Dave Dietz" in r.text and "watch &lt;db1&gt;" in r.text
    now = admin.get("/ui/").text
    primary = now[now.index('data-schedule="primary"'):now.index('data-schedule="backup"')]
    assert "Dave Dietz" in primary and "⇄" in primary and "Alice Adams" in primary  # next: back to alice
    handoff_id = r.text.split('/ui/schedules/handoffs/')[1].split('/cancel')[0]
    csrf = csrf_of(r.text)
    r = admin.post(f"/ui/schedules/handoffs/{handoff_id}/cancel", data={"csrf": csrf})
    assert "Handoff cancelled" in r.text and "⇄ Dave" not in r.text


def test_bad_handoff_shows_the_reason_and_keeps_the_form(admin):
    r = _handoff(admin, to="dave", from_person="bob", note="keep me")
    assert r.status_code == 400 and "Handoff not saved" in r.text and "bob" in r.text
    assert "keep me" in r.text
    r = _handoff(admin, start="2026-02-30T10:00")
    assert r.status_code == 400 and "start" in r.text
    r = _handoff(admin, target="nope|L1")
    assert r.status_code == 400 and "no schedule" in r.text
    assert _handoff(admin, hours="-3").status_code == 400


def test_handoff_form_needs_csrf(admin):
    r = admin.post("/ui/schedules/handoffs", data={"target": "primary|L1", "to": "dave", "hours": "2"})
    assert r.status_code == 403


def _gap_calendar(path: Path) -> None:
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    end = start + timedelta(days=2)
    path.write_text("\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Herald tests//EN", "BEGIN:VEVENT", "UID:gap1",
        "DTSTAMP:20260101T000000Z", f"DTSTART:{start:%Y%m%dT%H%M%SZ}", f"DTEND:{end:%Y%m%dT%H%M%SZ}",
        "SUMMARY:On call Alice Adams", "ATTENDEE;CN=Alice Adams:mailto:alice@example.com",
        "END:VEVENT", "END:VCALENDAR", ""]), newline="")


def test_gaps_are_red_on_now_and_schedules(settings):
    _gap_calendar(Path(settings.config).parent / "primary.ics")
    with TestClient(create_app(settings, Herald.from_settings(settings))) as c:
        login(c)
        now = c.get("/ui/").text
        primary = now[now.index('data-schedule="primary"'):now.index('data-schedule="backup"')]
        assert "nobody on call" in primary and "Alice Adams" in primary  # next: alice, in two days
        grid = c.get("/ui/schedules").text
        assert 'class="seg gap"' in grid
