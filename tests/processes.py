"""Run ``herald serve`` and ``herald worker`` as real processes for end-to-end tests,
and wait on what they do — the events that prove a point (a sweep that ran, a timer
that fired, a send recorded), never a fixed sleep."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from integrations import keys
from service.dev.local_redis import free_port, start_redis, stop_process

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

    def output(self, since: int = 0) -> str:
        """What the process printed (from line ``since``: a ``mark()`` taken earlier)."""
        return "\n".join(self.lines[since:])

    def mark(self) -> int:
        """The number of lines so far: ``output(since=mark)`` is what came after."""
        return len(self.lines)

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM) without waiting: ``stop()`` waits."""
        if self.process.poll() is None:
            self.process.terminate()

    def stop(self) -> None:
        stop_process(self.process)
        self._reader.join(timeout=5)
        # A grandchild that outlived the process (a forked scheduler) may still hold the pipe:
        # the reader then still reads, and closing under it would block on its lock. The pipe
        # closes when the last holder exits; the daemon reader ends with it.
        if self.process.stdout is not None and not self._reader.is_alive():
            self.process.stdout.close()


def stop_all(*procs: Proc) -> None:
    """Stop several processes at once: all are asked first, then each is waited for."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.stop()


def herald(*args: str, env: dict[str, str]) -> Proc:
    return Proc([sys.executable, "-m", "service.cli.main", *args], env)


def serve(env: dict[str, str], port: int | None = None) -> tuple[Proc, str]:
    """``herald serve`` on ``port`` (default: a free one — tried again on another when a
    parallel test took it first). Returns once this process, not another, answers."""
    for attempt in range(3):
        proc, url = spawn_api(env, port)
        try:
            return await_api(proc, url), url
        except AssertionError as exc:
            if port is not None or not port_taken(exc) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def spawn_api(env: dict[str, str], port: int | None = None) -> tuple[Proc, str]:
    """Start ``herald serve`` without waiting for it (``await_api`` waits)."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    return herald("serve", "--port", str(port), env={**env, "HERALD_PUBLIC_URL": url}), url


def await_api(proc: Proc, url: str) -> Proc:
    """Wait until the API ``proc`` started answers on ``url``; on failure it is stopped."""
    port = int(url.rsplit(":", 1)[1])
    try:
        wait_for(lambda: _answers(url) and _listens(proc, port), 30, f"herald serve on {url}", proc)
    except AssertionError:
        proc.stop()
        raise
    return proc


def port_taken(exc: AssertionError) -> bool:
    return "address already in use" in str(exc).lower()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _listens(proc: Proc, port: int) -> bool:
    """Whether ``proc`` itself holds the listening socket on ``port`` (not another
    process that took the port between our look and its bind)."""
    wanted = f":{port:04X}"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[1].endswith(wanted) and fields[3] == "0A":  # 0A: LISTEN
                inodes.add(fields[9])
    try:
        fds = [os.readlink(f"/proc/{proc.process.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{proc.process.pid}/fd")]
    except OSError:
        return False
    return any(f"socket:[{inode}]" in fds for inode in inodes)


def wait_for(check: Callable[[], object], timeout: float, what: str, proc: Proc | None = None,
             interval: float = 0.1):
    """Poll ``check`` until it answers something true (returned). ``timeout`` is a
    generous bound on a wait, not a claim about speed: when it passes, the test fails
    saying what never happened (and what ``proc`` printed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        if proc is not None and proc.process.poll() is not None:
            raise AssertionError(f"{what}: process exited\n{proc.output()}")
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{proc.output()}" if proc else ""))


ACK_LINK = re.compile(r"ack: (\S+/ack/\S+)")


def ack_links(proc: Proc, person_name: str, since: int = 0) -> list[str]:
    return [m.group(1) for line in proc.lines[since:] if person_name in line for m in [ACK_LINK.search(line)] if m]


def serve_with_worker(env: dict[str, str]) -> tuple[Proc, str, Proc]:
    """``herald serve`` on a free port and ``herald worker`` started alongside it (both
    start up at once); answers (api, url, worker) once the API answers."""
    for attempt in range(3):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        worker = herald("worker", env={**env, "HERALD_PUBLIC_URL": url})
        try:
            api, url = serve(env, port=port)
            return api, url, worker
        except AssertionError as exc:
            worker.stop()
            if not port_taken(exc) or attempt == 2:
                raise
    raise AssertionError("unreachable")


@contextmanager
def api_and_worker(tmp_path: Path, redis_url: str, delay: str, config_suffix: str = "",
                   **extra: str) -> Iterator[tuple[str, Proc, Proc]]:
    """``herald serve`` + ``herald worker`` on the small test configuration (each tier has
    ``delay`` to acknowledge; ``config_suffix`` is appended to its YAML), stopped on the
    way out. Yields (url, api, worker)."""
    from tests.herald_env import env_for, write_config

    config = write_config(tmp_path, delay=delay)
    if config_suffix:
        config.write_text(config.read_text() + config_suffix)
    env = {**env_for(config, redis_url), "HERALD_SWEEP_INTERVAL": "2", **extra}
    api, url, worker = serve_with_worker(env)
    try:
        yield url, api, worker
    finally:
        stop_all(worker, api)


@dataclass
class Stack:
    """One ``herald serve`` + ``herald worker`` on a private Redis, shared by a module's
    tests; ``begin()`` gives each test an empty Herald and its own slice of the log."""
    url: str
    redis_url: str
    worker: Proc
    since: int = 0  # the worker's first output line of the current test

    def begin(self) -> "Stack":
        reset_state(self.redis_url)
        self.since = self.worker.mark()
        return self

    def post(self, fixture: str) -> dict:
        """Posts an Alertmanager fixture payload (tests/fixtures/alertmanager); its answer."""
        from tests.herald_env import AM_TOKEN, fixture_payload

        r = httpx.post(f"{self.url}/api/v1/alertmanager", content=json.dumps(fixture_payload(fixture)), timeout=10,
                       headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        return r.json()

    def incident(self, incident_id: str) -> dict:
        from tests.herald_env import API_TOKEN

        r = httpx.get(f"{self.url}/api/v1/incidents/{incident_id}", timeout=10,
                      headers={"Authorization": f"Bearer {API_TOKEN}"})
        assert r.status_code == 200, r.text
        return r.json()


@contextmanager
def module_stack(tmp_path: Path, delay: str, config_suffix: str = "", **extra: str) -> Iterator[Stack]:
    """A private redis-server and :func:`api_and_worker` on it, for a module-scoped fixture."""
    server = start_redis(tmp_path / "redis", appendonly=False)
    try:
        with api_and_worker(tmp_path, server.url, delay, config_suffix, **extra) as (url, _api, worker):
            yield Stack(url, server.url, worker)
    finally:
        server.stop()


def incidents(url: str) -> list[dict]:
    """``GET /api/v1/incidents`` of a running ``herald serve`` (newest first), as the test API token."""
    from tests.herald_env import API_TOKEN

    r = httpx.get(f"{url}/api/v1/incidents", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["incidents"]


def incident(url: str, incident_id: str) -> dict:
    """``GET /api/v1/incidents/{id}`` of a running ``herald serve``, as the test API token."""
    from tests.herald_env import API_TOKEN

    r = httpx.get(f"{url}/api/v1/incidents/{incident_id}", headers={"Authorization": f"Bearer {API_TOKEN}"},
                  timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def page_entries(url: str, incident_id: str, headers: dict[str, str]) -> list[dict]:
    """The ``details`` of every ``page`` entry on the incident's timeline."""
    r = httpx.get(f"{url}/api/v1/incidents/{incident_id}", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return [e["details"] for e in r.json()["timeline"] if e["kind"] == "page"]


# -- Redis, seen from the test -------------------------------------------------------------------
def redis_client(url: str) -> redis.Redis:
    """The test's own client: decoded, and without redis-py's default retries (ten, with
    backoff: seconds lost on every look at a Redis that is down on purpose)."""
    return redis.Redis.from_url(url, decode_responses=True, retry=Retry(NoBackoff(), 0),
                                socket_connect_timeout=2, socket_timeout=10)


class SweepWatch:
    """Whether some worker ran a whole sweep that *started* after ``after`` (epoch
    seconds, default: now). Workers stamp ``herald:workers`` at the end of each sweep:
    a second stamp after one already past ``after`` belongs to a sweep begun after it."""

    def __init__(self, redis_url: str, after: float | None = None) -> None:
        self.after = time.time() if after is None else after
        self.first: dict[str, float] = {}
        self.client = redis_client(redis_url)

    def passed(self) -> float | None:
        """The end of such a sweep, once there was one."""
        for name, stamp in self.client.zrange(keys.WORKER_HEARTBEAT, 0, -1, withscores=True):
            if stamp > self.after and stamp > self.first.setdefault(name, stamp):
                return stamp
        return None

    def close(self) -> None:
        self.client.close()


def wait_sweep(redis_url: str, after: float | None = None, timeout: float = 30, proc: Proc | None = None) -> float:
    """Wait until some worker ran a whole sweep that started after ``after`` (default:
    now); answer when it ended."""
    watch = SweepWatch(redis_url, after)
    try:
        return wait_for(watch.passed, timeout, "a whole sweep after the moment that matters", proc, interval=0.05)
    finally:
        watch.close()


def wait_worker_ready(redis_url: str, proc: Proc | None = None, timeout: float = 60) -> None:
    """Wait until a worker has finished a sweep: it is up, its threads are running."""
    client = redis_client(redis_url)
    try:
        wait_for(lambda: client.zcard(keys.WORKER_HEARTBEAT), timeout, "a worker to finish its first sweep", proc)
    finally:
        client.close()


def job_ran(client: redis.Redis, job_id: str) -> bool:
    """Whether RQ ran the job (its hash stays ``result_ttl`` seconds after)."""
    return client.hget(f"rq:job:{job_id}", "status") in ("finished", "failed", "stopped", "canceled")


def due_settled(client: redis.Redis, incident_id: str) -> bool:
    """Nothing for the incident is due now or in flight in the due index (its entry is gone,
    or is due later): whatever its last due time started has been decided."""
    member = keys.due_incident(incident_id)
    score = client.zscore(keys.DUE, member)
    return client.zscore(keys.DUE_INFLIGHT, member) is None and (score is None or float(score) > time.time())


def wait_timer(redis_url: str, incident_id: str, round_: int, timeout: float = 30, proc: Proc | None = None) -> None:
    """Wait until the escalation that would end round ``round_`` of the incident can no
    longer fire: the due index is the one trigger, and an ack or a resolve moves or removes
    the incident's entry in its own write, so this waits until the incident has no entry
    due now or in flight (a job claimed before the ack has finished)."""
    client = redis_client(redis_url)
    try:
        wait_for(lambda: due_settled(client, incident_id), timeout,
                 f"the due work of incident {incident_id}, round {round_}, to settle", proc, interval=0.05)
    finally:
        client.close()


def idle(client: redis.Redis) -> bool:
    """Nothing queued or running: nothing in the due index is due now or in flight, RQ's
    queue and its started jobs are empty."""
    return not (client.zcount(keys.DUE, "-inf", time.time()) or client.zcard(keys.DUE_INFLIGHT)
                or client.llen("rq:queue:herald") or client.zcard("rq:wip:herald"))


def wait_idle(redis_url: str, timeout: float = 30, proc: Proc | None = None) -> None:
    """Wait until nothing is queued or running (see ``idle``)."""
    client = redis_client(redis_url)
    try:
        wait_for(lambda: idle(client), timeout, "the stack to be idle", proc, interval=0.05)
    finally:
        client.close()


#: What a shared stack keeps between tests: the calendars' last good copies, the id
#: sequences (a new test's incident never takes an old timer's id), the workers' sweep
#: stamps, the shared metrics and everything of RQ's (its workers, scheduler, timers).
KEEP = ("herald:calendar", "herald:seq:", keys.WORKER_HEARTBEAT, keys.METRICS, "rq:")


def reset_state(redis_url: str, timeout: float = 30) -> None:
    """Between two tests on one running stack: once it is idle, forget every incident,
    page, rate window, heartbeat, handoff and maintenance window. Version counters are
    bumped, not deleted, so the processes' caches reload (an old timer left in RQ finds
    its incident gone and does nothing)."""
    client = redis_client(redis_url)
    try:
        wait_for(lambda: idle(client), timeout, "the stack to be idle before the next test")
        versions = []
        with client.pipeline(transaction=True) as pipe:
            for key in client.scan_iter(count=1000):
                if key.endswith(":version"):
                    if not key.startswith("herald:calendar"):
                        versions.append(key)
                elif not key.startswith(KEEP):
                    pipe.delete(key)
            for key in versions:
                pipe.incr(key)
            pipe.execute()
    finally:
        client.close()
