"""Handoffs in Redis, layered into every process's rotation through the version key."""
from __future__ import annotations

from datetime import timedelta

import pytest
import redis

from integrations import keys
from integrations.calendars import CalendarBook
from integrations.handoff_store import HandoffStore, StoredHandoff
from integrations.config.model import load_config
from tests.calendar_env import now_utc, write_schedule_config


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    yield c
    c.close()


@pytest.fixture
def config(tmp_path):
    return load_config(write_schedule_config(tmp_path))


def handoff(to: str, start, end, from_person: str | None = None, tier: str = "L2") -> StoredHandoff:
    return StoredHandoff(id="", schedule="backup", tier=tier, to=to, start=start, end=end,
                         from_person=from_person, note="pager is yours", created_at=start, created_by="api")


def test_the_store_keeps_handoffs_in_creation_order_and_round_trips_them(client):
    store = HandoffStore(client)
    now = now_utc().replace(microsecond=0)
    first = store.create(handoff("erin", now, now + timedelta(hours=2), "bob"))
    second = store.create(handoff("dave", now, now + timedelta(hours=1)))
    assert (first.id, second.id) == ("h1", "h2")
    assert store.get("h1") == first and [h.id for h in store.all()] == ["h1", "h2"]
    assert first.as_handoff().from_person == "bob" and first.as_handoff().note == "pager is yours"
    assert store.cancel("h1") == first and store.cancel("h1") is None and store.get("h1") is None
    assert client.get(keys.HANDOFFS_VERSION) == "3"  # two creates and one cancel


def test_prune_forgets_only_handoffs_that_ended_before_the_cut(client):
    store = HandoffStore(client)
    now = now_utc()
    store.create(handoff("erin", now - timedelta(days=40), now - timedelta(days=39)))
    kept = store.create(handoff("dave", now - timedelta(days=1), now + timedelta(days=1)))
    assert store.prune(now - timedelta(days=30)) == 1
    assert [h.id for h in store.all()] == [kept.id]


def test_a_handoff_reaches_another_process_at_its_next_lookup_and_cancelling_undoes_it(config, client):
    api, worker = CalendarBook(config, client, background=False), CalendarBook(config, client, background=False)
    now = now_utc()
    for book in (api, worker):
        book.refresh(now, force=True)
    policy = config.policies["default"]
    assert worker.roster(policy, now)["L2"] == ("bob",)

    created = HandoffStore(client).create(handoff("erin", now - timedelta(minutes=1), now + timedelta(hours=1)))
    roster = worker.roster(policy, now + timedelta(milliseconds=1))  # inside check_every: the version check
    assert roster["L2"] == ("erin",) and roster["L1"] == ("alice",)
    [shift] = worker.rotation("backup").oncall("L2", now)
    assert (shift.source, shift.uid, shift.note) == ("handoff", created.id, "pager is yours")
    assert worker.roster(policy, now + timedelta(hours=2))["L2"] == ("bob",)  # after its end

    HandoffStore(client).cancel(created.id)
    assert worker.roster(policy, now + timedelta(milliseconds=2))["L2"] == ("bob",)
    assert worker.handoffs("backup") == ()


def test_a_handoff_from_someone_off_call_changes_nothing(config, client):
    book = CalendarBook(config, client, background=False)
    now = now_utc()
    book.refresh(now, force=True)
    HandoffStore(client).create(handoff("erin", now, now + timedelta(hours=1), from_person="alice"))
    assert book.roster(config.policies["default"], now + timedelta(minutes=1))["L2"] == ("bob",)
    assert len(book.handoffs("backup")) == 1


def test_handoffs_for_schedules_not_in_the_config_are_ignored(config, client):
    book = CalendarBook(config, client, background=False)
    now = now_utc()
    HandoffStore(client).create(StoredHandoff(id="", schedule="gone", tier="L1", to="erin", start=now,
                                              end=now + timedelta(hours=1)))
    book.refresh(now, force=True)
    assert book.roster(config.policies["default"], now)["L1"] == ("alice",)


def test_catch_up_adopts_a_handoff_on_the_books_own_thread_for_a_waiting_event_loop(config, client):
    """What the webhook's event loop awaits when Redis named versions the book has not
    adopted: the refresh runs on the book's catch-up thread, never on the caller's."""
    import threading

    api, other = CalendarBook(config, client), CalendarBook(config, client, background=False)
    try:
        now = now_utc()
        api.refresh(now, force=True)
        other.refresh(now, force=True)
        HandoffStore(client).create(handoff("erin", now - timedelta(minutes=1), now + timedelta(hours=1)))
        versions = tuple(client.mget(keys.CALENDARS_VERSION, keys.HANDOFFS_VERSION))
        assert not api.is_current(versions, now)
        threads = []
        real = api.refresh
        api.refresh = lambda at, force=False: (threads.append(threading.current_thread().name), real(at, force))[1]
        first, second = api.catch_up(now), api.catch_up(now)
        first.result(timeout=30)
        second.result(timeout=30)
        assert threads and all(name.startswith("herald-calendars-catch-up") for name in threads)
        assert api.roster_at(config.policies["default"], now)["L2"] == ("erin",)
    finally:
        api.close()


def test_catch_up_of_a_book_without_background_work_refreshes_in_place(config, client):
    book = CalendarBook(config, client, background=False)
    now = now_utc()
    book.refresh(now, force=True)
    HandoffStore(client).create(handoff("erin", now - timedelta(minutes=1), now + timedelta(hours=1)))
    done = book.catch_up(now)
    assert done.done() and done.result() is None
    assert book.roster_at(config.policies["default"], now)["L2"] == ("erin",)


def test_catch_up_reports_a_failed_refresh_through_its_future(config, client):
    book = CalendarBook(config, client)
    try:
        def broken(at, force=False):
            raise RuntimeError("disk gone")
        book.refresh = broken
        with pytest.raises(RuntimeError, match="disk gone"):
            book.catch_up(now_utc()).result(timeout=30)
    finally:
        book.close()
