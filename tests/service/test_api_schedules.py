"""The schedules API: listing, uploads (and their refusals), shifts and coverage."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.cli.main import main
from service.engine.runtime import Herald
from service.settings import Settings
from tests.calendar_env import (  # noqa: F401 (fixtures)
    API,
    api,
    calendar,
    event,
    now_utc,
    replica,
    schedule_herald,
    schedule_settings,
    stamp,
)
from tests.herald_env import ROOT, env_for

ICS = {**API, "Content-Type": "text/calendar; charset=utf-8"}


def team_calendar(now, person: str = "dave") -> bytes:
    return calendar(event("t1", f"{person}@example.com", now - timedelta(days=1), now + timedelta(days=2)),
                    event("t2", f"{person}@example.com", now + timedelta(days=3), now + timedelta(days=40)),
                    event("t3", "carol@example.com", now - timedelta(days=1), now + timedelta(days=40), "[L2]"))


def schedules(api) -> dict[str, dict]:
    r = api.get("/api/v1/schedules", headers=API)
    assert r.status_code == 200, r.text
    return {s["name"]: s for s in r.json()["schedules"]}


def test_the_list_shows_each_schedule_with_its_source_and_state(api):
    listed = schedules(api)
    assert list(listed) == ["primary", "backup", "team"]
    primary = listed["primary"]
    assert primary["source"] == "file" and primary["location"].endswith("primary.ics")
    assert primary["loaded"] is True and primary["shifts"] > 50 and primary["last_error"] is None
    assert primary["loaded_at"].endswith("Z") and primary["tiers"] == ["L1"] and primary["problems"] == []
    team = listed["team"]
    assert (team["source"], team["loaded"], team["note"], team["tiers"]) == \
        ("upload", False, "no calendar uploaded yet", ["L1", "L2"])
    assert api.get("/api/v1/schedules").status_code == 401


def test_an_upload_is_in_force_here_and_on_another_replica(api, schedule_settings):
    now = now_utc()
    r = api.put("/api/v1/schedules/team", content=team_calendar(now), headers=ICS)
    assert r.status_code == 200, r.text
    assert (r.json()["loaded"], r.json()["version"], r.json()["shifts"]) == (True, 1, 3)
    with replica(schedule_settings) as other:
        answer = other.get("/api/v1/oncall/team", headers=API)
        assert answer.status_code == 200, answer.text
        assert {(e["tier"], e["person"]) for e in answer.json()["oncall"]} == {("L1", "dave"), ("L2", "carol")}
        assert api.put("/api/v1/schedules/team", content=team_calendar(now, "erin"), headers=ICS).status_code == 200
        answer = other.get("/api/v1/oncall/team?tier=L1", headers=API).json()
        assert [e["person"] for e in answer["oncall"]] == ["erin"]


def test_a_broken_upload_is_400_with_the_parsers_message_and_the_copy_stays(api):
    now = now_utc()
    assert api.put("/api/v1/schedules/team", content=team_calendar(now), headers=ICS).status_code == 200
    r = api.put("/api/v1/schedules/team", content=b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n"
                                                  b"END:VCALENDAR\r\n", headers=ICS)
    assert r.status_code == 400
    refusal = "no usable event: x (no SUMMARY): VEVENT without DTSTART"
    assert r.json()["detail"] == f"calendar refused, the copy in force stays: {refusal}"
    team = schedules(api)["team"]
    assert team["version"] == 1 and team["shifts"] == 3
    assert team["last_error"] == f"upload rejected: {refusal}"
    answer = api.get("/api/v1/oncall/team?tier=L1", headers=API).json()
    assert [e["person"] for e in answer["oncall"]] == ["dave"]


def test_uploads_are_refused_for_unknown_schedules_wrong_types_sources_and_sizes(api):
    data = team_calendar(now_utc())
    assert api.put("/api/v1/schedules/nope", content=data, headers=ICS).status_code == 404
    r = api.put("/api/v1/schedules/primary", content=data, headers=ICS)
    assert r.status_code == 409 and "source: upload" in r.json()["detail"]
    r = api.put("/api/v1/schedules/team", content=data, headers={**API, "Content-Type": "application/json"})
    assert r.status_code == 415
    big = data.replace(b"END:VCALENDAR", b"X-FILLER:" + b"x" * 5000 + b"\r\nEND:VCALENDAR")
    assert api.put("/api/v1/schedules/team", content=big, headers=ICS).status_code == 413
    chunked = api.put("/api/v1/schedules/team", content=iter([big[:3000], big[3000:]]), headers=ICS)
    assert chunked.status_code == 413  # no Content-Length: counted while reading
    assert api.put("/api/v1/schedules/team", content=b"  ", headers=ICS).status_code == 400
    assert api.put("/api/v1/schedules/team", content=data, headers={"Content-Type": "text/calendar"}).status_code == 401
    assert schedules(api)["team"]["loaded"] is False


def test_shifts_list_effective_shifts_in_a_range_with_contacts_for_the_admin(api):
    now = now_utc()
    assert api.put("/api/v1/schedules/team", content=team_calendar(now), headers=ICS).status_code == 200
    r = api.get("/api/v1/schedules/team/shifts", params={"from": now.isoformat(),
                                                          "to": (now + timedelta(days=10)).isoformat()}, headers=API)
    assert r.status_code == 200, r.text
    shifts = r.json()["shifts"]
    assert [(s["tier"], s["person"], s["source"]) for s in shifts] == \
        [("L1", "dave", "calendar"), ("L2", "carol", "calendar"), ("L1", "dave", "calendar")]
    assert shifts[0]["contact"] == {"email": "dave@example.com", "phone": "+15550100005"}
    assert shifts[0]["schedule"] == "team" and shifts[0]["name"] == "Dave Dietz"
    only_l2 = api.get("/api/v1/schedules/team/shifts?tier=L2", headers=API).json()["shifts"]
    assert [s["person"] for s in only_l2] == ["carol"]


def test_shift_ranges_are_checked(api):
    now = now_utc()
    far = {"from": now.isoformat(), "to": (now + timedelta(days=367)).isoformat()}
    assert "at most 366 days" in api.get("/api/v1/schedules/primary/shifts", params=far, headers=API).json()["detail"]
    backwards = {"from": now.isoformat(), "to": (now - timedelta(days=1)).isoformat()}
    assert api.get("/api/v1/schedules/primary/shifts", params=backwards, headers=API).status_code == 400
    r = api.get("/api/v1/schedules/primary/shifts?from=yesterday", headers=API)
    assert r.status_code == 400 and r.json()["detail"].startswith("from: not an ISO 8601 time")
    old = {"from": (now - timedelta(days=100)).isoformat()}
    assert "expanded from" in api.get("/api/v1/schedules/primary/shifts", params=old, headers=API).json()["detail"]
    assert api.get("/api/v1/schedules/nope/shifts", headers=API).status_code == 404


def test_gaps_report_coverage_per_tier_overlaps_and_unknown_people(api):
    now = now_utc()
    data = team_calendar(now).replace(b"END:VCALENDAR", "\r\n".join([
        event("t4", "erin@example.com", now + timedelta(days=10), now + timedelta(days=11)),
        event("t5", "nobody@example.com", now + timedelta(days=12), now + timedelta(days=13)),
        "END:VCALENDAR"]).encode())
    assert api.put("/api/v1/schedules/team", content=data, headers=ICS).status_code == 200
    r = api.get("/api/v1/schedules/team/gaps?days=30", headers=API)
    assert r.status_code == 200, r.text
    report = r.json()
    [gap] = report["gaps"]["L1"]
    assert gap["start"][:13] == (now + timedelta(days=2)).isoformat()[:13]
    assert gap["end"][:13] == (now + timedelta(days=3)).isoformat()[:13]
    assert report["gaps"]["L2"] == []
    [overlap] = report["overlaps"]
    assert "dave and erin are both on call for L1" in overlap["message"]
    [unknown] = report["unknown_people"]
    assert "nobody known" in unknown["message"]
    assert report["problems"] == 3 and report["loaded"] is True
    assert api.get("/api/v1/schedules/primary/gaps?days=30", headers=API).json()["problems"] == 0
    assert api.get("/api/v1/schedules/team/gaps?days=0", headers=API).status_code == 422


# -- the upload's answer: every problem lint would report ---------------------------------------
def with_every_problem(now) -> bytes:
    """dave on L1 with a day's gap, erin overlapping him, someone unknown, an event without
    DTSTART (meant to fill the gap), carol on L2 throughout."""
    no_start = "\r\n".join(["BEGIN:VEVENT", "UID:t6", f"DTSTAMP:{stamp(now)}", f"DTEND:{stamp(now + timedelta(days=3))}",
                             "SUMMARY:On call Erin Engel", "END:VEVENT"])
    return team_calendar(now).replace(b"END:VCALENDAR", "\r\n".join([
        event("t4", "erin@example.com", now + timedelta(days=10), now + timedelta(days=11)),
        event("t5", "nobody@example.com", now + timedelta(days=12), now + timedelta(days=13)),
        no_start, "END:VCALENDAR"]).encode())


def test_the_upload_answer_lists_every_problem_lint_reports_in_lints_words(api, capsys):
    now = now_utc().replace(microsecond=0)
    r = api.put("/api/v1/schedules/team", content=with_every_problem(now), headers=ICS)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["loaded"] is True and answer["version"] == 1 and answer["lint"]["days"] == 30
    assert [w["kind"] for w in answer["warnings"]] == ["skipped_event", "unknown_person", "gap", "overlap"]
    assert answer["warnings"][0]["text"] == "skipped_event L1: t6 'On call Erin Engel': VEVENT without DTSTART"
    assert answer["warnings"][2]["start"][:13] == (now + timedelta(days=2)).isoformat()[:13]
    # herald schedules lint, run now against the same Redis, says the same lines
    assert main(["schedules", "lint", "--schedule", "team", "--skip-contacts"]) == 1
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "team (upload, 4 shifts, next 30 days): 4 problems"
    assert printed[1:] == [f"  {w['text']}" for w in answer["warnings"]]


def test_a_clean_upload_has_no_warnings_and_days_narrows_what_is_checked(api):
    now = now_utc()
    r = api.put("/api/v1/schedules/team?days=1", content=team_calendar(now), headers=ICS)
    assert r.status_code == 200, r.text
    assert r.json()["warnings"] == [] and r.json()["lint"]["days"] == 1  # the gap begins after two days
    r = api.put("/api/v1/schedules/team", content=team_calendar(now), headers=ICS)
    assert [w["kind"] for w in r.json()["warnings"]] == ["gap"]


def test_an_upload_with_nothing_usable_is_refused_and_days_is_checked(api):
    now = now_utc()
    assert api.put("/api/v1/schedules/team", content=team_calendar(now), headers=ICS).status_code == 200
    only_bad = calendar("\r\n".join(["BEGIN:VEVENT", "UID:t9", "DTSTAMP:20260101T000000Z", "RRULE:FREQ=DAILY",
                                      "SUMMARY:On call Dave Dietz", "END:VEVENT"]))
    r = api.put("/api/v1/schedules/team", content=only_bad, headers=ICS)
    assert r.status_code == 400
    assert r.json()["detail"] == ("calendar refused, the copy in force stays: no usable event: "
                                  "t9 'On call Dave Dietz': VEVENT without DTSTART")
    assert api.put("/api/v1/schedules/team?days=0", content=team_calendar(now), headers=ICS).status_code == 422
    assert schedules(api)["team"]["version"] == 1


def test_skipped_events_show_in_the_list_and_in_the_gaps_report(api):
    now = now_utc()
    assert api.put("/api/v1/schedules/team", content=with_every_problem(now), headers=ICS).status_code == 200
    team = schedules(api)["team"]
    assert team["skipped_events"] == 1 and team["problems"][0]["kind"] == "skipped_event"
    assert schedules(api)["primary"]["skipped_events"] == 0
    report = api.get("/api/v1/schedules/team/gaps", headers=API).json()
    assert [p["message"] for p in report["skipped_events"]] == ["t6 'On call Erin Engel': VEVENT without DTSTART"]
    assert report["problems"] == 4


# -- the example configuration takes uploads out of the box ---------------------------------------
EXAMPLE = ROOT / "deploy" / "examples" / "herald.yaml"


@pytest.fixture
def example_api(redis_url, monkeypatch):
    for key, value in env_for(Path(EXAMPLE), redis_url).items():
        monkeypatch.setenv(key, value)
    herald = Herald.from_settings(Settings())
    try:
        with TestClient(create_app(Settings(), herald)) as client:
            yield client
    finally:
        herald.close()


def test_the_example_configuration_has_a_schedule_that_takes_uploads(example_api):
    listed = schedules(example_api)
    uploads = [name for name, s in listed.items() if s["source"] == "upload"]
    assert uploads == ["platform"] and listed["platform"]["note"] == "no calendar uploaded yet"
    assert example_api.get("/readyz").status_code == 200  # waiting for its first upload is not unready
    # what the comment in the example says to try
    primary = (EXAMPLE.parent / "calendars" / "primary.ics").read_bytes()
    r = example_api.put("/api/v1/schedules/platform", content=primary, headers=ICS)
    assert r.status_code == 200, r.text
    assert r.json()["loaded"] is True and r.json()["shifts"] > 0 and r.json()["skipped_events"] == 0
