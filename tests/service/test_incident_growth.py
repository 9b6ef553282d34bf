"""One incident that sees many alerts stays bounded (issue 16, item 1).

A group can churn through thousands of alerts (a rollout, flapping instances). Herald
tracks at most ``HERALD_MAX_ALERTS_PER_INCIDENT`` of them per incident and counts the
rest; resolved alerts leave the hot incident record (their episode's start and end stay
in a compact map, the whole alert in a separate per-incident hash written in the same
commit); the API pages through an incident's alerts. The cap never costs a resolve nor
a wrong page: an untracked alert that still fires keeps the incident open.

Structure is asserted here, never time: the figures are in ``bench/incident_growth.py``.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from integrations import keys
from service.settings import Settings
from tests.herald_env import AM_TOKEN, API_TOKEN, env_for, write_config

AM = {"Authorization": f"Bearer {AM_TOKEN}"}
API = {"Authorization": f"Bearer {API_TOKEN}"}
GO_ZERO = "0001-01-01T00:00:00Z"
CAP = 60


@pytest.fixture
def settings(tmp_path, redis_url, monkeypatch) -> Settings:
    for key, value in env_for(write_config(tmp_path / "conf"), redis_url, "https://herald.test").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HERALD_MAX_ALERTS_PER_INCIDENT", str(CAP))
    monkeypatch.setenv("HERALD_MAX_BODY_BYTES", str(8 * 1024 * 1024))
    return Settings()


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


START = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)


def am_alert(n: int, status: str = "firing", starts: datetime = START, ends: datetime | None = None) -> dict:
    ends = ends or (starts + timedelta(minutes=10) if status == "resolved" else None)
    return {"status": status, "fingerprint": f"fp{n:06d}",
            "labels": {"alertname": "PodCrashLooping", "pod": f"api-{n}", "service": "api", "severity": "critical"},
            "annotations": {"summary": f"api-{n} is crash looping", "description": "x" * 100},
            "startsAt": iso(starts), "endsAt": iso(ends) if ends else GO_ZERO,
            "generatorURL": "http://prometheus.example/graph"}


def webhook(client, alerts: list[dict], group: str = '{}:{alertname="PodCrashLooping"}'):
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    body = {"version": "4", "groupKey": group, "truncatedAlerts": 0, "status": status, "receiver": "herald",
            "groupLabels": {"alertname": "PodCrashLooping"},
            "commonLabels": {"alertname": "PodCrashLooping", "service": "api", "severity": "critical"},
            "commonAnnotations": {}, "externalURL": "http://am.example", "alerts": alerts}
    r = client.post("/api/v1/alertmanager", content=json.dumps(body), headers=AM)
    assert r.status_code == 200, r.text
    [ref] = r.json()["incidents"]
    return ref


def untracked_total(data: dict) -> int:
    return data["untracked_alerts"]


def stored(herald, incident_id: str) -> tuple[dict, int]:
    raw = herald.store.redis.get(keys.incident(incident_id))
    return json.loads(raw), len(raw.encode())


# -- the cap -------------------------------------------------------------------------------

def test_the_cap_holds_and_the_rest_are_counted_with_one_timeline_note(client, herald):
    ref = webhook(client, [am_alert(n) for n in range(CAP + 7)])
    data, _ = stored(herald, ref["id"])
    assert len(data["alerts"]) == CAP
    assert data["untracked_alerts"] == 7
    # a later webhook with the group's alerts and more: still at the cap, counted again
    ref = webhook(client, [am_alert(n) for n in range(CAP + 30)])
    data, _ = stored(herald, ref["id"])
    assert len(data["alerts"]) == CAP and data["untracked_alerts"] == 30
    kinds = [e["kind"] for e in data["timeline"]]
    assert kinds.count("alert_cap_reached") == 1, kinds  # once, not per webhook
    assert len(data["pages"]) == 1  # nothing of this pages anyone again


def test_a_group_at_the_cap_keeps_what_it_tracks_on_a_resend(client, herald):
    """Edge: the cap is reached exactly; the same alerts again change nothing."""
    ref = webhook(client, [am_alert(n) for n in range(CAP)])
    data, _ = stored(herald, ref["id"])
    assert len(data["alerts"]) == CAP and data.get("untracked_alerts") == 0
    again = webhook(client, list(reversed([am_alert(n) for n in range(CAP)])))  # other bytes, same alerts
    assert again["changed"] is False
    data, _ = stored(herald, ref["id"])
    assert "alert_cap_reached" not in [e["kind"] for e in data["timeline"]]


def test_an_untracked_alert_still_firing_keeps_the_incident_open(client, herald):
    """Failure case the cap must not cause: every tracked alert resolved while alerts
    beyond the cap still fire is no resolve — the room the resolves free goes to the
    alerts still firing, which are tracked from then on; when those resolve, it resolves."""
    ids = range(CAP + 5)
    ref = webhook(client, [am_alert(n) for n in ids])
    tracked_resolved = [am_alert(n, "resolved") if n < CAP else am_alert(n) for n in ids]
    ref = webhook(client, tracked_resolved)
    assert ref["status"] == "triggered"
    data, _ = stored(herald, ref["id"])
    assert data["status"] == "triggered" and data["untracked_alerts"] == 0
    assert sorted(fp for fp, a in data["alerts"].items() if a["status"] == "firing") == [
        f"fp{n:06d}" for n in range(CAP, CAP + 5)]
    ref = webhook(client, [am_alert(n, "resolved") for n in ids])
    assert ref["status"] == "resolved"
    data, _ = stored(herald, ref["id"])
    assert data["resolved_by"] == "alertmanager" and len(data["pages"]) == 1


def test_alerts_that_ended_beyond_the_cap_reach_a_resolve(client, herald):
    """Edge: the untracked alerts were dropped from the group (ended) before the tracked
    ones resolved: the group's last notification resolves the incident."""
    ref = webhook(client, [am_alert(n) for n in range(CAP + 5)])
    ref = webhook(client, [am_alert(n, "resolved") for n in range(CAP)])
    assert ref["status"] == "resolved"


# -- resolved alerts out of the hot record -----------------------------------------------

def test_churn_keeps_the_hot_record_bounded_and_the_resolved_alerts_in_their_own_hash(client, herald):
    ref = None
    for wave in range(10):  # a rollout: each wave's pods fire, then resolve as the next wave fires
        first = wave * CAP // 2
        alerts = [am_alert(n, "resolved") for n in range(max(0, first - CAP // 2), first)]
        alerts += [am_alert(n) for n in range(first, first + CAP // 2)]
        ref = webhook(client, alerts)
    data, size = stored(herald, ref["id"])
    firing = [a for a in data["alerts"].values() if a["status"] == "firing"]
    assert len(firing) == CAP // 2
    assert len(data["ended"]) <= CAP and untracked_total(data) == 0
    assert size < 80_000, size  # bounded by the cap, not by the 300 alerts of the history
    archived = herald.store.redis.hgetall(keys.incident_alerts(ref["id"]))
    for fp in data["ended"]:
        assert fp in archived and json.loads(archived[fp])["labels"]["pod"] == "api-" + str(int(fp[2:]))


def test_the_episode_rule_holds_for_an_alert_moved_out_of_the_hot_record(client, herald):
    """A late firing copy of an ended episode pages nobody and changes nothing; the next
    episode (starting at or after the end) fires it again — also for an alert whose
    whole record has left the incident (only its start and end are kept)."""
    many = 55  # more resolved alerts than the hot record keeps whole (50); fp000000 ends first
    ref = webhook(client, [am_alert(n) for n in range(many)])
    ended_at = START + timedelta(minutes=10)
    webhook(client, [am_alert(n, "resolved", ends=ended_at + timedelta(seconds=n)) for n in range(many)]
            + [am_alert(999)])
    data, _ = stored(herald, ref["id"])
    assert "fp000000" in data["ended"] and "fp000000" not in data["alerts"]
    version = data["version"]
    late = webhook(client, [am_alert(0, starts=START - timedelta(seconds=5)), am_alert(999)])
    assert late["changed"] is False
    data, _ = stored(herald, ref["id"])
    assert data["version"] == version and "fp000000" not in data["alerts"]
    again = webhook(client, [am_alert(0, starts=ended_at), am_alert(999)])
    assert again["changed"] is True
    data, _ = stored(herald, ref["id"])
    assert data["alerts"]["fp000000"]["status"] == "firing" and len(data["pages"]) == 1
    assert "fp000000" not in data["ended"]
    assert "fp000000" not in herald.store.redis.hgetall(keys.incident_alerts(ref["id"]))


# -- the API and the console page through an incident's alerts ----------------------------

def test_the_api_pages_through_an_incidents_alerts(client, herald):
    ref = webhook(client, [am_alert(n) for n in range(CAP)])
    webhook(client, [am_alert(n, "resolved") for n in range(12)] + [am_alert(n) for n in range(12, CAP)])
    url = f"/api/v1/incidents/{ref['id']}/alerts"
    first = client.get(url, params={"limit": 5}, headers=API).json()
    assert first["total"] == CAP and len(first["alerts"]) == 5 and first["offset"] == 0
    seen = []
    for offset in range(0, CAP, 5):
        page = client.get(url, params={"offset": offset, "limit": 5}, headers=API).json()
        seen += [a["fingerprint"] for a in page["alerts"]]
    assert sorted(seen) == sorted(f"fp{n:06d}" for n in range(CAP))  # each once, none missing
    firing = client.get(url, params={"status": "firing"}, headers=API).json()
    assert firing["total"] == CAP - 12 and {a["status"] for a in firing["alerts"]} == {"firing"}
    resolved = client.get(url, params={"status": "resolved", "limit": 1000}, headers=API).json()
    assert resolved["total"] == 12 and all(a["labels"]["pod"] for a in resolved["alerts"])
    beyond = client.get(url, params={"offset": 500}, headers=API).json()
    assert beyond["alerts"] == [] and beyond["total"] == CAP
    whole = client.get(f"/api/v1/incidents/{ref['id']}", headers=API).json()
    assert isinstance(whole["alerts"], dict) and whole["untracked_alerts"] == 0


def test_the_alerts_page_refuses_bad_bounds_naming_the_field(client, herald):
    ref = webhook(client, [am_alert(0)])
    url = f"/api/v1/incidents/{ref['id']}/alerts"
    for params, field in (({"limit": 0}, "limit"), ({"limit": 5000}, "limit"), ({"offset": -1}, "offset"),
                          ({"status": "pending"}, "status")):
        r = client.get(url, params=params, headers=API)
        assert r.status_code == 422 and field in json.dumps(r.json()["detail"]), (params, r.text)
    assert client.get("/api/v1/incidents/999999/alerts", headers=API).status_code == 404
    assert client.get(url).status_code == 401
