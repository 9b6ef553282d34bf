import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from integrations import keys
from integrations.due_store import DueIndex
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
                                lambda cur, new_id: decide(cur, firing(new_id or cur.id), POLICY, ROSTER, T0))


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
    slow_started, other_committed = threading.Event(), threading.Event()
    reads: list[int] = []

    def slow(cur):
        reads.append(cur.version)
        slow_started.set()
        other_committed.wait()  # another writer commits meanwhile: the commit is refused and we re-run
        return decide(cur, Acknowledge(by="bob", via="api"), POLICY, ROSTER, T0)

    t = threading.Thread(target=store.apply, args=(incident_id, slow))
    t.start()
    slow_started.wait()
    store.apply(incident_id, lambda cur: decide(cur, Acknowledge(by="alice", via="link"), POLICY, ROSTER, T0))
    other_committed.set()
    t.join()
    final = store.get(incident_id)
    assert reads == [1, 2]  # decided on version 1, refused, decided again on alice's version 2
    assert final.acknowledged_by == "alice" and final.version == 2  # bob's retry saw the ack: no-op
    assert [e.kind for e in final.timeline].count("acknowledged") == 1


def test_send_claim_refused_once_acknowledged(store):
    incident_id = open_incident(store).incident.id
    assert store.claim_send(incident_id, 1, "alice", "sms", "w1") == "ok"
    assert store.claim_send(incident_id, 1, "alice", "sms", "w2") == "claimed:w1"
    store.record_sent(incident_id, 1, "alice", "sms", "SM1")
    assert store.claim_send(incident_id, 1, "alice", "sms", "w2") == "sent:SM1"
    store.apply(incident_id, lambda cur: decide(cur, Acknowledge(by="a", via="api"), POLICY, ROSTER, T0))
    assert store.claim_send(incident_id, 1, "alice", "voice", "w1") == "closed"
    assert store.due(T0.timestamp() + 3600) == []


def test_claim_for_unknown_incident_is_closed(store):
    assert store.claim_send("404", 1, "alice", "sms", "w1") == "closed"


def test_ack_tokens_are_long_bound_and_expire(store):
    token = store.create_ack_token("7", "alice", ttl_seconds=60)
    assert len(token) >= 16  # >= 96 bits of randomness, url-safe
    grant = store.read_ack_token(token)
    assert (grant.incident_id, grant.person) == ("7", "alice")
    assert store.read_ack_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert store.read_ack_token("x" * 500) is None
    assert 55_000 < store.redis.pttl(keys.ack_token(token)) <= 60_000  # Redis drops it after ttl_seconds
    store.redis.pexpire(keys.ack_token(token), 1)  # as if the minute had passed
    deadline = time.monotonic() + 5
    while store.redis.exists(keys.ack_token(token)) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert store.read_ack_token(token) is None


def test_redis_down_raises_and_writes_nothing(store, redis_url):
    dead = Store(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, decode_responses=True,
                             retry=Retry(NoBackoff(), 0)))  # no retries: the first refusal is the answer
    with pytest.raises(redis.ConnectionError):
        open_incident(dead)
    assert store.redis.dbsize() == 0


def test_due_time_follows_the_next_escalation(store):
    d = open_incident(store)
    assert d.incident.next_escalation_at == T0 + timedelta(minutes=5)
    assert store.redis.zscore(keys.DUE, keys.due_incident(d.incident.id)) == T0.timestamp()


def test_a_late_change_to_a_closed_incident_leaves_the_group_with_its_successor(store):
    """A provider callback for an incident that resolved (and whose group fired again
    since) must not point the group back at the old incident: the next re-send would
    then open a third incident and page the on-call a second time."""
    from routing.incident import PageOutcome, Resolve

    first = open_incident(store).incident.id
    store.apply(first, lambda cur: decide(cur, Resolve(by="alice", via="api"), POLICY, ROSTER, T0))
    again = AlertsReceived(new_id="", receiver="herald", group_key="g", severity="P1", title="t",
                           alerts=[AlertState(fingerprint="f", status="firing", starts_at=T0 + timedelta(minutes=9))])

    def refire(cur, new_id):
        cmd = again.model_copy(update={"new_id": new_id})
        return decide(cur, cmd, POLICY, ROSTER, T0 + timedelta(minutes=10))

    second = store.apply_to_group("herald", "g", "default", refire).incident.id
    assert second != first
    late = store.apply(first, lambda cur: decide(cur, PageOutcome(round=1, person="alice", channel="sms",
                                                                       outcome="sent", provider_id="SM9"),
                                                     POLICY, ROSTER, T0 + timedelta(minutes=11)))
    assert late.changed  # the old incident did record the callback
    assert store.redis.get(keys.group("herald", "g", "default")) == second
    resend = store.apply_to_group("herald", "g", "default", refire)
    assert resend.incident.id == second and not resend.changed
    assert store.redis.zcard(keys.INCIDENTS_OPEN) == 1


def test_two_webhooks_opening_the_same_group_make_one_incident(store):
    """Both read "no incident" before either wrote: the second commit is refused because
    the group no longer points where it did, and deciding again finds the first's."""
    first_read = store.read_group("herald", "g", ["default"]).incidents[0]
    second_read = store.read_group("herald", "g", ["default"]).incidents[0]
    assert first_read.current is None and first_read.new_id != second_read.new_id
    one = decide(None, firing(first_read.new_id), POLICY, ROSTER, T0)
    other = decide(None, firing(second_read.new_id), POLICY, ROSTER, T0)
    assert store.commit(one, None, guard=first_read.pointer)
    assert not store.commit(other, None, guard=second_read.pointer)  # refused, nothing written
    assert store.redis.zcard(keys.INCIDENTS_ALL) == 1 and store.get(second_read.new_id) is None
    again = open_incident(store)
    assert again.incident.id == first_read.new_id and not again.changed


def test_commit_counts_and_makes_it_due_only_when_it_writes(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store = Store(client, count=lambda prev, cur: [("opened", 1.0)] if prev is None else [])
    slot = store.read_group("herald", "g", ["default"]).incidents[0]
    opened = decide(None, firing(slot.new_id), POLICY, ROSTER, T0)
    stale = opened.incident.model_copy(deep=True)
    assert store.commit(opened, None, guard=slot.pointer)
    member = keys.due_incident(slot.new_id)  # due now (its page), and the clock loops woken
    assert client.zrange(keys.DUE, 0, -1, withscores=True) == [(member, T0.timestamp())]
    assert client.llen(keys.DUE_WAKE) == 1 and client.hget(keys.METRICS, "opened") == "1"
    ack = decide(stale, Acknowledge(by="bob", via="api"), POLICY, ROSTER, T0)
    stale.version = 0  # decided from a version that is not the stored one
    assert not store.commit(ack, stale)
    assert client.llen(keys.DUE_WAKE) == 1 and client.hget(keys.METRICS, "opened") == "1"
    assert store.get(slot.new_id).status == "triggered"
    index = DueIndex(client)
    assert index.claim(T0.timestamp(), T0.timestamp() + 60)[0] == [(member, T0.timestamp())]
    assert index.claim(T0.timestamp(), T0.timestamp() + 60)[0] == []  # claimed once
    client.close()


def test_read_group_answers_a_resend_from_the_digest_alone(store):
    d = store.apply_to_group("herald", "g", "default", lambda cur, new_id: decide(cur, firing(new_id), POLICY,
                                                                                   ROSTER, T0), digest="d1")
    read = store.read_group("herald", "g", ["default"], digest="d1")
    assert read.same == [(d.incident.id, "triggered")] and read.incidents == []
    store.apply(d.incident.id, lambda cur: decide(cur, Acknowledge(by="bob", via="api"), POLICY, ROSTER, T0))
    assert store.read_group("herald", "g", ["default"], digest="d1").same == [(d.incident.id, "acknowledged")]
    other = store.read_group("herald", "g", ["default"], digest="not-it")
    assert other.same is None and other.incidents[0].current.id == d.incident.id and other.incidents[0].new_id == ""
    assert store.read_group("herald", "g", ["default"], digest="").same is None  # "" never matches


def test_the_group_loop_decides_again_after_a_refused_commit(store):
    """group_writes, the one loop both the store and the webhook's event loop drive: a
    writer that commits between its read and its commit makes it read and decide again."""
    from integrations.store import group_writes
    from integrations.store_scripts import COMMIT, READ_GROUP

    read = store.read_group("herald", "g", ["default"])
    decided = []

    def decide_it(_policy, slot, _versions):
        decided.append(slot.current)
        return decide(slot.current, firing(slot.new_id or slot.current.id), POLICY, ROSTER, T0)

    calls = group_writes("herald", "g", ["default"], read, decide_it, None, digest="d", firing=True, follow=())
    script, keys_, args = next(calls)
    assert script == COMMIT
    winner = open_incident(store)  # another webhook commits first
    reply = store._commit(keys=keys_, args=args)
    assert reply == "conflict"
    script, keys_, args = calls.send(reply)
    assert script == READ_GROUP
    with pytest.raises(StopIteration) as done:
        calls.send(store._read_group(keys=keys_, args=args))
    [decision] = done.value.value
    assert decided == [None, winner.incident] and decision.incident.id == winner.incident.id
    assert not decision.changed and store.redis.zcard(keys.INCIDENTS_ALL) == 1
