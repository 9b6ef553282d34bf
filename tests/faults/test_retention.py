"""Retention: resolved incidents are kept ``HERALD_RETENTION_DAYS`` (90) after they
resolved, then the sweep removes each one with every key and index entry that names it,
in one atomic script — also when Redis is full and refuses every other write.

In process, against a real Redis, with the real Twilio SDK paging the provider
simulator (so the send-log, provider records and rate windows are the real ones), and
Herald's clock moved by the test: an incident "100 days ago" is opened, paged,
escalated, acknowledged and resolved at that time; the sweep runs at the real now.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import redis

from integrations import keys
from integrations.retention_store import RetentionStore
from routing.alertmanager import WebhookPayload
from routing.incident import Acknowledge, Escalate
from service.worker import due
from service.engine import retention
from service.engine.delivery import deliver
from service.engine.ingest import ingest
from tests.faults.harness import ALICE
from tests.faults.inprocess import local_herald
from tests.herald_env import fixture_payload

RETENTION = timedelta(days=90)  # the default of HERALD_RETENTION_DAYS
BOB = "+15550100002"

#: Keys that live as long as the installation, bounded by its configuration (people,
#: schedules, heartbeats, workers) or by design (counters, the SLA archive, the due index's wake
#: list of at most 8). RQ's own
#: ``rq:*`` keys are RQ's (jobs carry result and failure TTLs).
PERMANENT = ("herald:seq:", "herald:metrics", "herald:workers", "herald:calendar", "herald:handoffs",
             "herald:maintenance", "herald:heartbeats", "herald:feeds", "herald:optout:", "herald:sla:",
             "herald:retention:", "herald:due:wake")
#: The due index outlives every incident: it also holds the periodic tasks' entries.
DUE_INDEX = "herald:due"


def post(local, group: str, status: str = "firing", episode: int = 0) -> str:
    """Alertmanager's webhook for ``group``: its alert firing, or resolved an hour after it
    started; ``episode`` n starts 2n hours after the first (the group fired again)."""
    payload = fixture_payload("firing.json")
    payload["groupKey"], payload["commonAnnotations"], payload["status"] = group, {}, status
    alert = payload["alerts"][0]
    alert["fingerprint"], alert["status"] = f"fp-{group}", status
    started = datetime.fromisoformat(alert["startsAt"]) + timedelta(hours=2 * episode)
    alert["startsAt"] = started.isoformat()
    if status == "resolved":
        alert["endsAt"] = (started + timedelta(hours=1)).isoformat()
    [ref] = ingest(local.herald, WebhookPayload.model_validate(payload))
    return str(ref["id"])


def full_life(local, group: str) -> str:
    """Opened, SMS to alice, escalated an hour later (SMS to bob), acknowledged by bob,
    resolved by Alertmanager: at Herald's clock, which the test sets."""
    incident_id = post(local, group)
    due.run_now(local.herald)  # what a worker does with the incident due now: alice paged
    local.clock.advance(3600)
    assert local.herald.act(incident_id, Escalate(round=1)).changed
    deliver(local.herald, incident_id)
    local.clock.advance(120)
    assert local.herald.act(incident_id, Acknowledge(by="bob", via="api", note="on it")).changed
    local.clock.advance(600)
    assert post(local, group, "resolved") == incident_id
    assert local.herald.store.get(incident_id).status == "resolved"
    return incident_id


def resolved_long_ago(local, count: int, ago: timedelta) -> list[str]:
    """``count`` incidents opened and resolved ``ago`` (its due work run, as a worker
    does); Herald's clock is back at now afterwards."""
    now = local.clock.now
    local.clock.now = now - ago
    ids = []
    for n in range(count):
        ids.append(post(local, f"old-{n}"))
        post(local, f"old-{n}", "resolved")
    due.run_now(local.herald)
    local.clock.now = now
    return ids


def naming(client: redis.Redis, incident_id: str) -> list[str]:
    """Every Herald key whose name, members, fields or value point at ``incident_id``."""
    found = []
    for key in client.scan_iter("herald:*"):
        if f":{incident_id}:" in key or key.endswith(f":{incident_id}"):
            found.append(key)
            continue
        kind = client.type(key)
        if kind == "zset":
            members = client.zrange(key, 0, -1)
        elif kind == "list":
            members = client.lrange(key, 0, -1)
        elif kind == "hash":
            members = list(client.hkeys(key))
        elif kind == "string" and key.startswith(("herald:group:", "herald:digest:")):
            value = client.get(key) or ""  # a pointer "<id>", a digest "<payload digest>:<id>:<status>"
            members = [value, value.split(":")[1] if value.count(":") == 2 else ""]
        else:
            members = []
        if any(m in (incident_id, keys.due_incident(incident_id)) or m.startswith(f"{incident_id}:") for m in members):
            found.append(f"{key} -> {incident_id}")
    return found


def without_ttl(client: redis.Redis, *stored: str) -> list[str]:
    """Keys that would stay for good: neither permanent, nor with a TTL, nor naming an
    incident still stored."""
    theirs = {found.split(" -> ")[0] for incident_id in stored for found in naming(client, incident_id)}
    return sorted(k for k in client.scan_iter("herald:*")
                  if not k.startswith(PERMANENT) and k not in theirs and client.ttl(k) == -1
                  and not (k == DUE_INDEX and all(m.startswith("periodic:") for m in client.zrange(k, 0, -1))))


def test_a_resolved_incident_past_retention_goes_with_every_key_that_names_it(tmp_path, redis_url):
    with local_herald(tmp_path, redis_url, HERALD_RATE_LIMIT_SMS="0") as local:
        now = local.clock.now
        local.clock.now = now - RETENTION - timedelta(days=10)
        old = full_life(local, "old")
        assert len(local.sent(ALICE)) == 1 and len(local.sent(BOB)) == 1  # really paged, really recorded
        client = local.herald.store.redis
        assert client.get(f"herald:sendlog:{old}:2:bob:sms").startswith("sent:")
        assert naming(client, old)  # before: its record, indexes, group, digest, send-log ...
        local.clock.now = now
        current = post(local, "current")  # open now: untouched
        before = local.herald.store.get(current)

        assert due.run_periodic(local.herald, "retention") >= 1  # the purge, as a worker runs it

        assert local.herald.store.get(old) is None
        assert naming(client, old) == []
        assert without_ttl(client, current) == []  # what is left of it has a TTL (ack links, provider ids)
        assert local.herald.store.get(current) == before
        assert client.get(keys.group(before.receiver, before.group_key, before.policy)) == current


def test_a_purged_incident_takes_the_alerts_moved_out_of_its_record_with_it(tmp_path, redis_url):
    """An incident that churned through more alerts than its record keeps whole has a hash of
    the resolved ones beside it (keys.incident_alerts): the purge removes it too."""
    with local_herald(tmp_path, redis_url) as local:
        now = local.clock.now
        local.clock.now = now - RETENTION - timedelta(days=1)
        payload = fixture_payload("firing.json")
        payload["groupKey"], payload["commonAnnotations"] = "churn", {}
        first = payload["alerts"][0]
        started = (local.clock.now - timedelta(minutes=10)).isoformat()  # on Herald's (moved) clock
        alerts = [{**first, "labels": {**first["labels"], "instance": f"db{n}:9100"}, "fingerprint": f"churn-{n}",
                   "startsAt": started} for n in range(80)]
        [opened] = ingest(local.herald, WebhookPayload.model_validate({**payload, "alerts": alerts}))
        ended = (local.clock.now - timedelta(minutes=1)).isoformat()  # after they started: the same episodes
        resolved = [{**a, "status": "resolved", "endsAt": ended} for a in alerts]
        ingest(local.herald, WebhookPayload.model_validate({**payload, "status": "resolved", "alerts": resolved}))
        due.run_now(local.herald)  # as a worker does with the incidents due now
        incident_id = str(opened["id"])
        client = local.herald.store.redis
        assert local.herald.store.get(incident_id).status == "resolved"
        assert client.hlen(keys.incident_alerts(incident_id)) > 0  # what the record no longer holds whole
        local.clock.now = now

        assert due.run_now(local.herald, periodic=True) >= 1

        assert local.herald.store.get(incident_id) is None
        assert not client.exists(keys.incident_alerts(incident_id)) and naming(client, incident_id) == []


def test_what_retention_keeps(tmp_path, redis_url):
    """Resolved one minute short of the retention, open for 200 days, a group that moved
    on to a newer incident: kept; only the incident past its retention goes."""
    with local_herald(tmp_path, redis_url) as local:
        now = local.clock.now
        local.clock.now = now - timedelta(days=200)
        gone = post(local, "g")
        assert post(local, "g", "resolved") == gone
        still_open = post(local, "never-resolved")
        local.clock.now = now - RETENTION + timedelta(minutes=1) - timedelta(minutes=5)
        newer = post(local, "g", episode=1)  # the same group fired again: a new incident
        assert newer != gone
        local.clock.advance(5 * 60)
        assert post(local, "g", "resolved", episode=1) == newer  # resolved 89 days 23 h 59 min ago
        local.clock.now = now

        due.run_now(local.herald, periodic=True)

        store = local.herald.store
        assert store.get(gone) is None
        assert store.get(newer).status == "resolved" and store.get(still_open).status == "triggered"
        incident = store.get(newer)
        pointer = keys.group(incident.receiver, incident.group_key, incident.policy)
        assert store.redis.get(pointer) == newer
        assert store.redis.get(pointer.replace(":group:", ":digest:")).split(":")[1:] == [newer, "resolved"]
        assert [i.id for i in store.list()] == [newer, still_open]  # newest first


def test_a_group_whose_incident_was_purged_opens_a_new_incident_and_pages(tmp_path, redis_url):
    with local_herald(tmp_path, redis_url, HERALD_RATE_LIMIT_SMS="0") as local:
        now = local.clock.now
        local.clock.now = now - RETENTION - timedelta(days=1)
        old = full_life(local, "db")
        local.clock.now = now
        due.run_now(local.herald, periodic=True)
        assert local.herald.store.get(old) is None

        again = post(local, "db", episode=1)
        assert again != old
        assert post(local, "db", episode=1) == again  # a re-send: the same incident, nobody paged twice
        deliver(local.herald, again)
        incident = local.herald.store.get(again)
        assert incident.status == "triggered" and [p.state for p in incident.pages] == ["sent"]
        assert len(local.sent(ALICE)) == 2  # one page for the old incident, one for the new


def test_each_sweep_purges_a_bounded_batch(tmp_path, redis_url, monkeypatch):
    monkeypatch.setattr(retention, "PURGE_BATCH", 3)
    with local_herald(tmp_path, redis_url) as local:
        now = local.clock.now
        ids = resolved_long_ago(local, 7, RETENTION + timedelta(days=3))
        left = []
        for _ in range(4):
            due.run_now(local.herald, periodic=True)
            left.append(sum(1 for i in ids if local.herald.store.get(i) is not None))
        assert left == [4, 1, 0, 0]


def test_a_purge_decided_from_an_older_version_removes_nothing_and_a_repeated_one_counts_once(tmp_path, redis_url):
    with local_herald(tmp_path, redis_url) as local:
        now = local.clock.now
        local.clock.now = now - RETENTION - timedelta(days=2)
        incident_id = post(local, "g")
        post(local, "g", "resolved")
        local.clock.now = now
        client = local.herald.store.redis
        current = local.herald.store.get(incident_id)
        stale = current.model_copy(update={"version": current.version - 1})
        before = {k: client.dump(k) for k in client.scan_iter("herald:*")}

        assert retention.purge_incident(local.herald, stale, now) == "changed"
        assert {k: client.dump(k) for k in client.scan_iter("herald:*")} == before  # nothing removed, nothing counted

        assert retention.purge_incident(local.herald, current, now) == "purged"
        month = keys.sla_month(f"{current.created_at:%Y-%m}")
        archived = client.hgetall(month)
        assert archived  # the month's totals now hold it
        assert retention.purge_incident(local.herald, current, now) == "gone"  # a retry: nothing counted twice
        assert client.hgetall(month) == archived


def test_a_full_redis_refuses_webhooks_and_the_purge_still_frees_it(tmp_path, redis_url):
    with local_herald(tmp_path, redis_url) as local:
        now = local.clock.now
        # Enough of them that what their purge frees dwarfs what Redis's own buffers (the AOF
        # buffer, client replies) add meanwhile.
        old = resolved_long_ago(local, 150, RETENTION + timedelta(days=5))
        client = local.herald.store.redis
        try:
            limit = int(client.info("memory")["used_memory"]) - 1
            client.config_set("maxmemory", limit)  # full (noeviction)
            with pytest.raises(redis.ResponseError, match="maxmemory"):
                post(local, "new")  # the webhook's write is refused: Herald answers 503
            assert due.run_now(local.herald, periodic=True) >= 1  # the purge's first write frees memory, so it runs
            assert all(local.herald.store.get(i) is None for i in old)
            assert naming(client, old[0]) == []
            used = int(client.info("memory")["used_memory"])
            assert used < limit, f"the purge freed too little: {used} bytes used, limit {limit}"
            fresh = post(local, "new")  # same limit: room again
            assert local.herald.store.get(fresh).status == "triggered"
        finally:
            client.config_set("maxmemory", 0)


def test_incidents_resolved_before_the_index_existed_are_found_and_purged(tmp_path, redis_url):
    """Data written before this release has no resolved-time index: the sweep builds it
    (a bounded chunk a sweep) before it purges."""
    with local_herald(tmp_path, redis_url) as local:
        now = local.clock.now
        local.clock.now = now - RETENTION - timedelta(days=30)
        legacy = post(local, "legacy")
        post(local, "legacy", "resolved")
        local.clock.now = now - timedelta(days=10)
        recent = post(local, "recent")
        post(local, "recent", "resolved")
        local.clock.now = now
        client = local.herald.store.redis
        client.delete(keys.INCIDENTS_RESOLVED, *client.keys("herald:retention:*"))  # as before the upgrade

        for _ in range(3):
            due.run_now(local.herald, periodic=True)

        assert local.herald.store.get(legacy) is None and local.herald.store.get(recent) is not None
        assert RetentionStore(client).candidates(now.timestamp(), 10) == [recent]


def test_heartbeats_of_workers_gone_for_a_day_are_forgotten(tmp_path, redis_url):
    with local_herald(tmp_path, redis_url) as local:
        now = local.clock.now.timestamp()
        client = local.herald.store.redis
        client.zadd(keys.WORKER_HEARTBEAT, {"gone": now - 86400 - 60, "asleep": now - 3600, "live": now})
        due.run_now(local.herald, periodic=True)
        assert client.zrange(keys.WORKER_HEARTBEAT, 0, -1) == ["asleep", "live"]
