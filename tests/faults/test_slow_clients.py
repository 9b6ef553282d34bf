"""Slow clients: hundreds of connections from one address that send a request head a line
at a time and never finish it, held open against a real ``herald serve`` whose process may
open only ``NOFILE`` files — the 20,000-connection attack of issue 16, scaled down to fit
the test machine's default limits.

What must hold: Alertmanager's webhook and ``/healthz`` still answer, correctly; the server
cuts the slow connections off (the excess at once, the rest when their head is late); the
log holds no traceback, and its refusal summary is one line per interval, not one per
connection; ``herald_http_refused_total`` counts them.

How long anything takes is not asserted here (``bench/slow_clients.py`` measures it): the
``wait_for`` bounds are generous limits on a wait, not claims about speed."""
from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time

import httpx
import pytest

from service.dev.local_redis import free_port
from tests.herald_env import AM_TOKEN, env_for, fixture_payload, write_config
from tests.processes import Proc, await_api, port_taken, stop_all, wait_for

pytestmark = pytest.mark.slow

NOFILE = 256  # the server's open-file limit: without limits, SLOW connections use it all up
SLOW = 400  # slow connections opened, all from 127.0.0.1
PER_CLIENT = 50  # HERALD_HTTP_MAX_CONNECTIONS_PER_CLIENT's default
HEADER_TIMEOUT = 3.0
LOG_INTERVAL = 1.0
SUMMARY = re.compile(r"herald\.http: refused (\d+) connections? or requests? in the last")


class SlowClients:
    """``count`` sockets that each send the start of a request head and then one more
    header line every ``pace`` seconds, never the blank line that ends it. A thread
    trickles the lines and notes when the server closes each socket."""

    def __init__(self, port: int, count: int, pace: float = 0.5) -> None:
        self.port, self.pace = port, pace
        self.socks: list[socket.socket] = []
        self.opened: list[float] = []
        self.closed: dict[int, float] = {}  # index -> when the server closed it
        self._stop = threading.Event()
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"POST /api/v1/alertmanager HTTP/1.1\r\nHost: herald\r\n")
            sock.setblocking(False)
            self.socks.append(sock)
            self.opened.append(time.monotonic())
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        line = 0
        while not self._stop.wait(self.pace):
            line += 1
            for i, sock in enumerate(self.socks):
                if i in self.closed:
                    continue
                try:
                    if sock.recv(4096) == b"":
                        self.closed[i] = time.monotonic()
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed[i] = time.monotonic()
                    continue
                try:
                    sock.send(f"X-Slow-{line}: 1\r\n".encode())
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed[i] = time.monotonic()

    def open_at_server(self) -> int:
        """How many of them the server has not closed (as far as the last round saw)."""
        return len(self.socks) - len(self.closed)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for sock in self.socks:
            sock.close()


def serve_limited(env: dict[str, str], nofile: int) -> tuple[Proc, str]:
    """``herald serve`` on a free port with its open-file limit set to ``nofile``."""
    for attempt in range(3):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = Proc(["prlimit", f"--nofile={nofile}", "--", sys.executable, "-m", "service.cli.main", "serve",
                     "--port", str(port)], {**env, "HERALD_PUBLIC_URL": url})
        try:
            return await_api(proc, url), url
        except AssertionError as exc:
            if not port_taken(exc) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def webhook(url: str, group: str) -> httpx.Response:
    payload = fixture_payload("firing.json")
    payload["groupKey"] = group
    payload["alerts"][0]["fingerprint"] = f"fp-{group}"
    return httpx.post(f"{url}/api/v1/alertmanager", content=json.dumps(payload), timeout=15,
                      headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"})


def refused_total(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=15).text
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r'^herald_http_refused_total\{reason="([a-z_]+)"\} (\S+)$', text, re.MULTILINE)}


@pytest.mark.parametrize("per_client, reason, limit", [
    (None, "client_limit", PER_CLIENT),  # the default per-client cap cuts one address off first
    ("0", "connection_limit", NOFILE // 2),  # no per-client cap: the connection limit (half the files)
], ids=["per-client-cap", "connection-limit"])
def test_slow_clients_do_not_stop_webhooks_or_healthz(tmp_path, redis_url, per_client, reason, limit):
    env = {**env_for(write_config(tmp_path / "conf"), redis_url),
           "HERALD_HTTP_HEADER_TIMEOUT": str(HEADER_TIMEOUT), "HERALD_HTTP_REFUSED_LOG_INTERVAL": str(LOG_INTERVAL)}
    if per_client is not None:
        env["HERALD_HTTP_MAX_CONNECTIONS_PER_CLIENT"] = per_client
    api, url = serve_limited(env, NOFILE)
    started = time.monotonic()
    slow = None
    try:
        slow = SlowClients(int(url.rsplit(":", 1)[1]), SLOW)
        # While they trickle: the webhook and /healthz answer, and correctly.
        for round_ in range(3):
            health = httpx.get(f"{url}/healthz", timeout=15)
            assert health.status_code == 200 and health.json() == {"status": "ok"}, health.text
            r = webhook(url, f"slow-{round_}")
            assert r.status_code == 200, r.text
            assert r.json()["incidents"][0]["id"], r.text
        # The server holds no more of them than the limit in force ...
        wait_for(lambda: slow.open_at_server() <= limit, 30, f"at most {limit} slow connections left open", api)
        # ... and closes the rest once their head is late, none before HERALD_HTTP_HEADER_TIMEOUT.
        wait_for(lambda: slow.open_at_server() == 0, 60, "every slow connection closed by the server", api)
        late = sorted(slow.closed[i] - slow.opened[i] for i in slow.closed)[-1]
        assert late >= HEADER_TIMEOUT, f"the last slow connection was closed {late:.2f} s after it opened"
        counted = refused_total(url)
        assert counted.get(reason, 0) >= SLOW - limit, counted
        assert counted.get("header_timeout", 0) >= 1, counted
        wait_for(lambda: SUMMARY.search(api.output()), 30, "the refusal summary in the log", api)
    finally:
        if slow is not None:
            slow.stop()
        stop_all(api)
    elapsed = time.monotonic() - started
    output = api.output()
    assert "Traceback" not in output, output[-5000:]
    summaries = [line for line in output.splitlines() if SUMMARY.search(line)]
    # One line per interval at most (plus the one an interval still open may add), never one per connection.
    assert 1 <= len(summaries) <= elapsed / LOG_INTERVAL + 2, "\n".join(summaries)
    assert sum(int(SUMMARY.search(line).group(1)) for line in summaries) >= SLOW - limit, "\n".join(summaries)
    assert "Invalid HTTP request" not in output and "Exceeded concurrency" not in output, output[-5000:]
