"""The SLA report over months whose incidents the retention purge removed: each purged
incident is added to its month's totals in the same atomic script that removes it, so a
report over whole months answers the same after the purge as before it. All dates are
relative to now (Herald's clock is moved, never fixed to a calendar day)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from routing.incident import Escalate
from service.worker import due
from service.engine import retention
from tests.herald_env import API_TOKEN, open_group

API = {"Authorization": f"Bearer {API_TOKEN}"}


def month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(moment: datetime) -> datetime:
    return month_start(month_start(moment) + timedelta(days=32))


@pytest.fixture
def clock(herald):
    state = {"at": datetime.now(timezone.utc)}
    herald.clock = lambda: state["at"]
    return state


def fire(client, group: str) -> str:
    return open_group(client, group)


def act(client, incident_id: str, action: str) -> None:
    r = client.post(f"/api/v1/incidents/{incident_id}/{action}", headers=API)
    assert r.status_code == 200, r.text


def report(client, start: datetime, end: datetime, fmt: str = "json"):
    r = client.get("/api/v1/reports/sla", params={"from": start.isoformat(), "to": end.isoformat(), "format": fmt},
                   headers=API)
    assert r.status_code == 200, r.text
    return r.json() if fmt == "json" else r.text


@pytest.fixture
def old_month(client, herald, clock):
    """A month about seven months back: three P1 incidents (acknowledged fast, late, never)
    and a drill, all resolved within days, then one incident in the next month; and one
    incident from last week, still open. Returns the month's first instant and the ids."""
    now = clock["at"]
    first = month_start(now - timedelta(days=200))
    clock["at"] = first + timedelta(days=3, hours=9)
    fast, late, never = fire(client, "a"), fire(client, "b"), fire(client, "c")
    drill = client.post("/api/v1/drills", json={"policy": "default", "severity": "P1"}, headers=API)
    assert drill.status_code == 201, drill.text
    drill_id = drill.json()["drills"][0]["incident_id"]
    clock["at"] += timedelta(minutes=2)
    act(client, fast, "ack")
    act(client, drill_id, "ack")
    clock["at"] += timedelta(minutes=58)  # every tier has 1 h in the test configuration
    for incident_id in (late, never):
        assert herald.act(incident_id, Escalate(round=1)).changed
    clock["at"] += timedelta(minutes=30)
    act(client, late, "ack")
    clock["at"] += timedelta(days=2)
    for incident_id in (fast, late, never, drill_id):
        act(client, incident_id, "resolve")
    clock["at"] = next_month(first) + timedelta(days=1)
    following = fire(client, "next-month")
    clock["at"] += timedelta(hours=5)
    act(client, following, "resolve")
    clock["at"] = now - timedelta(days=7)
    recent = fire(client, "recent")
    clock["at"] = now
    return first, [fast, late, never, drill_id, following], recent


def test_a_report_over_whole_months_is_the_same_after_their_incidents_are_purged(client, herald, clock, old_month):
    first, purged, recent = old_month
    end = next_month(first)
    before, before_csv = report(client, first, end), report(client, first, end, "csv")
    two = report(client, first, next_month(end))
    assert before["incidents"]["total"]["incidents"] == 3 and before["drills"]["total"]["incidents"] == 1
    assert before["purged"] == {"included": [], "left_out": []}

    assert due.run_now(herald, periodic=True) >= len(purged)
    assert all(herald.store.get(i) is None for i in purged) and herald.store.get(recent) is not None

    after = report(client, first, end)
    assert after["incidents"] == before["incidents"] and after["drills"] == before["drills"]
    assert after["purged"] == {"included": [f"{first:%Y-%m}"], "left_out": []}
    assert report(client, first, end, "csv") == before_csv
    assert report(client, first, next_month(end))["incidents"] == two["incidents"]  # months add up
    # From the purged month up to now: the purged months' totals and the live incident together.
    up_to_now = report(client, first, clock["at"])
    assert up_to_now["incidents"]["total"]["incidents"] == 3 + 1 + 1


def test_a_range_that_cuts_a_purged_month_says_which_month_it_left_out(client, herald, clock, old_month):
    first, _purged, _recent = old_month
    due.run_now(herald, periodic=True)
    cut = report(client, first + timedelta(days=10), next_month(first))
    assert cut["incidents"]["total"]["incidents"] == 0  # its incidents are known only as the month's totals
    assert cut["purged"] == {"included": [], "left_out": [f"{first:%Y-%m}"]}


def test_a_purge_repeated_after_it_committed_does_not_count_twice(client, herald, clock, old_month):
    first, purged, _recent = old_month
    incidents = [herald.store.get(i) for i in purged]
    due.run_now(herald, periodic=True)
    once = report(client, first, next_month(first))
    for incident in incidents:  # a worker that lost the answer and purges again
        assert retention.purge_incident(herald, incident, clock["at"]) == "gone"
    due.run_now(herald, periodic=True)
    assert report(client, first, next_month(first)) == once
