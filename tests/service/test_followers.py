"""Followers (integrations/followers.py, service/engine/followers.py): every change of an
incident, from every path, reaches each sink in order, at least once, through the due
index; a slow or failing sink delays neither a page nor another sink."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta

from rq import SimpleWorker

from integrations import keys
from integrations.followers import DONE, Step
from routing.incident import Acknowledge, Incident, TimelineEntry
from service.engine import followers, retention
from service.worker import due, jobs
from tests.herald_env import AM_TOKEN, fixture_payload, open_group


class Recorder:
    """A sink that keeps what it was handed: (incident, index, kind)."""

    def __init__(self, name: str = "test:record") -> None:
        self.name = name
        self.seen: list[tuple[str, int, str]] = []

    def handle(self, incident: Incident, index: int, entry: TimelineEntry, now: datetime) -> Step:
        self.seen.append((incident.id, index, entry.kind))
        return DONE


class Refusing(Recorder):
    """Not done with anything until ``accept`` is set; asks to be retried in a minute."""

    def __init__(self, name: str = "test:refusing") -> None:
        super().__init__(name)
        self.accept = False

    def handle(self, incident: Incident, index: int, entry: TimelineEntry, now: datetime) -> Step:
        self.seen.append((incident.id, index, entry.kind))
        return DONE if self.accept else Step(False, now + timedelta(minutes=1))


class Blocking(Recorder):
    """Hangs on its first entry until released (a dead endpoint with a long timeout)."""

    def __init__(self, name: str = "test:blocking") -> None:
        super().__init__(name)
        self.started, self.release = threading.Event(), threading.Event()

    def handle(self, incident: Incident, index: int, entry: TimelineEntry, now: datetime) -> Step:
        self.started.set()
        self.release.wait()
        return super().handle(incident, index, entry, now)


def timeline_of(herald, incident_id: str) -> list[tuple[str, int, str]]:
    return [(incident_id, i, e.kind) for i, e in enumerate(herald.store.get(incident_id).timeline)]


def test_every_path_reaches_the_sink_in_order(client, herald, monkeypatch):
    sink = Recorder()
    herald.add_follower(sink)
    incident_id = open_group(client, "follow-all")  # the webhook: triggered, paging
    assert herald.store.redis.zscore(keys.DUE, keys.due_follow(sink.name, incident_id)) is not None
    due.run_now(herald)  # the page outcome ("page"), and the follower's entries
    assert sink.seen == timeline_of(herald, incident_id)
    kinds = [k for _, _, k in sink.seen]
    assert kinds[:2] == ["triggered", "paging"] and "page" in kinds
    escalation = herald.store.get(incident_id).next_escalation_at
    monkeypatch.setattr(herald, "clock", lambda: escalation + timedelta(seconds=1))
    due.run_now(herald)  # the escalation to L2, and its page
    herald.act(incident_id, Acknowledge(by="bob", via="api"))  # Herald.act
    resolved = fixture_payload("resolved.json")
    resolved["groupKey"] = "follow-all"
    r = client.post("/api/v1/alertmanager", content=json.dumps(resolved),
                    headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert r.status_code == 200, r.text
    due.run_now(herald)
    kinds = [k for _, _, k in sink.seen]
    assert sink.seen == timeline_of(herald, incident_id)  # each entry once, in order, none missing
    assert kinds.index("escalated") < kinds.index("acknowledged") < kinds.index("resolved")
    assert herald.follow.cursor(sink.name, incident_id) == len(sink.seen)
    assert due.run_now(herald) == 0 and len(sink.seen) == len(timeline_of(herald, incident_id))  # nothing twice


def test_a_sink_configured_later_is_handed_only_what_changed_after(client, herald):
    incident_id = open_group(client, "follow-late")
    due.run_now(herald)
    before = len(herald.store.get(incident_id).timeline)
    sink = Recorder()
    herald.add_follower(sink)
    assert followers.missing_entries(herald, set(), herald.clock()) == []  # no cursor: owed nothing past
    herald.act(incident_id, Acknowledge(by="alice", via="api"))
    due.run_now(herald)
    assert sink.seen == timeline_of(herald, incident_id)[before:]
    assert [k for _, _, k in sink.seen] == ["acknowledged"]


def test_a_crash_between_delivery_and_cursor_hands_the_entry_again(client, herald, monkeypatch):
    sink = Recorder()
    herald.add_follower(sink)
    incident_id = open_group(client, "follow-crash")
    member = keys.due_follow(sink.name, incident_id)
    now = herald.clock().timestamp() + 1
    claimed, _ = herald.due.claim(now, now + due.lease_seconds(herald))
    assert member in [m for m, _ in claimed]

    def die(*_args):  # the worker dies after the sink did its work, before the cursor moved
        raise SystemExit("killed")

    monkeypatch.setattr(herald.follow, "advance", die)
    try:
        followers.run_follow(herald, sink.name, incident_id)
    except SystemExit:
        pass
    monkeypatch.undo()
    assert sink.seen == [(incident_id, 0, "triggered")]
    assert herald.follow.cursor(sink.name, incident_id) == 0
    later = herald.clock() + timedelta(seconds=due.lease_seconds(herald) + 5)
    monkeypatch.setattr(herald, "clock", lambda: later)
    assert due.repair(herald) >= 1  # its claim ran out: offered again
    due.run_now(herald)
    assert sink.seen[0] == sink.seen[1] == (incident_id, 0, "triggered")  # at least once: again
    assert sink.seen[1:] == timeline_of(herald, incident_id)


def test_a_sink_that_is_not_done_keeps_its_place_and_order(client, herald, monkeypatch):
    refusing, other = Refusing(), Recorder("test:other")
    herald.add_follower(refusing)
    herald.add_follower(other)
    incident_id = open_group(client, "follow-refused")
    due.run_now(herald)
    assert refusing.seen == [(incident_id, 0, "triggered")]  # stopped at its first entry, the rest wait
    assert herald.follow.cursor(refusing.name, incident_id) == 0
    assert other.seen == timeline_of(herald, incident_id)  # the other sink went on
    retry_at = herald.store.redis.zscore(keys.DUE, keys.due_follow(refusing.name, incident_id))
    assert retry_at >= (herald.clock() + timedelta(seconds=59)).timestamp()  # re-armed as it asked
    refusing.accept = True
    later = herald.clock() + timedelta(minutes=2)
    monkeypatch.setattr(herald, "clock", lambda: later)
    due.run_now(herald)
    assert refusing.seen[1:] == timeline_of(herald, incident_id)  # then all of it, in order


def test_a_sink_that_raises_is_retried_later(client, herald, monkeypatch):
    class Raising(Recorder):
        def handle(self, incident, index, entry, now):
            super().handle(incident, index, entry, now)
            raise RuntimeError("endpoint exploded")

    sink = Raising("test:raising")
    herald.add_follower(sink)
    incident_id = open_group(client, "follow-raise")
    due.run_now(herald)
    assert len(sink.seen) == 1 and herald.follow.cursor(sink.name, incident_id) == 0
    at = herald.store.redis.zscore(keys.DUE, keys.due_follow(sink.name, incident_id))
    assert at >= (herald.clock() + followers.FAILED_RETRY - timedelta(seconds=1)).timestamp()


def test_a_blocked_sink_delays_no_page_and_no_other_sink(client, herald, monkeypatch):
    """Through RQ as the worker runs it: the follower's job hands its entry to the sink's
    own threads and returns; the page's job runs while the sink still hangs."""
    blocked, other = Blocking(), Recorder("test:other")
    herald.add_follower(blocked)
    herald.add_follower(other)
    jobs.set_context(herald)
    monkeypatch.setattr(jobs, "_herald", herald)
    try:
        incident_id = open_group(client, "follow-blocked")
        due.hand_out_now(herald)
        SimpleWorker([herald.queue], connection=herald.queue.connection).work(burst=True)
        assert blocked.started.wait(60)  # (a bound on a wait for a thread to start, not a timing claim)
        incident = herald.store.get(incident_id)
        assert any(e.kind == "page" for e in incident.timeline)  # the page went out...
        assert not blocked.release.is_set() and blocked.seen == []  # ...while the sink still hangs
        due.hand_out_now(herald)  # the page's own commit woke the followers again
        SimpleWorker([herald.queue], connection=herald.queue.connection).work(burst=True)
        for _ in range(3000):
            if other.seen == timeline_of(herald, incident_id):
                break
            threading.Event().wait(0.01)
        assert other.seen == timeline_of(herald, incident_id)  # the other sink went on meanwhile
        assert blocked.seen == []
    finally:
        blocked.release.set()


def test_repair_recreates_a_lost_entry(client, herald, monkeypatch):
    sink = Recorder()
    herald.add_follower(sink)
    incident_id = open_group(client, "follow-lost")
    member = keys.due_follow(sink.name, incident_id)
    herald.store.redis.zrem(keys.DUE, member)  # lost (a restore from an older copy, a hand edit)
    assert due.repair(herald) >= 1
    assert herald.store.redis.zscore(keys.DUE, member) is not None
    due.run_now(herald)
    assert sink.seen == timeline_of(herald, incident_id)
    herald.store.redis.zrem(keys.DUE, member)
    due.repair(herald)
    assert herald.store.redis.zscore(keys.DUE, member) is None  # caught up: nothing to re-create


def test_a_removed_sink_or_incident_ends_its_entries(client, herald):
    sink = Recorder()
    herald.add_follower(sink)
    incident_id = open_group(client, "follow-gone")
    herald.followers.clear()
    herald.store.followers = ()
    assert due.run_now(herald) >= 0
    assert sink.seen == [] and herald.store.redis.zscore(keys.DUE, keys.due_follow(sink.name, incident_id)) is None
    assert followers.run_follow(herald, "test:record", "no-such-incident") == 0


def test_the_retention_purge_removes_the_cursors(client, herald):
    sink = Recorder()
    herald.add_follower(sink)
    incident_id = open_group(client, "follow-purge")
    herald.act(incident_id, Acknowledge(by="alice", via="api"))
    from routing.incident import Resolve

    herald.act(incident_id, Resolve(by="alice", via="api"))
    due.run_now(herald)
    assert herald.store.redis.exists(keys.follow_cursor(incident_id))
    later = herald.clock() + timedelta(days=herald.settings.retention_days + 1)
    assert retention.purge_incident(herald, herald.store.get(incident_id), later) == "purged"
    assert not herald.store.redis.exists(keys.follow_cursor(incident_id))
