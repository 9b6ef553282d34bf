"""URL calendars: polled with ETag (304 keeps the copy), failures keep the last good copy,
a restart with the URL down uses Redis's copy, one process polls per interval and the
others adopt its copy, and the refresher thread polls on its own."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
import redis

from integrations import keys
from integrations.calendars import CalendarBook
from integrations.config.model import load_config
from tests.calendar_env import calendar_server, now_utc, weekly, write_schedule_config

ALICE = weekly("f1", "alice@example.com", "Alice Adams")
CAROL = weekly("f2", "carol@example.com", "Carol Chen")


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    yield c
    c.close()


@pytest.fixture
def server():
    with calendar_server(ALICE) as state:
        yield state


@pytest.fixture
def books(tmp_path, server):
    made: list[CalendarBook] = []

    def make(client, poll="1h", **options) -> CalendarBook:
        options.setdefault("background", False)
        config = load_config(write_schedule_config(tmp_path / f"conf{len(made)}", url=server.url, poll=poll,
                                                   timeout="1s"))
        book = CalendarBook(config, client, **options)
        made.append(book)
        return book

    yield make
    for book in made:
        book.close()


def who(book: CalendarBook, at) -> list[str]:
    rotation = book.rotation("feed")
    return [s.person for s in rotation.oncall("L1", at)] if rotation else []


def test_a_url_is_fetched_then_revalidated_with_its_etag(client, server, books):
    book = books(client)
    now = now_utc()
    book.refresh(now, force=True)
    assert who(book, now) == ["alice"] and book.status["feed"].location.endswith("/…")
    stored = client.hgetall(keys.calendar("feed"))
    assert stored["etag"] == '"v1"' and stored["origin"] == "url" and stored["version"] == "1"
    book.poll("feed", now + timedelta(seconds=1), force=True)
    assert server.requests == [None, '"v1"']  # the second GET was conditional and got 304
    assert who(book, now) == ["alice"] and book.status["feed"].version == 1
    assert book.status["feed"].checked_at == now + timedelta(seconds=1)

    server.body, server.etag = CAROL, '"v2"'
    book.poll("feed", now + timedelta(seconds=2), force=True)
    assert who(book, now) == ["carol"] and book.status["feed"].version == 2


@pytest.mark.parametrize("mode, error", [("error", "HTTP 500"), ("hang", "no answer within 1s"),
                                         ("huge", "over the limit")])
def test_a_failing_url_keeps_the_last_good_copy_and_says_why(client, server, books, mode, error):
    book = books(client)
    now = now_utc()
    book.refresh(now, force=True)
    server.mode, server.etag = mode, None
    book.poll("feed", now + timedelta(seconds=1), force=True)
    status = book.status["feed"]
    assert who(book, now) == ["alice"] and book.loaded() is True
    assert error in status.error and "secret-token" not in status.error
    assert error in client.hget(keys.calendar("feed"), "error")  # visible to every process


def test_a_url_serving_a_broken_calendar_keeps_the_last_good_copy(client, server, books):
    book = books(client)
    now = now_utc()
    book.refresh(now, force=True)
    server.body, server.etag = b"BEGIN:VCALENDAR\r\nnot really", '"broken"'
    book.poll("feed", now + timedelta(seconds=1), force=True)
    assert who(book, now) == ["alice"]
    assert "not a readable iCalendar" in book.status["feed"].error


def test_a_restart_with_the_url_down_uses_the_copy_in_redis(client, server, books):
    now = now_utc()
    books(client).refresh(now, force=True)
    server.mode = "error"
    assert client.delete(keys.calendar_poll("feed")) == 1  # the old process's poll lease ran out
    restarted = books(client)
    restarted.refresh(now + timedelta(minutes=1), force=True)
    assert who(restarted, now) == ["alice"] and restarted.loaded() is True
    assert "HTTP 500" in restarted.status["feed"].error
    assert restarted.status["feed"].loaded_at == now  # when the copy was fetched, not now


def test_one_process_polls_per_interval_and_the_others_adopt_its_copy(client, server, books):
    first, second = books(client), books(client)
    now = now_utc()
    first.refresh(now, force=True)
    second.refresh(now, force=True)  # a copy is in Redis and the poll lease is taken: no fetch
    assert len(server.requests) == 1 and who(second, now) == ["alice"]

    assert client.delete(keys.calendar_poll("feed")) == 1  # the interval passed
    server.body, server.etag = CAROL, '"v2"'
    first.poll("feed", now + timedelta(hours=1, seconds=1))
    second.refresh(now + timedelta(hours=1, seconds=2))  # one MGET: a new version, adopted from Redis
    assert who(second, now) == ["carol"] and len(server.requests) == 2

    assert client.delete(keys.calendar_poll("feed")) == 1
    server.mode = "error"
    first.poll("feed", now + timedelta(hours=2, seconds=1))
    second.poll("feed", now + timedelta(hours=2, seconds=2))  # lease held: reads the shared outcome
    assert "HTTP 500" in second.status["feed"].error and len(server.requests) == 3


def test_the_refresher_thread_polls_a_url_on_its_interval(client, server, books):
    book = books(client, poll="1s", background=True)
    book.refresh(now_utc(), force=True)
    assert who(book, now_utc()) == ["alice"]
    server.body, server.etag = CAROL, '"v2"'
    deadline = time.monotonic() + 8
    while who(book, now_utc()) != ["carol"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert who(book, now_utc()) == ["carol"]
    book.close()
