import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import redis

from integrations import keys
from integrations.store import Store
from routing.decide import Decision, decide
from routing.incident import Acknowledge, AlertsReceived, AlertState
from routing.policy import Policy, Tier

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
POLICY = Policy("default", (Tier("L1", people=("alice",)), Tier("L2", people=("bob",))))
ROSTER = {"L1": ("alice",), "L2": ("bob",)}


@pytest.fixture
def store(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield Store(client)
    client.close()


def firing(new_id: str) -> AlertsReceived:
    return AlertsReceived(new_id=new_id, receiver="herald", group_key="g", severity="P1", title="t",
                          alerts=[AlertState(fingerprint="f", status="firing", starts_at=T0)])


def open_incident(store: Store) -> Decision:
    return store.apply_to_group("herald", "g", "default",
                                lambda cur, _p: decide(cur, firing(store.next_incident_id() if cur is None else cur.id),
                                                       POLICY, ROSTER, T0))


def test_open_writes_incident_indexes_and_due_time(store):
    d = open_incident(store)
    stored = store.get(d.incident.id)
    assert stored is not None and stored.version == 1 and stored.status == "triggered"
    assert store.list(open_only=True)[0].id == stored.id
    assert store.due(T0.timestamp()) == [stored.id]  # its pages are pending now


def test_resend_writes_nothing(store):
    open_incident(store)
    d = open_incident(store)
    assert not d.changed and store.get(d.incident.id).version == 1
    assert store.redis.zcard(keys.INCIDENTS_ALL) == 1


def test_concurrent_writers_never_lose_an_update(store):
    incident_id = open_incident(store).incident.id
    slow_started = threading.Event()

    def slow(cur, _pipe):
        slow_started.set()
        time.sleep(0.2)  # another writer commits meanwhile: EXEC must fail and we re-run
        return decide(cur, Acknowledge(by="bob", via="api"), POLICY, ROSTER, T0)

    t = threading.Thread(target=store.apply, args=(incident_id, slow))
    t.start()
    slow_started.wait()
    store.apply(incident_id, lambda cur, _p: decide(cur, Acknowledge(by="alice", via="link"), POLICY, ROSTER, T0))
    t.join()
    final = store.get(incident_id)
    assert final.acknowledged_by == "alice" and final.version == 2  # bob's retry saw the ack: no-op
    assert [e.kind for e in final.timeline].count("acknowledged") == 1


def test_send_claim_refused_once_acknowledged(store):
    incident_id = open_incident(store).incident.id
    assert store.claim_send(incident_id, 1, "alice", "sms", "w1") == "ok"
    assert store.claim_send(incident_id, 1, "alice", "sms", "w2") == "claimed:w1"
    store.record_sent(incident_id, 1, "alice", "sms", "SM1")
    assert store.claim_send(incident_id, 1, "alice", "sms", "w2") == "sent:SM1"
    store.apply(incident_id, lambda cur, _p: decide(cur, Acknowledge(by="a", via="api"), POLICY, ROSTER, T0))
    assert store.claim_send(incident_id, 1, "alice", "voice", "w1") == "closed"
    assert store.due(T0.timestamp() + 3600) == []


def test_claim_for_unknown_incident_is_closed(store):
    assert store.claim_send("404", 1, "alice", "sms", "w1") == "closed"


def test_ack_tokens_are_long_bound_and_expire(store):
    token = store.create_ack_token("7", "alice", ttl_seconds=1)
    assert len(token) >= 16  # >= 96 bits of randomness, url-safe
    grant = store.read_ack_token(token)
    assert (grant.incident_id, grant.person) == ("7", "alice")
    assert store.read_ack_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert store.read_ack_token("x" * 500) is None
    time.sleep(1.1)
    assert store.read_ack_token(token) is None


def test_redis_down_raises_and_writes_nothing(store, redis_url):
    dead = Store(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, decode_responses=True))
    with pytest.raises(redis.ConnectionError):
        open_incident(dead)
    assert store.redis.dbsize() == 0


def test_due_time_follows_the_next_escalation(store):
    d = open_incident(store)
    assert d.incident.next_escalation_at == T0 + timedelta(minutes=5)
    assert store.redis.zscore(keys.DUE, d.incident.id) == T0.timestamp()
