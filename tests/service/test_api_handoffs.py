"""Handoffs through the API: create (with defaults and messages), list, cancel, validation;
every process pages the incoming person from its next lookup."""
from __future__ import annotations

import json
import signal
from datetime import timedelta
from typing import NamedTuple

import pytest
from rq import SimpleWorker

from service.worker import jobs

from tests.calendar_env import (  # noqa: F401 (fixtures)
    API,
    api,
    now_utc,
    replica,
    schedule_herald,
    schedule_settings,
)
from tests.herald_env import AM_TOKEN, fixture_payload


def post(api, **body):
    return api.post("/api/v1/handoffs", json=body, headers=API)


def created(api, **body) -> dict:
    r = post(api, **body)
    assert r.status_code == 201, r.text
    return r.json()


class BurstWorker(SimpleWorker):
    """A real RQ worker for one burst inside the test process. It skips RQ's pubsub
    command channel (whose listener thread holds each teardown for a second) and leaves
    the test process's SIGINT/SIGTERM handlers as they were."""

    def subscribe(self) -> None:
        pass

    def work_burst(self) -> bool:
        saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self.work(burst=True)
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)


def open_incident(api) -> str:
    r = api.post("/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")),
                 headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()["incidents"][0]["id"]


def test_a_handoff_defaults_to_now_until_the_end_of_the_current_shift(api, schedule_herald, schedule_settings,
                                                                     capsys, monkeypatch):
    incident = open_incident(api)
    bob_until = schedule_herald.calendars.rotation("backup").oncall("L2", now_utc())[0].end
    r = post(api, schedule="backup", tier="L2", to="erin", note="disk on db-2 is filling; see #12")
    assert r.status_code == 201, r.text
    handoff = r.json()
    assert handoff["id"] == "h1" and (handoff["to"], handoff["from"], handoff["active"]) == ("erin", None, True)
    assert handoff["end"] == bob_until.strftime("%Y-%m-%dT%H:%M:%SZ") and handoff["created_by"] == "api"
    incoming, outgoing = handoff["messages"]
    assert (incoming["kind"], incoming["person"], incoming["outcome"]) == ("incoming", "erin", "queued")
    assert "Handoff from Bob Brown" in incoming["text"] and "disk on db-2 is filling" in incoming["text"]
    assert f"Open incidents (1): #{incident} triggered" in incoming["text"]
    assert (outgoing["person"], outgoing["outcome"]) == ("bob", "queued")
    assert "Erin Engel is on call for backup L2 instead of you" in outgoing["text"]
    capsys.readouterr()
    monkeypatch.setattr(jobs, "_herald", schedule_herald)  # a real RQ worker runs the notices, twice: sent once
    # the same notice again, queued behind the one the API queued: the worker runs both in order
    schedule_herald.queue.enqueue(jobs.notice, "handoff-h1-incoming", "erin", "t", "again")
    assert BurstWorker([schedule_herald.queue], connection=schedule_herald.queue.connection).work_burst()
    assert schedule_herald.queue.count == 0
    printed = capsys.readouterr().out
    assert printed.count("NOTICE [sms] -> Erin Engel: Handoff from Bob Brown") == 1
    assert "NOTICE [sms] -> Bob Brown: Handoff confirmed" in printed and "again" not in printed

    policy = schedule_herald.config.policies["default"]
    assert schedule_herald.calendars.roster(policy, now_utc())["L2"] == ("erin",)
    with replica(schedule_settings) as other:  # another process: the version key tells it
        r = other.get("/api/v1/oncall/backup", headers=API)
        assert r.status_code == 200, r.text
        answer = r.json()["oncall"]
        assert [(e["person"], e["source"], e["handoff"], e["note"]) for e in answer] == \
            [("erin", "handoff", "h1", "disk on db-2 is filling; see #12")]


def test_a_handoff_from_one_person_over_an_explicit_window(api, schedule_herald):
    now = now_utc()
    start, end = now + timedelta(hours=1), now + timedelta(hours=3)
    r = post(api, schedule="primary", tier="L1", to="carol", **{"from": "alice"}, start=start.isoformat(),
             end=end.isoformat())
    assert r.status_code == 201, r.text
    assert [m["person"] for m in r.json()["messages"]] == ["carol", "alice"]
    policy = schedule_herald.config.policies["default"]
    roster = schedule_herald.calendars.roster
    assert roster(policy, now)["L1"] == ("alice",)
    assert roster(policy, now + timedelta(hours=2))["L1"] == ("carol",)
    assert roster(policy, now + timedelta(hours=4))["L1"] == ("alice",)


def test_list_filter_get_and_cancel(api, schedule_herald):
    now = now_utc()
    first = created(api, schedule="backup", tier="L2", to="erin")
    created(api, schedule="primary", tier="L1", to="dave", end=(now + timedelta(hours=1)).isoformat())
    listed = api.get("/api/v1/handoffs", headers=API).json()["handoffs"]
    assert [h["id"] for h in listed] == ["h1", "h2"]
    assert [h["id"] for h in api.get("/api/v1/handoffs?schedule=backup", headers=API).json()["handoffs"]] == ["h1"]
    assert len(api.get("/api/v1/handoffs?active=true", headers=API).json()["handoffs"]) == 2
    assert api.get("/api/v1/handoffs?active=false", headers=API).json()["handoffs"] == []
    assert api.get("/api/v1/handoffs/h1", headers=API).json()["to"] == "erin"

    r = api.delete(f"/api/v1/handoffs/{first['id']}", headers=API)
    assert r.status_code == 200 and r.json()["cancelled"]["id"] == "h1"
    policy = schedule_herald.config.policies["default"]
    assert schedule_herald.calendars.roster(policy, now_utc())["L2"] == ("bob",)
    assert api.delete("/api/v1/handoffs/h1", headers=API).status_code == 404
    assert api.get("/api/v1/handoffs/h1", headers=API).status_code == 404
    assert api.delete("/api/v1/handoffs/h2").status_code == 401


class Days(NamedTuple):
    """A time this many days from now, filled in when the test runs."""

    days: float


@pytest.mark.parametrize("body, status, detail", [
    ({"schedule": "nope", "tier": "L1", "to": "erin"}, 400, "schedule: no schedule named 'nope'"),
    ({"schedule": "backup", "tier": "L9", "to": "erin"}, 400, "tier: schedule 'backup' has no tier 'L9'"),
    ({"schedule": "backup", "tier": "L2", "to": "zed"}, 400, "to: no person with id 'zed'"),
    ({"schedule": "backup", "tier": "L2", "to": "erin", "from": "zed"}, 400, "from: no person with id 'zed'"),
    ({"schedule": "backup", "tier": "L2", "to": "bob", "from": "bob"}, 400, "from: the handoff must go to someone"),
    ({"schedule": "backup", "tier": "L2", "to": "erin", "from": "alice"}, 400, "from: alice is not on call for L2"),
    ({"schedule": "team", "tier": "L1", "to": "erin"}, 400, "end: nobody is on call for L1"),
    ({"schedule": "backup", "tier": "L2", "to": "erin", "start": Days(2), "end": Days(1)}, 400,
     "end: must be after start"),
    ({"schedule": "backup", "tier": "L2", "to": "erin", "start": Days(-3), "end": Days(-2)}, 400,
     "end: is in the past"),
    ({"schedule": "backup", "tier": "L2", "to": "erin", "end": Days(400)}, 400,
     "end: a handoff lasts at most 366 days"),
    ({"schedule": "backup", "tier": "L2", "to": "erin", "surprise": 1}, 422, None),
])
def test_invalid_handoffs_are_refused_naming_the_field(api, body, status, detail):
    now = now_utc()
    body = {k: (now + timedelta(days=v.days)).isoformat() if isinstance(v, Days) else v for k, v in body.items()}
    r = api.post("/api/v1/handoffs", json=body, headers=API)
    assert r.status_code == status, r.text
    if detail:
        assert r.json()["detail"].startswith(detail)
    assert api.get("/api/v1/handoffs", headers=API).json()["handoffs"] == []


def test_from_must_be_on_call_somewhere_in_the_window(api):
    now = now_utc()
    later = {"start": (now + timedelta(days=30)).isoformat(), "end": (now + timedelta(days=31)).isoformat()}
    assert post(api, schedule="backup", tier="L2", to="erin", **{"from": "bob"}, **later).status_code == 201
    r = post(api, schedule="backup", tier="L2", to="dave", **{"from": "bob"}, **later)  # erin has it by then
    assert r.status_code == 400 and r.json()["detail"].startswith("from: bob is not on call for L2 between")
