"""A small HTTP/1.1 load generator on raw asyncio streams, run as its own process.

Why not httpx: on a 2-core machine the client must cost far less CPU than the server it
measures. Requests are pre-built bytes on keep-alive connections; a response is read by
its Content-Length. Two modes, both bounded by a request count *and* a deadline:

* ``closed``: ``concurrency`` connections each send the next request as soon as the last
  answered (throughput).
* ``rate``: requests are started at a steady ``rate`` per second from a pool of
  ``concurrency`` connections (open loop; latency counts from the scheduled start, so a
  slow server cannot hide queueing).

Bodies may carry ``__SEQ__``: request ``i`` replaces it by ``seq_start + i`` (a new
Alertmanager group per request) or, with ``seq_mod``, by ``seq_start + i % seq_mod``
(re-sends of the same groups). Loopback addresses only.

With ``retry`` a request that fails (connection error, timeout) or is answered other than
2xx is sent again after ``retry_delay`` seconds, until it gets a 2xx or the deadline
passes — as Alertmanager re-sends a notification (closed mode; every attempt is recorded).

``python -m bench.loadgen < spec.json > result.json``
"""
from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class Spec:
    port: int
    method: str = "POST"
    path: str = "/"
    headers: dict[str, str] = field(default_factory=dict)
    bodies: list[str] = field(default_factory=lambda: [""])
    paths: list[str] = field(default_factory=list)  # if given, request seq uses paths[seq % len]
    host: str = "127.0.0.1"
    mode: str = "closed"  # closed | rate
    concurrency: int = 8
    max_requests: int = 1000
    duration: float = 10.0  # seconds: hard stop
    rate: float = 50.0  # requests per second (rate mode)
    seq_start: int = 0
    seq_mod: int = 0  # >0: request i carries seq_start + i % seq_mod (re-sends of the same groups)
    record: bool = False  # keep (seq, wall time sent, latency, status, body) per request
    timeout: float = 30.0  # per request
    retry: bool = False  # closed mode: send a request again until it is answered 2xx (Alertmanager does)
    retry_delay: float = 0.2  # seconds between two attempts of one request
    pause: float = 0.0  # closed mode: seconds each connection waits between two requests


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[k]


class Conn:
    def __init__(self, reader: asyncio.StreamReader | None, writer: asyncio.StreamWriter | None) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    def broken(cls) -> "Conn":
        """A connection that could not be made: a request on it fails (and reconnects)."""
        return cls(None, None)

    @property
    def dead(self) -> bool:
        return self.writer is None

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.reader is None or self.writer is None:
            raise ConnectionError("not connected")
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
                break
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class LoadGen:
    def __init__(self, spec: Spec) -> None:
        if spec.host not in LOOPBACK:
            raise SystemExit(f"loadgen: refusing non-loopback host {spec.host!r}")
        self.spec = spec
        rest = f" HTTP/1.1\r\nHost: {spec.host}:{spec.port}\r\n"
        rest += "".join(f"{k}: {v}\r\n" for k, v in spec.headers.items())
        self.heads = [f"{spec.method} {p}{rest}" for p in (spec.paths or [spec.path])]
        self.templates = [b.encode() for b in spec.bodies]
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors: list[str] = []
        self.records: list[list[Any]] = []
        self.sent = 0
        self.retries = 0
        self.deadline = 0.0

    def seq(self, i: int) -> int:
        return self.spec.seq_start + (i % self.spec.seq_mod if self.spec.seq_mod else i)

    def build(self, seq: int) -> bytes:
        body = self.templates[seq % len(self.templates)]
        head = self.heads[seq % len(self.heads)]
        if b"__SEQ__" in body:
            body = body.replace(b"__SEQ__", str(seq).encode())
        if self.spec.method in ("GET", "HEAD") and not body:
            return (head + "\r\n").encode()
        return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    async def connect(self) -> Conn:
        reader, writer = await asyncio.open_connection(self.spec.host, self.spec.port)
        return Conn(reader, writer)

    async def reconnect(self) -> Conn:
        try:
            return await self.connect()
        except OSError as exc:
            self.errors.append(f"connect: {type(exc).__name__}: {exc}"[:200])
            return Conn.broken()

    async def one(self, conn: Conn, seq: int, scheduled: float | None) -> Conn:
        return (await self.attempt(conn, seq, scheduled))[0]

    async def attempt(self, conn: Conn, seq: int, scheduled: float | None) -> tuple[Conn, int]:
        """One request; the connection to use next and the status (0: no answer)."""
        data = self.build(seq)
        wall = time.time()
        start = time.perf_counter()
        try:
            status, body = await asyncio.wait_for(conn.request(data), self.spec.timeout)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
            conn.close()
            if self.spec.record:
                self.records.append([seq, wall, None, 0, ""])
            try:
                return await self.connect(), 0
            except OSError as again:  # nothing listens there (now): the next attempt tries again
                self.errors.append(f"connect: {type(again).__name__}: {again}"[:200])
                return Conn.broken(), 0
        end = time.perf_counter()
        latency = end - (scheduled if scheduled is not None else start)
        self.latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if self.spec.record:
            self.records.append([seq, wall, latency, status, body.decode("utf-8", "replace")[:2000]])
        return conn, status

    async def closed_loop(self) -> None:
        counter = itertools.count()

        async def worker() -> None:
            conn = await self.connect()
            try:
                while time.perf_counter() < self.deadline:
                    i = next(counter)
                    if i >= self.spec.max_requests:
                        return
                    if self.spec.pause and i >= self.spec.concurrency:
                        await asyncio.sleep(self.spec.pause)
                    self.sent += 1
                    conn, status = await self.attempt(conn, self.seq(i), None)
                    while self.spec.retry and not 200 <= status < 300 and time.perf_counter() < self.deadline:
                        await asyncio.sleep(self.spec.retry_delay)
                        self.retries += 1
                        if conn.dead:
                            conn = await self.reconnect()
                        conn, status = await self.attempt(conn, self.seq(i), None)
            finally:
                conn.close()

        await asyncio.gather(*(worker() for _ in range(self.spec.concurrency)))

    async def rate_loop(self) -> None:
        pool: asyncio.Queue[Conn] = asyncio.Queue()
        for _ in range(self.spec.concurrency):
            pool.put_nowait(await self.connect())
        tasks = []
        t0 = time.perf_counter()

        async def fire(seq: int, scheduled: float) -> None:
            conn = await pool.get()
            try:
                conn = await self.one(conn, seq, scheduled)
            finally:
                pool.put_nowait(conn)

        for i in range(self.spec.max_requests):
            scheduled = t0 + i / self.spec.rate
            if scheduled >= self.deadline:
                break
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            self.sent += 1
            tasks.append(asyncio.create_task(fire(self.seq(i), scheduled)))
        if tasks:
            await asyncio.wait(tasks, timeout=max(1.0, self.deadline + self.spec.timeout - time.perf_counter()))
        while not pool.empty():
            pool.get_nowait().close()

    async def run(self) -> dict[str, Any]:
        start = time.perf_counter()
        self.deadline = start + self.spec.duration
        if self.spec.mode == "rate":
            await self.rate_loop()
        else:
            await self.closed_loop()
        elapsed = time.perf_counter() - start
        ok = sum(n for s, n in self.statuses.items() if 200 <= s < 300)
        ms = [x * 1000 for x in self.latencies]
        return {
            "sent": self.sent, "ok": ok, "retries": self.retries, "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": len(self.errors), "error_samples": self.errors[:5], "elapsed_s": elapsed,
            "rps": ok / elapsed if elapsed > 0 else 0.0, "concurrency": self.spec.concurrency,
            "p50_ms": percentile(ms, 50), "p90_ms": percentile(ms, 90), "p99_ms": percentile(ms, 99),
            "max_ms": max(ms) if ms else None, "records": self.records,
        }


def main() -> int:
    spec = Spec(**json.load(sys.stdin))
    result = asyncio.run(LoadGen(spec).run())
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
