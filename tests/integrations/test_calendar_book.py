"""CalendarBook with files and a real Redis: changes picked up without a restart, the
last good copy kept (and surviving a restart), uploads reaching every process."""
from __future__ import annotations

import os
import signal
from datetime import timedelta

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from integrations import keys
from integrations.calendar_sandbox import ParseTimeout
from integrations.calendars import CalendarBook, UploadRefused
from schedules.calendar import CalendarError
from integrations.config.model import load_config
from tests.calendar_env import calendar, event, now_utc, record_children, weekly, write_schedule_config


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    yield c
    c.close()


@pytest.fixture
def config(tmp_path):
    return load_config(write_schedule_config(tmp_path / "conf"))


@pytest.fixture
def books():
    made: list[CalendarBook] = []

    def make(config, client=None, **options) -> CalendarBook:
        options.setdefault("background", False)
        book = CalendarBook(config, client, **options)
        made.append(book)
        return book

    yield make
    for book in made:
        book.close()


def who(book: CalendarBook, schedule: str, tier: str, at) -> list[str]:
    rotation = book.rotation(schedule)
    return [s.person for s in rotation.oncall(tier, at)] if rotation else []


def touch(path, data: bytes) -> None:
    """Write and move the mtime forward, so the change is seen even within one second."""
    before = path.stat().st_mtime
    path.write_bytes(data)
    os.utime(path, (before + 10, before + 10))


def test_a_changed_file_is_picked_up_without_a_restart(config, client, books):
    book = books(config, client, check_every=timedelta(seconds=5))
    now = now_utc()
    book.refresh(now, force=True)
    assert who(book, "primary", "L1", now) == ["alice"] and book.loaded() is True
    touch(config.path.parent / "primary.ics", weekly("p2", "carol@example.com", "Carol Chen"))
    book.refresh(now + timedelta(seconds=1))  # checked less than check_every ago: not yet
    assert who(book, "primary", "L1", now) == ["alice"]
    book.refresh(now + timedelta(seconds=6))
    assert who(book, "primary", "L1", now) == ["carol"]
    assert book.status["primary"].error is None and book.status["primary"].shifts > 50


def test_a_good_file_is_not_copied_to_redis(config, client, books):
    books(config, client).refresh(now_utc(), force=True)
    assert client.exists(keys.calendar("primary")) == 0


def test_a_broken_file_keeps_the_last_good_copy_and_a_restart_uses_it(config, client, books):
    now = now_utc()
    book = books(config, client)
    book.refresh(now, force=True)
    touch(config.path.parent / "primary.ics", b"BEGIN:VCALENDAR\r\nthis is not a calendar")
    book.refresh(now + timedelta(seconds=10))
    status = book.status["primary"]
    assert who(book, "primary", "L1", now) == ["alice"]
    assert status.error and "not a readable iCalendar" in status.error and status.error_at is not None
    assert client.hget(keys.calendar("primary"), "origin") == "file"  # kept for a restart

    restarted = books(config, client)  # the file is still broken
    restarted.refresh(now + timedelta(seconds=20), force=True)
    assert who(restarted, "primary", "L1", now) == ["alice"]
    assert "not a readable iCalendar" in (restarted.status["primary"].error or "")
    assert restarted.loaded() is True

    touch(config.path.parent / "primary.ics", weekly("p3", "erin@example.com", "Erin Engel"))
    restarted.refresh(now + timedelta(seconds=30))
    assert who(restarted, "primary", "L1", now) == ["erin"] and restarted.status["primary"].error is None


def test_a_broken_file_without_any_good_copy_leaves_the_schedule_unloaded(config, client, books):
    (config.path.parent / "backup.ics").write_bytes(b"garbage")
    book = books(config, client)
    book.refresh(now_utc(), force=True)
    assert book.rotation("backup") is None and book.loaded() is False
    assert book.status["backup"].error


def test_an_upload_reaches_every_other_process_through_one_version_key(config, client, books):
    api, worker = books(config, client), books(config, client)
    now = now_utc()
    api.refresh(now, force=True)
    worker.refresh(now, force=True)
    assert worker.rotation("team") is None and worker.loaded() is True  # awaiting its first upload
    assert worker.status["team"].note == "no calendar uploaded yet"
    data = calendar(event("t1", "dave@example.com", now - timedelta(days=1), now + timedelta(days=1)),
                    event("t2", "carol@example.com", now - timedelta(days=1), now + timedelta(days=1), "[L2] backup"))
    api.accept_upload("team", data, now)
    assert who(api, "team", "L1", now) == ["dave"]
    worker.refresh(now + timedelta(milliseconds=10))  # well inside check_every: only the version check
    assert who(worker, "team", "L1", now) == ["dave"] and who(worker, "team", "L2", now) == ["carol"]
    assert worker.status["team"].version == api.status["team"].version == 1


def test_a_broken_upload_is_refused_and_the_copy_in_force_stays_everywhere(config, client, books):
    api, other = books(config, client), books(config, client)
    now = now_utc()
    api.refresh(now, force=True)
    good = calendar(event("t1", "dave@example.com", now - timedelta(days=1), now + timedelta(days=1)))
    api.accept_upload("team", good, now)
    with pytest.raises(CalendarError, match="not a readable iCalendar"):
        api.accept_upload("team", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:nonsense", now)
    other.refresh(now, force=True)
    other.shared_status("team")
    for book in (api, other):
        assert who(book, "team", "L1", now) == ["dave"]
        assert book.status["team"].error.startswith("upload rejected: not a readable iCalendar")
    api.accept_upload("team", good.replace(b"dave@", b"erin@"), now + timedelta(seconds=1))
    assert api.status["team"].error is None and who(api, "team", "L1", now) == ["erin"]


def test_uploads_go_only_to_upload_schedules(config, client, books):
    book = books(config, client)
    book.refresh(now_utc(), force=True)
    with pytest.raises(UploadRefused, match="source: upload"):
        book.accept_upload("primary", weekly("x", "dave@example.com", "Dave"), now_utc())


def test_a_calendar_that_takes_too_long_to_parse_is_refused_in_time(config, client, books, monkeypatch):
    book = books(config, client, parse_time_limit=0.5)
    now = now_utc()
    book.refresh(now, force=True)
    never = "\r\n".join(
        f"BEGIN:VEVENT\r\nUID:n{i}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T080000Z\r\n"
        f"DTEND:20260106T080000Z\r\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30\r\nSUMMARY:alice\r\nEND:VEVENT"
        for i in range(12))
    children = record_children(monkeypatch)
    with pytest.raises(ParseTimeout, match="took over 0.5s"):
        book.accept_upload("team", calendar(never), now)
    assert [c.returncode for c in children] == [-signal.SIGKILL]  # the parser was stopped, not waited for
    assert book.rotation("team") is None and client.hget(keys.calendar("team"), "data") is None


def test_redis_down_leaves_file_schedules_working(config, books):
    dead = redis.Redis(host="127.0.0.1", port=1, decode_responses=True, socket_connect_timeout=0.2,
                       retry=Retry(NoBackoff(), 0))
    book = books(config, dead)
    now = now_utc()
    book.refresh(now, force=True)
    assert who(book, "primary", "L1", now) == ["alice"]
    assert "Redis unreachable" in (book.status["team"].error or "")
    policy = config.policies["default"]
    assert book.roster(policy, now)["L1"] == ("alice",)


def test_a_new_window_re_expands_from_memory_without_reading_the_source(config, client, books):
    book = books(config, client)
    now = now_utc()
    book.refresh(now, force=True)
    (config.path.parent / "primary.ics").unlink()  # the source is gone; the copy in memory stays
    later = now + timedelta(days=300)
    book.refresh(later)
    assert book.window()[0] == later - timedelta(days=30)
    assert who(book, "primary", "L1", later + timedelta(days=200)) == ["alice"]


def test_an_older_copy_kept_for_restarts_is_replaced_when_the_file_is_good_again(config, client, books):
    now = now_utc()
    first = books(config, client)
    first.refresh(now, force=True)
    path = config.path.parent / "primary.ics"
    touch(path, b"broken")
    first.refresh(now + timedelta(seconds=10))  # alice's copy is kept in Redis
    touch(path, weekly("p4", "carol@example.com", "Carol Chen"))  # fixed while nobody runs
    second = books(config, client)
    second.refresh(now + timedelta(seconds=20), force=True)  # reads carol's file: Redis gets it too
    touch(path, b"broken again")
    third = books(config, client)
    third.refresh(now + timedelta(seconds=30), force=True)
    assert who(third, "primary", "L1", now) == ["carol"]
