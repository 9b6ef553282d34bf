"""Published feeds: a schedule's effective rotation and a person's shifts as iCalendar,
opened by revocable tokens that Redis keeps only as hashes."""
from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar

from integrations import keys
from tests.calendar_env import (  # noqa: F401 (fixtures)
    API,
    api,
    now_utc,
    schedule_herald,
    schedule_settings,
)


def feed_token(api, **target) -> dict:
    r = api.post("/api/v1/feeds", json=target, headers=API)
    assert r.status_code == 201, r.text
    return r.json()


def events(body: bytes) -> list:
    return Calendar.from_ical(body).walk("VEVENT")


def test_a_schedule_feed_is_the_effective_rotation_with_stable_uids(api):
    feed = feed_token(api, schedule="backup")
    assert feed["url"] == f"https://herald.test/api/v1/schedules/backup.ics?token={feed['token']}"
    assert len(feed["token"]) >= 43 and feed["kind"] == "schedule"  # 256 bits, URL-safe base64
    r = api.get(f"/api/v1/schedules/backup.ics?token={feed['token']}")
    assert r.status_code == 200 and r.headers["content-type"] == "text/calendar; charset=utf-8"
    found = events(r.content)
    assert 27 <= len(found) <= 29  # weekly shifts from 15 days back to 180 days ahead
    assert {str(e["SUMMARY"]) for e in found} == {"On call L2: Bob Brown"}
    assert all(e["DTSTART"].dt.tzinfo is not None and e["DTSTART"].dt.utcoffset() == timedelta(0) for e in found)
    assert b"bob@example.com" not in r.content and b"+1555" not in r.content
    again = api.get(f"/api/v1/schedules/backup.ics?token={feed['token']}")
    assert again.content == r.content and again.headers["etag"] == r.headers["etag"]
    assert api.get(f"/api/v1/schedules/backup.ics?token={feed['token']}",
                   headers={"If-None-Match": r.headers["etag"]}).status_code == 304

    now = now_utc()
    handoff = {"schedule": "backup", "tier": "L2", "to": "erin", "start": (now + timedelta(days=2)).isoformat(),
               "end": (now + timedelta(days=3)).isoformat(), "note": "private note"}
    assert api.post("/api/v1/handoffs", json=handoff, headers=API).status_code == 201
    changed = api.get(f"/api/v1/schedules/backup.ics?token={feed['token']}")
    assert changed.headers["etag"] != r.headers["etag"] and b"private note" not in changed.content
    summaries = [str(e["SUMMARY"]) for e in events(changed.content)]
    assert summaries.count("On call L2: Erin Engel") == 1
    old_uids = {str(e["UID"]) for e in found}
    new_uids = {str(e["UID"]) for e in events(changed.content)}
    assert len(old_uids & new_uids) >= len(old_uids) - 1  # only the shift cut by the handoff changed


def test_a_person_feed_holds_only_their_shifts_on_every_schedule(api):
    feed = feed_token(api, person="alice")
    r = api.get(f"/api/v1/people/alice/oncall.ics?token={feed['token']}")
    assert r.status_code == 200
    assert {str(e["SUMMARY"]) for e in events(r.content)} == {"On call primary L1: Alice Adams"}
    assert api.get(f"/api/v1/people/bob/oncall.ics?token={feed['token']}").status_code == 403
    assert api.get(f"/api/v1/schedules/primary.ics?token={feed['token']}").status_code == 403


def test_revoked_missing_and_wrong_tokens_open_nothing(api, schedule_herald):
    feed = feed_token(api, schedule="primary")
    url = f"/api/v1/schedules/primary.ics?token={feed['token']}"
    assert api.get(url).status_code == 200
    stored = schedule_herald.store.redis.hgetall(keys.FEEDS)
    assert len(stored) == 1 and feed["token"] not in str(stored)  # only its hash is kept
    assert [f["id"] for f in api.get("/api/v1/feeds", headers=API).json()["feeds"]] == [feed["id"]]
    assert "token" not in api.get("/api/v1/feeds", headers=API).json()["feeds"][0]

    r = api.delete(f"/api/v1/feeds/{feed['token']}", headers=API)
    assert r.status_code == 200 and r.json()["revoked"]["id"] == feed["id"]
    assert api.get(url).status_code == 401
    assert api.delete(f"/api/v1/feeds/{feed['token']}", headers=API).status_code == 404

    by_id = feed_token(api, schedule="primary")
    assert api.delete(f"/api/v1/feeds/{by_id['id']}", headers=API).status_code == 200
    assert api.get(f"/api/v1/schedules/primary.ics?token={by_id['token']}").status_code == 401
    assert api.get("/api/v1/schedules/primary.ics").status_code == 401
    assert api.get("/api/v1/schedules/primary.ics?token=made-up").status_code == 401
    assert api.get("/api/v1/schedules/primary.ics", headers=API).status_code == 200  # the API token works too
    assert api.get("/api/v1/schedules/nope.ics", headers=API).status_code == 404


def test_feed_tokens_are_created_for_known_targets_only_by_the_admin(api):
    assert api.post("/api/v1/feeds", json={"schedule": "nope"}, headers=API).json()["detail"] == \
        "schedule: no schedule named 'nope'"
    assert api.post("/api/v1/feeds", json={"person": "zed"}, headers=API).status_code == 400
    assert api.post("/api/v1/feeds", json={"schedule": "primary", "person": "alice"}, headers=API).status_code == 400
    assert api.post("/api/v1/feeds", json={}, headers=API).status_code == 400
    assert api.post("/api/v1/feeds", json={"schedule": "primary"}).status_code == 401
