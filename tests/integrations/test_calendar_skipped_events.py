"""A calendar with one unusable event, from every source (file, URL, upload): the rest of
it is in force, the event is reported in the schedule's status and by ``herald schedules
lint`` (exit 1), and the gap it leaves is reported like any gap. A calendar with no
usable event is refused and the last good copy stays."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import redis

from integrations.calendars import CalendarBook
from schedules.calendar import CalendarError
from service.cli.main import main
from integrations.config.model import load_config
from tests.calendar_env import calendar, calendar_server, event, now_utc, stamp, write_schedule_config

SKIPPED = "bob-1 'On call Bob Brown': VEVENT without DTSTART"


def no_dtstart(now: datetime) -> str:
    """Bob's shift from now + 2 days, written without its DTSTART."""
    return "\r\n".join(["BEGIN:VEVENT", "UID:bob-1", f"DTSTAMP:{stamp(now)}", f"DTEND:{stamp(now + timedelta(days=3))}",
                        "SUMMARY:On call Bob Brown", "ATTENDEE:mailto:bob@example.com", "END:VEVENT"])


def with_bad_event(now: datetime) -> bytes:
    """alice until now + 2 days and from now + 3 days; bob's day between them is unusable."""
    return calendar(event("a1", "alice@example.com", now - timedelta(days=1), now + timedelta(days=2)),
                    no_dtstart(now),
                    event("a2", "alice@example.com", now + timedelta(days=3), now + timedelta(days=60)))


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    yield c
    c.close()


@pytest.fixture
def books():
    made: list[CalendarBook] = []

    def make(config, client=None) -> CalendarBook:
        made.append(CalendarBook(config, client, background=False))
        return made[-1]

    yield make
    for book in made:
        book.close()


def oncall(book: CalendarBook, schedule: str, at: datetime) -> list[str]:
    rotation = book.rotation(schedule)
    return [s.person for s in rotation.oncall("L1", at)] if rotation else []


def reported(book: CalendarBook, schedule: str) -> list[str]:
    return [p.message for p in book.status[schedule].problems if p.kind == "skipped_event"]


def test_a_file_with_an_unusable_event_keeps_the_rest_and_reports_it(tmp_path, books):
    now = now_utc().replace(microsecond=0)
    path = write_schedule_config(tmp_path / "conf")
    (path.parent / "primary.ics").write_bytes(with_bad_event(now))
    book = books(load_config(path))
    book.refresh(now, force=True)
    assert book.status["primary"].error is None and book.status["primary"].shifts == 2
    assert oncall(book, "primary", now) == ["alice"] and oncall(book, "primary", now + timedelta(days=4)) == ["alice"]
    assert reported(book, "primary") == [SKIPPED]
    lint = book.lint("primary", now, now + timedelta(days=30))
    assert [p.kind for p in lint] == ["skipped_event", "gap"]
    assert (lint[1].start, lint[1].end) == (now + timedelta(days=2), now + timedelta(days=3))


def test_a_url_with_an_unusable_event_keeps_the_rest_and_reports_it(tmp_path, client, books):
    now = now_utc().replace(microsecond=0)
    with calendar_server(with_bad_event(now)) as server:
        config = load_config(write_schedule_config(tmp_path / "conf", url=server.url, timeout="2s"))
        book = books(config, client)
        book.refresh(now, force=True)  # polls the URL: parsed in the sandbox
    assert book.status["feed"].error is None and oncall(book, "feed", now) == ["alice"]
    [problem] = [p for p in book.status["feed"].problems if p.kind == "skipped_event"]
    assert (problem.message, problem.tier, problem.start) == (SKIPPED, "L1", None)


def test_an_upload_with_an_unusable_event_is_in_force_everywhere_with_its_report(tmp_path, client, books):
    now = now_utc().replace(microsecond=0)
    config = load_config(write_schedule_config(tmp_path / "conf"))
    api, worker = books(config, client), books(config, client)
    api.refresh(now, force=True)
    api.accept_upload("team", with_bad_event(now).replace(b"alice@", b"dave@"), now)
    worker.refresh(now, force=True)  # adopts the copy from Redis
    for book in (api, worker):
        assert oncall(book, "team", now) == ["dave"] and reported(book, "team") == [SKIPPED]


def test_a_calendar_with_no_usable_event_is_refused_and_the_last_good_copy_stays(tmp_path, client, books):
    now = now_utc().replace(microsecond=0)
    path = write_schedule_config(tmp_path / "conf")
    book = books(load_config(path), client)
    book.refresh(now, force=True)
    only_bad = calendar(no_dtstart(now))
    with pytest.raises(CalendarError, match=f"no usable event: {SKIPPED}"):
        book.accept_upload("team", only_bad, now)
    primary = path.parent / "primary.ics"
    primary.write_bytes(only_bad)
    book.refresh(now + timedelta(seconds=10), force=True)
    assert book.status["primary"].error == f"no usable event: {SKIPPED}"
    assert oncall(book, "primary", now) == ["alice"]  # the last good copy


def test_lint_reports_the_skipped_event_and_its_gap_and_fails(tmp_path, capsys):
    now = now_utc().replace(microsecond=0)
    path = write_schedule_config(tmp_path / "conf")
    published = tmp_path / "published.ics"
    published.write_bytes(with_bad_event(now))
    code = main(["schedules", "lint", "--config", str(path), "--schedule", "primary", "--file",
                 f"primary={published}", "--offline"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[0] == "primary (file, 2 shifts, next 30 days): 2 problems"
    assert out[1] == f"  skipped_event L1: {SKIPPED}"
    assert out[2].startswith("  gap L1: nobody on call for L1 from ")
