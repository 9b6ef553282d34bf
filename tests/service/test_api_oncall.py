"""Who is on call: every schedule, one schedule or tier, now or at a given time; contact
details only for tokens that may see them."""
from __future__ import annotations

from datetime import timedelta

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
)

ICS = {**API, "Content-Type": "text/calendar"}


def upload_team(api, now) -> None:
    data = calendar(event("t1", "dave@example.com", now - timedelta(days=1), now + timedelta(days=2)),
                    event("t2", "erin@example.com", now + timedelta(days=2), now + timedelta(days=9)))
    assert api.put("/api/v1/schedules/team", content=data, headers=ICS).status_code == 200


def test_every_schedule_and_tier_now_with_gaps_listed_as_nobody(api):
    r = api.get("/api/v1/oncall", headers=API)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(e["schedule"], e["tier"], e["person"], e["source"]) for e in body["oncall"]] == \
        [("primary", "L1", "alice", "calendar"), ("backup", "L2", "bob", "calendar")]
    alice = body["oncall"][0]
    assert alice["name"] == "Alice Adams" and alice["start"] < body["at"] < alice["end"]
    assert alice["contact"] == {"email": "alice@example.com", "phone": "+15550100001"}
    assert body["nobody"] == [{"schedule": "team", "tier": "L1", "until": None},
                              {"schedule": "team", "tier": "L2", "until": None}]
    assert body["calendar_errors"] == []


def test_a_failing_calendar_is_named_next_to_the_answer_from_its_last_good_copy(api, schedule_herald):
    path = schedule_herald.calendars.path_of(schedule_herald.config.schedules["primary"])
    path.write_bytes(b"BEGIN:VCALENDAR\r\nbroken")
    schedule_herald.calendars.refresh(now_utc(), force=True)
    r = api.get("/api/v1/oncall", headers=API)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [e["person"] for e in body["oncall"]] == ["alice", "bob"]
    [error] = body["calendar_errors"]
    assert error["schedule"] == "primary" and "not a readable iCalendar" in error["error"]


def test_at_a_given_time_and_for_one_schedule_and_tier(api):
    now = now_utc()
    upload_team(api, now)
    later = (now + timedelta(days=3)).isoformat()
    r = api.get("/api/v1/oncall/team", params={"at": later, "tier": "L1"}, headers=API)
    assert r.status_code == 200, r.text
    assert r.json()["schedule"] == "team" and [e["person"] for e in r.json()["oncall"]] == ["erin"]
    everywhere = api.get("/api/v1/oncall", params={"at": later}, headers=API)
    assert everywhere.status_code == 200, everywhere.text
    everywhere = everywhere.json()
    assert {(e["schedule"], e["person"]) for e in everywhere["oncall"]} == \
        {("primary", "alice"), ("backup", "bob"), ("team", "erin")}
    gap = api.get("/api/v1/oncall/team", params={"at": (now + timedelta(days=10)).isoformat()}, headers=API)
    assert gap.status_code == 200, gap.text
    gap = gap.json()
    assert gap["oncall"] == [] and [n["tier"] for n in gap["nobody"]] == ["L1", "L2"]


def test_an_unencoded_plus_offset_and_a_time_without_offset_are_understood(api):
    now = now_utc()
    upload_team(api, now)
    local = (now + timedelta(days=3, hours=2)).strftime("%Y-%m-%dT%H:%M:%S")
    r = api.get(f"/api/v1/oncall/team?tier=L1&at={local}+02:00", headers=API)  # '+' arrives as a space
    assert r.status_code == 200, r.text
    assert r.json()["at"] == (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    naive = api.get(f"/api/v1/oncall/team?tier=L1&at={local}", headers=API)
    assert naive.status_code == 200, naive.text
    naive = naive.json()
    assert naive["at"] == (now + timedelta(days=3, hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_bad_requests_name_what_is_wrong(api):
    assert api.get("/api/v1/oncall/nope", headers=API).status_code == 404
    r = api.get("/api/v1/oncall/primary?tier=L7", headers=API)
    assert r.status_code == 400 and r.json()["detail"] == "tier: schedule 'primary' has no tier 'L7' (its tiers: L1)"
    r = api.get("/api/v1/oncall?at=tomorrow", headers=API)
    assert r.status_code == 400 and r.json()["detail"].startswith("at: not an ISO 8601 time")
    r = api.get("/api/v1/oncall", params={"at": (now_utc() - timedelta(days=100)).isoformat()}, headers=API)
    assert r.status_code == 400 and "expanded from" in r.json()["detail"]
    assert api.get("/api/v1/oncall").status_code == 401
    assert api.get("/api/v1/oncall", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_a_read_only_token_sees_who_but_not_their_contact_details(schedule_settings, monkeypatch):
    monkeypatch.setenv("HERALD_API_TOKENS", "wallboard:read:wallboard-token-0123456789")
    with replica(Settings()) as client:
        viewer = {"Authorization": "Bearer wallboard-token-0123456789"}
        r = client.get("/api/v1/oncall", headers=viewer)
        assert r.status_code == 200, r.text
        body = r.json()
        assert [e["person"] for e in body["oncall"]] == ["alice", "bob"]
        assert all("contact" not in e for e in body["oncall"])
        shifts = client.get("/api/v1/schedules/primary/shifts", headers=viewer).json()["shifts"]
        assert shifts and all("contact" not in s for s in shifts)
        assert all("contact" in e for e in client.get("/api/v1/oncall", headers=API).json()["oncall"])
        r = client.put("/api/v1/schedules/team", content=b"BEGIN:VCALENDAR", headers={**viewer, **ICS,
                       "Authorization": viewer["Authorization"]})
        assert r.status_code == 403 and "schedules:write" in r.json()["detail"]
