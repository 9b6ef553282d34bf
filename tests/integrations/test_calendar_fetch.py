"""Fetching calendars: conditional GETs, size and time limits, and errors that never
show the (secret) URL. A real HTTP server on 127.0.0.1 answers."""
from __future__ import annotations

import pytest

from integrations.calendar_sources import SourceError, fetch_url, read_file, redact_url
from tests.calendar_env import calendar_server, weekly

BODY = weekly("p1", "alice@example.com", "Alice Adams")


def test_first_fetch_returns_the_body_and_its_validators():
    with calendar_server(BODY) as server:
        fetched = fetch_url(server.url, etag=None, last_modified=None, timeout=2, max_bytes=65536)
    assert fetched.data == BODY and fetched.etag == '"v1"'
    assert server.requests == [None]


def test_a_matching_etag_gets_304_and_no_body():
    with calendar_server(BODY) as server:
        fetched = fetch_url(server.url, etag='"v1"', last_modified=None, timeout=2, max_bytes=65536)
        assert fetched.data is None and fetched.etag == '"v1"'
        server.etag = '"v2"'  # the calendar changed: the old validator gets the new body
        changed = fetch_url(server.url, etag='"v1"', last_modified=None, timeout=2, max_bytes=65536)
    assert changed.data == BODY and changed.etag == '"v2"'
    assert server.requests == ['"v1"', '"v1"']


@pytest.mark.parametrize("mode, message", [("error", "HTTP 500"), ("huge", "over the limit of 65536 bytes")])
def test_server_errors_and_oversized_bodies_are_source_errors_without_the_url(mode, message):
    with calendar_server(BODY) as server:
        server.mode = mode
        with pytest.raises(SourceError) as caught:
            fetch_url(server.url, etag=None, last_modified=None, timeout=2, max_bytes=65536)
    assert message in str(caught.value)
    assert "secret-token" not in str(caught.value) and "127.0.0.1" not in str(caught.value)


def test_a_server_that_does_not_answer_times_out_on_time():
    with calendar_server(BODY) as server:
        server.mode = "hang"
        with pytest.raises(SourceError, match="no answer within 0.5s"):
            fetch_url(server.url, etag=None, last_modified=None, timeout=0.5, max_bytes=65536)
        assert server.requests == [None] and not server.hang_over.is_set()  # gave up while the server hung


def test_a_refused_connection_is_a_source_error():
    with calendar_server(BODY) as server:
        url = server.url
    with pytest.raises(SourceError, match="fetch failed") as caught:
        fetch_url(url, etag=None, last_modified=None, timeout=1, max_bytes=65536)
    assert "secret-token" not in str(caught.value)


def test_redacted_urls_keep_the_host_and_drop_the_secret_path():
    assert redact_url("https://calendar.google.com/calendar/ical/x%40y/private-abc123/basic.ics") == \
        "https://calendar.google.com/…"
    assert redact_url("http://127.0.0.1:8080/secret") == "http://127.0.0.1:8080/…"


def test_read_file_limits_the_size_and_names_missing_files(tmp_path):
    path = tmp_path / "oncall.ics"
    path.write_bytes(BODY)
    assert read_file(path, len(BODY)) == BODY
    with pytest.raises(SourceError, match="over 100 bytes"):
        read_file(path, 100)
    with pytest.raises(SourceError, match="cannot read .*missing.ics"):
        read_file(tmp_path / "missing.ics", 100)


def test_a_declared_length_over_the_limit_is_refused_before_reading():
    with calendar_server(b"X" * 70_000) as server:
        with pytest.raises(SourceError, match="is 70000 bytes, over the limit of 65536"):
            fetch_url(server.url, etag=None, last_modified=None, timeout=2, max_bytes=65536)
