"""The small stores that took the edge's direct Redis calls: drills, notices, the SLA
report's reads, Herald's own status and metric totals, wrong-guess counts. On a real Redis."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import redis

from integrations import keys
from integrations.attempt_store import AttemptStore
from integrations.drill_store import DrillStore
from integrations.notice_store import NoticeStore
from integrations.report_store import ReportStore
from integrations.status_store import StatusStore
from integrations.store import Store
from routing.decide import decide
from routing.incident import AlertsReceived, AlertState
from routing.policy import Policy, Tier

POLICY = Policy("default", (Tier("L1", people=("alice",)),))
ROSTER = {"L1": ("alice",)}


@pytest.fixture
def client(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def opened(client, group: str, at: datetime):
    """An incident opened at ``at`` through the real store (its indexes as production writes them)."""
    alerts = [AlertState(fingerprint=group, status="firing", starts_at=at)]
    decision = Store(client).apply_to_group("herald", group, "default", lambda cur, new_id: decide(
        cur, AlertsReceived(new_id=new_id or cur.id, receiver="herald", group_key=group, severity="P1", title=group,
                            alerts=alerts), POLICY, ROSTER, at))
    return decision.incident


# -- drills ---------------------------------------------------------------------------------

def test_drills_are_listed_newest_first_up_to_the_limit(client):
    now = datetime.now(timezone.utc)
    first, second, third = (opened(client, g, now - timedelta(minutes=m)) for g, m in (("a", 30), ("b", 20), ("c", 10)))
    drills = DrillStore(client)
    drills.add([first, third])
    drills.add([second])
    drills.add([first])  # twice is harmless
    assert drills.newest(10) == [third.id, second.id, first.id]
    assert drills.newest(2) == [third.id, second.id]


def test_no_drills_and_adding_none_are_empty(client):
    drills = DrillStore(client)
    drills.add([])
    assert drills.newest(5) == [] and not client.exists(keys.DRILLS)


# -- notices --------------------------------------------------------------------------------

def test_a_notice_slot_is_claimed_once_and_keeps_the_outcome(client):
    notices = NoticeStore(client, ttl=60)
    assert notices.claim("h1", "alice") and not notices.claim("h1", "alice")
    assert notices.claim("h1", "bob")  # per person
    notices.record("h1", "alice", "sent")
    assert notices.outcome("h1", "alice") == "sent" and not notices.claim("h1", "alice")
    assert 0 < client.ttl(keys.notice("h1", "alice")) <= 60


def test_a_released_slot_can_be_claimed_again(client):
    notices = NoticeStore(client)
    assert notices.claim("h2", "alice")
    notices.release("h2", "alice")
    assert notices.outcome("h2", "alice") is None and notices.claim("h2", "alice")


# -- the SLA report's reads ---------------------------------------------------------------------

def test_incidents_created_in_a_range_start_included_end_left_out(client):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    before, inside, at_end = (opened(client, g, now - timedelta(hours=h)) for g, h in (("x", 5), ("y", 3), ("z", 1)))
    reports = ReportStore(client, batch=1)  # one MGET per incident: the batching is exercised
    found = reports.created_between(inside.created_at, at_end.created_at)
    assert [i.id for i in found] == [inside.id]
    assert {i.id for i in reports.created_between(now - timedelta(days=1), now)} == {before.id, inside.id, at_end.id}


def test_an_indexed_incident_that_is_gone_is_skipped_and_no_months_read_nothing(client):
    now = datetime.now(timezone.utc)
    kept, gone = opened(client, "k", now - timedelta(hours=2)), opened(client, "g", now - timedelta(hours=1))
    client.delete(keys.incident(gone.id))  # purged between the index read and the MGET
    reports = ReportStore(client)
    assert [i.id for i in reports.created_between(now - timedelta(days=1), now)] == [kept.id]
    assert reports.archived([]) == [] and reports.archived(["1999-01"]) == [{}]


# -- Herald's own status -----------------------------------------------------------------------

def test_status_counts_workers_and_what_is_stored(client):
    status = StatusStore(client)
    assert not status.holds_herald_data()
    now = datetime.now(timezone.utc)
    client.zadd(keys.WORKER_HEARTBEAT, {"w1": now.timestamp() - 10, "w2": now.timestamp() - 500})
    assert status.workers_alive(since=now.timestamp() - 90) == 1
    opened(client, "s", now)
    status.add_to_totals([("herald_pages\x1fsms", 2.0), ("herald_pages\x1fsms", 1.0)])
    found = status.snapshot(now.timestamp(), overdue_after=60, alive_within=90)
    assert (found.incidents_open, found.incidents_stored, found.workers_alive) == (1, 1, 1)
    assert float(found.totals["herald_pages\x1fsms"]) == 3.0
    assert status.holds_herald_data()
    used, limit = status.memory()
    assert used > 0 and limit >= 0


def test_status_raises_when_redis_is_away():
    status = StatusStore(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5))
    with pytest.raises(redis.ConnectionError):
        status.ping()
    with pytest.raises(redis.ConnectionError):
        status.snapshot(0.0, overdue_after=60, alive_within=90)


# -- wrong guesses ---------------------------------------------------------------------------

def test_wrong_guesses_are_counted_per_address_and_in_total_and_expire(client):
    attempts = AttemptStore(client)
    assert attempts.count_failure("ack", "ip:a", 7, ttl=120) == (1, 1)
    assert attempts.count_failure("ack", "ip:a", 7, ttl=120) == (2, 2)
    assert attempts.count_failure("ack", "ip:b", 7, ttl=120) == (1, 3)
    assert attempts.count_failure("login", "ip:a", 7, ttl=120) == (1, 1)  # each target its own counts
    assert attempts.count_failure("ack", "ip:a", 8, ttl=120) == (1, 1)  # a new window starts over
    assert 0 < client.ttl(keys.failed_attempts("ack", "all", 7)) <= 120
