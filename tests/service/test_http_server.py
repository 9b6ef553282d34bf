"""The API's HTTP server against slow and greedy clients (service/api/server.py, its tally
in service/api/refusals.py, the slow-body guard in service/api/guards.py): Herald's own
app served by uvicorn exactly as ``herald serve`` configures it (``uvicorn_options``), on a
loopback port in this process, driven with raw sockets. Time appears only as lower bounds ("never early"); every wait
has a generous bound that fails the test saying what never happened."""
from __future__ import annotations

import asyncio
import http.client
import json
import logging
import resource
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
import uvicorn

from service.telemetry import metrics
from service.app import create_app
from service.api.refusals import Refusals, client_key
from service.api.server import ACCEPT_OUT_OF_FILES, ConnectionGuard, connection_limit, uvicorn_options
from service.settings import Settings
from tests.herald_env import AM_TOKEN, env_for, fixture_payload, write_config
from tests.processes import wait_for

PARTIAL_HEAD = b"POST /api/v1/alertmanager HTTP/1.1\r\nHost: herald\r\n"


@dataclass
class Served:
    port: int
    refusals: Refusals
    socks: list[socket.socket] = field(default_factory=list)

    def connect(self, source: str = "127.0.0.1") -> socket.socket:
        """A connection from ``source`` (any 127.0.0.0/8 address is this machine)."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=15, source_address=(source, 0))
        self.socks.append(sock)
        return sock

    def get(self, path: str = "/healthz", source: str = "127.0.0.1", sock: socket.socket | None = None
            ) -> tuple[int, bytes]:
        sock = sock or self.connect(source)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: herald\r\n\r\n".encode())
        return read_response(sock)


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, response.read()


def response_with_headers(sock: socket.socket) -> http.client.HTTPResponse:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response


def closed_by_server(sock: socket.socket, timeout: float = 30) -> float:
    """Wait until the server closes ``sock`` without answering; when it did (monotonic)."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(65536)
    except ConnectionResetError:
        data = b""
    assert data == b"", f"the server answered instead of closing: {data[:200]!r}"
    return time.monotonic()


def still_open(sock: socket.socket, within: float = 0.3) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) != b""
    except TimeoutError:
        return True
    except ConnectionResetError:
        return False


def refused(reason: str) -> float:
    return metrics.REGISTRY.get_sample_value("herald_http_refused_total", {"reason": reason}) or 0.0


@pytest.fixture
def make_settings(tmp_path, redis_url, monkeypatch):
    def make(**http: str) -> Settings:
        env = env_for(write_config(tmp_path / "conf"), redis_url, "https://herald.test")
        for key, value in {**env, **{f"HERALD_HTTP_{k.upper()}": v for k, v in http.items()}}.items():
            monkeypatch.setenv(key, value)
        return Settings()

    return make


@contextmanager
def served(settings: Settings) -> Iterator[Served]:
    """Herald's app under uvicorn with ``herald serve``'s options, in a thread."""
    refusals = Refusals()
    options = uvicorn_options(settings, refusals)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_config=None, log_level="warning",
                                           proxy_headers=False, timeout_graceful_shutdown=2, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), 30, "the server to start")
        assert server.started, "the server did not start"
        srv = Served(sock.getsockname()[1], refusals)
        yield srv
    finally:
        for client in srv.socks if "srv" in locals() else ():
            client.close()
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def slow_body(served: Served, sent: bytes, length: int, source: str = "127.0.0.1") -> socket.socket:
    """A webhook whose head is complete and whose body stops after ``sent``."""
    sock = served.connect(source)
    sock.sendall(f"POST /api/v1/alertmanager HTTP/1.1\r\nHost: herald\r\nAuthorization: Bearer {AM_TOKEN}\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode() + sent)
    return sock


# -- the head deadline -------------------------------------------------------------------------
def test_a_head_that_never_ends_is_closed_after_the_header_timeout_and_never_before(make_settings):
    with served(make_settings(header_timeout="1")) as srv:
        before = refused("header_timeout")
        sock = srv.connect()
        opened = time.monotonic()
        sock.sendall(PARTIAL_HEAD)
        assert closed_by_server(sock) - opened >= 1.0
        assert refused("header_timeout") == before + 1
        assert srv.get() == (200, b'{"status":"ok"}')


def test_a_head_sent_slowly_but_in_time_is_answered(make_settings):
    with served(make_settings(header_timeout="5")) as srv:
        sock = srv.connect()
        for line in (b"GET /healthz HTTP/1.1\r\n", b"Host: herald\r\n", b"X-Slow: yes\r\n", b"\r\n"):
            sock.sendall(line)
            time.sleep(0.2)
        assert read_response(sock) == (200, b'{"status":"ok"}')


def test_a_kept_alive_connection_may_idle_between_requests_past_the_header_timeout(make_settings):
    with served(make_settings(header_timeout="1", keepalive_timeout="10")) as srv:
        sock = srv.connect()
        assert srv.get(sock=sock)[0] == 200
        time.sleep(1.5)  # idle longer than the head deadline: keep-alive's time, not the head's
        assert srv.get(sock=sock) == (200, b'{"status":"ok"}')


# -- connections per client, and in all ------------------------------------------------------------
def test_over_the_per_client_cap_the_clients_oldest_idle_connection_makes_room(make_settings):
    with served(make_settings(max_connections_per_client="3")) as srv:
        before = refused("client_limit")
        idle = [srv.connect() for _ in range(3)]
        for sock in idle:
            sock.sendall(PARTIAL_HEAD)
        time.sleep(0.2)  # (let the server take them in, in this order)
        assert srv.get() == (200, b'{"status":"ok"}')  # a fourth: the oldest idle one is closed for it
        closed_by_server(idle[0])
        assert still_open(idle[1]) and still_open(idle[2])
        assert refused("client_limit") == before + 1


def test_a_connection_kept_alive_after_an_answer_is_closed_after_one_never_answered(make_settings):
    with served(make_settings(max_connections_per_client="2")) as srv:
        kept = srv.connect()
        assert srv.get(sock=kept)[0] == 200  # answered, now idle between requests: the oldest idle
        slow = srv.connect()
        slow.sendall(PARTIAL_HEAD)
        time.sleep(0.2)
        assert srv.get() == (200, b'{"status":"ok"}')  # a third: the never-answered one makes room
        closed_by_server(slow)
        assert srv.get(sock=kept) == (200, b'{"status":"ok"}')


def test_a_client_with_every_connection_busy_is_refused_and_other_clients_are_not(make_settings):
    with served(make_settings(max_connections_per_client="2", body_timeout="60")) as srv:
        before = refused("client_limit")
        busy = [slow_body(srv, b"{", 200) for _ in range(2)]  # requests in progress: nothing to close
        time.sleep(0.2)
        closed_by_server(srv.connect())  # a third from the same address: refused, without an answer
        assert refused("client_limit") == before + 1
        assert srv.get(source="127.0.0.2") == (200, b'{"status":"ok"}')
        assert all(still_open(sock) for sock in busy)


def test_no_per_client_cap_when_it_is_zero(make_settings):
    with served(make_settings(max_connections_per_client="0")) as srv:
        idle = [srv.connect() for _ in range(60)]  # over the default cap of 50
        for sock in idle:
            sock.sendall(PARTIAL_HEAD)
        assert srv.get() == (200, b'{"status":"ok"}')
        assert all(still_open(sock, within=0.01) for sock in idle)


def test_at_the_connection_limit_the_oldest_idle_connection_of_anyone_makes_room(make_settings):
    with served(make_settings(max_connections="3", max_connections_per_client="0", body_timeout="60")) as srv:
        before = refused("connection_limit")
        idle = srv.connect(source="127.0.0.3")
        idle.sendall(PARTIAL_HEAD)
        busy = [slow_body(srv, b"{", 200) for _ in range(2)]
        time.sleep(0.2)
        kept = srv.connect(source="127.0.0.2")
        assert srv.get(sock=kept) == (200, b'{"status":"ok"}')  # the idle one made room
        closed_by_server(idle)
        assert refused("connection_limit") == before + 1
        more = slow_body(srv, b"{", 200, source="127.0.0.2")
        closed_by_server(kept)  # kept alive after its answer, so idle: it made room
        assert refused("connection_limit") == before + 2
        time.sleep(0.2)
        closed_by_server(srv.connect(source="127.0.0.4"))  # every connection busy: refused
        assert refused("connection_limit") == before + 3
        assert all(still_open(sock) for sock in [*busy, more])


# -- slow bodies ------------------------------------------------------------------------------------
def test_a_body_that_stalls_gets_408_while_other_requests_are_answered(make_settings):
    with served(make_settings(body_timeout="1", body_min_rate="0")) as srv:
        before = refused("body_timeout")
        sock = slow_body(srv, b'{"version": "4"', 400)
        started = time.monotonic()
        assert srv.get() == (200, b'{"status":"ok"}')  # meanwhile, on another connection
        payload = json.dumps(fixture_payload("firing.json")).encode()
        other = srv.connect()
        other.sendall(f"POST /api/v1/alertmanager HTTP/1.1\r\nHost: herald\r\nAuthorization: Bearer {AM_TOKEN}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload)
        assert read_response(other)[0] == 200
        response = response_with_headers(sock)
        assert time.monotonic() - started >= 1.0
        assert response.status == 408 and response.getheader("connection") == "close"
        assert json.loads(response.read()) == {"detail": "request body too slow: send it within 1 s"}
        closed_by_server(sock)
        assert refused("body_timeout") == before + 1


def test_a_slow_body_that_keeps_the_minimum_rate_is_accepted(make_settings):
    with served(make_settings(body_timeout="1", body_min_rate="400")) as srv:
        payload = json.dumps(fixture_payload("firing.json")).encode()
        sock = slow_body(srv, b"", len(payload))
        started = time.monotonic()
        for i in range(0, len(payload), 400):  # 400 bytes (one more second) every half second
            sock.sendall(payload[i:i + 400])
            time.sleep(0.5)
        status, body = read_response(sock)
        assert time.monotonic() - started > 1.0, "the body took longer than the timeout alone"
        assert status == 200 and json.loads(body)["incidents"], body


def test_a_client_that_leaves_in_the_middle_of_its_body_leaves_no_traceback(make_settings, caplog):
    with caplog.at_level(logging.DEBUG):
        with served(make_settings()) as srv:
            for _ in range(3):
                slow_body(srv, b'{"version": ', 400).close()
            assert srv.get() == (200, b'{"status":"ok"}')
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]


# -- what is logged -----------------------------------------------------------------------------
def test_refusals_are_summed_up_in_one_line_per_interval(caplog):
    refusals = Refusals(interval=0.2)

    async def storm() -> None:
        for i in range(100):
            refusals.count("client_limit" if i % 5 else "header_timeout", f"10.0.0.{i % 2}" if i < 90 else "10.0.0.9")
        await asyncio.sleep(0.6)

    with caplog.at_level(logging.WARNING, logger="herald.http"):
        asyncio.run(storm())
    [record] = [r for r in caplog.records if r.name == "herald.http"]
    assert record.getMessage() == ("refused 100 connections or requests in the last 0.2 s: client_limit 80, "
                                   "header_timeout 20; most from 10.0.0.0 (45), 10.0.0.1 (45), 10.0.0.9 (10)")
    assert record.refused == {"client_limit": 80, "header_timeout": 20}


def test_one_refusal_reads_in_the_singular_and_none_logs_nothing(caplog):
    refusals = Refusals(interval=0.1)
    with caplog.at_level(logging.WARNING, logger="herald.http"):
        refusals.flush()
        assert not caplog.records
        refusals.count("out_of_files", None)  # outside an event loop: logged at once
    [record] = caplog.records
    assert record.getMessage() == "refused 1 connection or request in the last 0.1 s: out_of_files 1"


def test_malformed_requests_are_counted_and_summed_up_not_logged_one_by_one(make_settings, caplog):
    with caplog.at_level(logging.WARNING):
        with served(make_settings()) as srv:
            for _ in range(5):
                sock = srv.connect()
                sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
                assert read_response(sock)[0] == 400
            srv.refusals.flush()
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "Invalid HTTP request" in m], messages
    assert [m for m in messages if m.startswith("refused 5 connections or requests") and "invalid_request 5" in m]


def test_accepts_out_of_files_are_counted_not_logged_with_a_traceback(caplog):
    guard = ConnectionGuard(10, 0, 1.0, Refusals(interval=60))
    loop = asyncio.new_event_loop()
    before = refused("out_of_files")
    try:
        guard.watch_loop(loop)
        with caplog.at_level(logging.ERROR):
            loop.call_exception_handler({"message": ACCEPT_OUT_OF_FILES, "exception": OSError(24, "Too many open files")})
            assert refused("out_of_files") == before + 1 and not caplog.records
            loop.call_exception_handler({"message": "something else", "exception": RuntimeError("boom")})
        assert [r.getMessage() for r in caplog.records] == ["something else"]  # asyncio's own handler, as before
    finally:
        loop.close()


# -- the limits' arithmetic -------------------------------------------------------------------------
@pytest.mark.parametrize("configured, open_files, expected", [
    (1000, 256, 128),  # half the files: the other half for Redis, calendars and refusing
    (100, 1_048_576, 100),
    (1000, resource.RLIM_INFINITY, 1000),
    (5, 1, 1),
])
def test_the_connection_limit_stays_below_half_the_open_file_limit(configured, open_files, expected):
    assert connection_limit(configured, open_files) == expected


@pytest.mark.parametrize("limits, expected", [
    ("256:4096", "2000 1000"),  # raised towards twice the connection limit
    ("256:1500", "1500 750"),  # as far as the hard limit allows; half of it for connections
    ("4096:8192", "4096 1000"),  # already enough: left alone
], ids=["raised", "up-to-the-hard-limit", "enough"])
def test_serve_raises_its_open_file_limit_as_far_as_it_may(limits, expected):
    import subprocess
    import sys

    code = ("import resource; from service.api.server import uvicorn_options; from service.settings import Settings;"
            "options = uvicorn_options(Settings());"
            "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0], options['http'].guard.max_connections)")
    done = subprocess.run(["prlimit", f"--nofile={limits}", "--", sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=60, check=False, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == expected.split()


def test_a_client_is_an_ipv4_address_or_an_ipv6_64():
    assert client_key(("192.0.2.7", 4242)) == "192.0.2.7"
    assert client_key(("2001:db8:1:2::7", 1)) == client_key(("2001:db8:1:2:ffff::1", 2)) == "2001:db8:1:2::/64"
    assert client_key(("2001:db8:1:3::7", 1)) != client_key(("2001:db8:1:2::7", 1))
    assert client_key(("::ffff:192.0.2.7", 1)) == "192.0.2.7"  # IPv4 on a dual-stack socket: itself
    assert client_key(("::ffff:192.0.2.8", 1)) == "192.0.2.8"
    assert client_key(None) is None
