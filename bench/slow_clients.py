"""7. Slow clients: ``/healthz`` and the webhook while thousands of connections send
their request head slowly.

``herald serve`` with its default limits (1,000 connections, 50 per client address, a
10 s head deadline). An attacker thread holds ``slow`` connections from ``addresses``
loopback addresses (127.0.0.2 …, 50 each: at the per-client cap, so the connection limit
is what bites): each sends the start of a request head and then nothing; once a
``pace`` (1 s) every one the server closed is opened again, for ``seconds``. Meanwhile, from 127.0.0.1, two
probes at a steady rate: ``GET /healthz`` and a webhook re-sending one group. Baseline:
the same probes on the idle server just before. Figures: probe p99 during ÷ idle, probe
errors, connections the API refused (by reason, from its ``/metrics``), the most files
the API process held open (sampled from ``/proc``).
"""
from __future__ import annotations

import json
import os
import re
import resource
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.report import row
from bench.stack import AM_HEADERS, Stack, loadgen, payload, url_port

NAME = "slow_clients"
FULL = {"slow": 2000, "addresses": 40, "pace": 1.0, "seconds": 25.0, "idle_probe": 5.0, "rate": 20.0}
QUICK = {"slow": 60, "addresses": 2, "pace": 0.2, "seconds": 2.0, "idle_probe": 0.5, "rate": 10.0}
HEAD = b"POST /api/v1/alertmanager HTTP/1.1\r\nHost: herald\r\n"


class Attacker:
    """Holds ``count`` slow connections from ``addresses`` source addresses; every
    ``pace`` seconds it opens again each one the server closed (as slowloris does, every
    15 s by default), until ``stop`` (bounded by ``seconds`` anyway)."""

    def __init__(self, port: int, count: int, addresses: int, seconds: float, pace: float) -> None:
        self.port, self.count, self.seconds, self.pace = port, count, seconds, pace
        self.sources = [f"127.0.0.{2 + i}" for i in range(addresses)]
        self.opened = self.reopened = self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, i: int) -> socket.socket | None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5,
                                            source_address=(self.sources[i % len(self.sources)], 0))
            sock.sendall(HEAD)
            sock.setblocking(False)
            self.opened += 1
            return sock
        except OSError:
            self.failed += 1
            return None

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        socks = [self._open(i) for i in range(self.count)]
        while not self._stop.is_set() and time.monotonic() < deadline:
            for i, sock in enumerate(socks):
                if self._stop.is_set():
                    break
                closed = sock is None
                if sock is not None:
                    try:
                        closed = sock.recv(1024) == b""
                    except BlockingIOError:
                        pass
                    except OSError:
                        closed = True
                if closed:
                    if sock is not None:
                        sock.close()
                    socks[i] = self._open(i)
                    self.reopened += 1
            self._stop.wait(self.pace)
        for sock in socks:
            if sock is not None:
                sock.close()

    def start(self) -> "Attacker":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _open_files(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def run(quick: bool, workdir: Path, profile: bool | None = None) -> dict[str, Any]:
    size = dict(QUICK if quick else FULL)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < size["slow"] + 256:  # the attacker's own sockets are files of this process
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, size["slow"] + 256), hard))
        size["slow"] = min(size["slow"], resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 256)
    api_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]  # what `herald serve` inherits
    out: dict[str, Any] = {"config": {**size, "api_open_file_limit": api_limit}}
    with Stack(workdir / NAME) as stack:
        api, url = stack.start_api()
        port = url_port(url)
        body = json.dumps(payload(1, "slow-clients-probe"))
        probes = {"healthz": {"port": port, "method": "GET", "path": "/healthz", "mode": "rate"},
                  "webhook": {"port": port, "path": "/api/v1/alertmanager", "headers": AM_HEADERS,
                              "bodies": [body], "mode": "rate"}}

        def probe(name: str, seconds: float) -> dict[str, Any]:
            return loadgen({**probes[name], "rate": size["rate"], "concurrency": 2, "duration": seconds,
                            "max_requests": int(size["rate"] * seconds) + 1, "timeout": 30.0})

        idle = {name: probe(name, size["idle_probe"]) for name in probes}
        attacker = Attacker(port, size["slow"], size["addresses"], size["seconds"] + 10, size["pace"]).start()
        during: dict[str, Any] = {}
        peak_files = 0
        try:
            time.sleep(min(2.0, size["seconds"] / 4))  # let the slow connections pile up first
            threads = [threading.Thread(target=lambda n=name: during.update({n: probe(n, size["seconds"])}),
                                        daemon=True) for name in probes]
            for thread in threads:
                thread.start()
            while any(thread.is_alive() for thread in threads):
                peak_files = max(peak_files, _open_files(api.pid))
                time.sleep(0.2)
        finally:
            attacker.stop()
        metrics = httpx.get(f"{url}/metrics", timeout=30).text
        refused = {m.group(1): float(m.group(2)) for m in re.finditer(
            r'^herald_http_refused_total\{reason="([a-z_]+)"\} (\S+)$', metrics, re.MULTILINE)}
        tracebacks = api.output(tail=10**9).count("Traceback")
    out.update({
        "idle": {n: {k: r[k] for k in ("ok", "sent", "p50_ms", "p99_ms", "errors")} for n, r in idle.items()},
        "during": {n: {k: r.get(k) for k in ("ok", "sent", "p50_ms", "p99_ms", "max_ms", "errors", "error_samples")}
                   for n, r in during.items()},
        "slow_opened": attacker.opened, "slow_reopened": attacker.reopened, "slow_connect_failures": attacker.failed,
        "refused": refused, "api_open_files_peak": peak_files, "api_tracebacks": tracebacks,
    })
    rows = []
    for name, label in (("healthz", "GET /healthz"), ("webhook", "webhook (re-send)")):
        d, i = out["during"][name], out["idle"][name]
        rows.append(row(NAME, f"{label} p99 while {attacker.opened} slow connections came and went "
                              f"({size['slow']} held at a time from {size['addresses']} addresses)",
                        d["p99_ms"], "ms", baseline=i["p99_ms"], baseline_name="same probe, idle server",
                        goal="all answered", met=d["errors"] == 0 and d["ok"] == d["sent"],
                        note=f"{d['ok']} of {d['sent']} 2xx, {d['errors']} errors"))
    rows.append(row(NAME, "connections the API refused (connection_limit, client_limit, header_timeout)",
                    sum(refused.get(k, 0) for k in ("connection_limit", "client_limit", "header_timeout")),
                    "connections", note=", ".join(f"{k} {v:g}" for k, v in sorted(refused.items()) if v)))
    rows.append(row(NAME, "most files the API process held open", peak_files, "files",
                    baseline=api_limit, baseline_name="its open-file limit", goal="below its limit",
                    met=peak_files < api_limit,
                    note=f"{tracebacks} tracebacks in its log"))
    out["rows"] = rows
    return out
