"""Run ``herald serve`` and ``herald worker`` as real processes for end-to-end tests."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from integrations.local_redis import free_port, stop_process

ROOT = Path(__file__).resolve().parent.parent


class Proc:
    """A child process whose output lines are collected on a thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(args, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> None:
        stop_process(self.process)
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def herald(*args: str, env: dict[str, str]) -> Proc:
    return Proc([sys.executable, "-m", "service.cli", *args], env)


def serve(env: dict[str, str], port: int | None = None) -> tuple[Proc, str]:
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    proc = herald("serve", "--port", str(port), env={**env, "HERALD_PUBLIC_URL": url})
    wait_for(lambda: _answers(url), 20, f"herald serve on {url}", proc)
    return proc, url


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(check: Callable[[], object], timeout: float, what: str, proc: Proc | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        if proc is not None and proc.process.poll() is not None:
            raise AssertionError(f"{what}: process exited\n{proc.output()}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{proc.output()}" if proc else ""))


ACK_LINK = re.compile(r"ack: (\S+/ack/\S+)")


def ack_links(proc: Proc, person_name: str) -> list[str]:
    return [m.group(1) for line in proc.lines if person_name in line for m in [ACK_LINK.search(line)] if m]


@contextmanager
def api_and_worker(tmp_path: Path, redis_url: str, delay: str, **extra: str) -> Iterator[tuple[str, Proc, Proc]]:
    """``herald serve`` + ``herald worker`` on the small test configuration (each tier has
    ``delay`` to acknowledge), stopped on the way out. Yields (url, api, worker)."""
    from tests.herald_env import env_for, write_config

    env = {**env_for(write_config(tmp_path, delay=delay), redis_url), "HERALD_SWEEP_INTERVAL": "2", **extra}
    api, url = serve(env)
    worker = herald("worker", env={**env, "HERALD_PUBLIC_URL": url})
    try:
        yield url, api, worker
    finally:
        worker.stop()
        api.stop()


def page_entries(url: str, incident_id: str, headers: dict[str, str]) -> list[dict]:
    """The ``details`` of every ``page`` entry on the incident's timeline."""
    incident = httpx.get(f"{url}/api/v1/incidents/{incident_id}", headers=headers).json()
    return [e["details"] for e in incident["timeline"] if e["kind"] == "page"]
