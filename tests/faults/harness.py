"""A Herald deployment to break on purpose: the provider simulator (in-process, so the
test counts what every person received), any number of ``herald serve`` and
``herald worker`` processes, and — where the test restarts or kills it — a Redis of
its own. Workers run in their own session so SIGKILL takes the RQ work horse too,
the way a container or a host dies."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx
import redis

from integrations import keys
from service.dev.local_redis import LocalRedis, free_port, start_redis
from service.dev.simulator.app import create_simulator_app
from service.dev.simulator.server import ServerThread
from service.dev.simulator.state import SimMessage, SimulatorState
from service.dev.run import simulator_env
from tests.herald_env import AM_TOKEN, API_TOKEN, env_for, fixture_payload, write_config
from tests.processes import (ROOT, Proc, await_api, port_taken, redis_client, serve, spawn_api, stop_all, wait_for,
                             wait_sweep)

API = {"Authorization": f"Bearer {API_TOKEN}"}
AM = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}
ALICE, BOB, ERIN = "+15550100001", "+15550100002", "+15550100004"


class SessionProc(Proc):
    """A ``Proc`` in a session of its own: ``kill_group`` is a host dying mid-job."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:  # noqa: D107 - same as Proc
        self.lines = []
        self.process = subprocess.Popen(args, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def kill_group(self) -> None:
        """SIGKILL the process and every descendant (RQ's work horse calls setsid)."""
        for pid in [*descendants(self.process.pid), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def restart_redis(server: LocalRedis, *, crash: bool = False) -> LocalRedis:
    """Stop (SHUTDOWN, or SIGKILL when ``crash``) and start again on the same port and files."""
    if crash:
        server.process.kill()
        server.process.wait(timeout=10)
    else:
        server.stop()
    return start_redis(server.directory, server.port, appendonly=True)


@dataclass
class Deployment:
    tmp: Path
    redis_url: str
    env: dict[str, str]
    sim: SimulatorState
    sim_thread: ServerThread
    apis: list[tuple[Proc, str]] = field(default_factory=list)
    workers: list[SessionProc] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.apis[0][1]

    def add_api(self) -> str:
        api, url = serve(self.env)
        self.apis.append((api, url))
        return url

    def add_worker(self, public_url: str | None = None) -> SessionProc:
        worker = SessionProc([sys.executable, "-m", "service.cli.main", "worker"],
                             {**self.env, "HERALD_PUBLIC_URL": public_url or self.url})
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        stop_all(*self.workers, *(api for api, _ in self.apis))
        self.sim_thread.stop()

    # -- driving it ---------------------------------------------------------------------
    def payload(self, group: str = "g1", alertname: str = "DiskFull", status: str = "firing") -> dict:
        payload = fixture_payload("firing.json")
        payload["groupKey"], payload["status"] = group, status
        payload["commonAnnotations"] = {}
        payload["commonLabels"]["alertname"] = alertname
        alert = payload["alerts"][0]
        alert["fingerprint"] = f"fp-{group}"
        alert["status"] = status
        if status == "resolved":
            alert["endsAt"] = datetime.now(timezone.utc).isoformat()  # after its startsAt: the same episode
        return payload

    def post(self, payload: dict, url: str | None = None, timeout: float = 10) -> httpx.Response:
        return httpx.post(f"{url or self.url}/api/v1/alertmanager", content=json.dumps(payload), headers=AM,
                          timeout=timeout)

    def fire(self, group: str = "g1", url: str | None = None) -> str:
        r = self.post(self.payload(group, alertname=f"Alert-{group}"), url)
        assert r.status_code == 200, r.text
        return r.json()["incidents"][0]["id"]

    def incident(self, incident_id: str) -> dict:
        r = httpx.get(f"{self.url}/api/v1/incidents/{incident_id}", headers=API, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def texts(self, to: str, channel: str = "sms") -> list[SimMessage]:
        return [m for m in self.sim.messages_for(to=to, channel=channel) if m.direction == "outbound"]

    def fail(self, channel: str, mode: str, count: int = 1, seconds: float = 15.0) -> None:
        self.sim.inject(channel, mode, count, seconds)

    def wait_texts(self, to: str, count: int, timeout: float, channel: str = "sms") -> list[SimMessage]:
        alive = next((w for w in self.workers if w.process.poll() is None), None)
        return wait_for(lambda: len(self.texts(to, channel)) >= count and self.texts(to, channel), timeout,
                        f"{count} {channel} to {to}", alive)

    def output(self) -> str:
        return "\n".join(p.output() for p in [*(a for a, _ in self.apis), *self.workers])

    def sent_once(self, incident_id: str, round_: int, person: str, provider_id: str, channel: str = "sms") -> None:
        """Wait until this send is recorded in its send-log slot, then for a whole sweep
        after that: whatever could send the page again has had its turn (the caller then
        counts what the provider got)."""
        client = redis_client(self.redis_url)
        try:
            wait_for(lambda: client.get(keys.send_log(incident_id, round_, person, channel)) == f"sent:{provider_id}",
                     15, f"{person}'s page recorded in the send log")
        finally:
            client.close()
        wait_sweep(self.redis_url)


def deploy(tmp: Path, redis_url: str, *, apis: int = 1, workers: int = 1, delay: str = "3s",
           config: Path | None = None, **extra: str) -> Deployment:
    """Start the simulator, ``apis`` API processes and ``workers`` workers on ``redis_url``
    (``config``: a configuration file instead of tests.herald_env's four-tier one).
    Every process starts at once; this returns when the APIs answer (the workers' own
    start-up is the tests' to wait for: ``wait_worker_ready``, or a page)."""
    key_file = tmp / "sg-key.pem"
    env = {**env_for(config or write_config(tmp / "conf", delay=delay), redis_url),
           **simulator_env("http://127.0.0.1:9", key_file),
           "HERALD_SWEEP_INTERVAL": "0.5", "HERALD_SWEEP_GRACE": "1", "HERALD_SEND_LEASE": "3",
           "HERALD_RATE_LIMIT_SMS": "0", "HERALD_RATE_LIMIT_VOICE": "0", **extra}
    state = SimulatorState()
    # The simulator binds a free port at once; it learns where to call back once the first
    # API is up (a port chosen for it can be taken by a parallel test: then another one).
    sim_thread = ServerThread(create_simulator_app(state, twilio_auth_token=env["HERALD_TWILIO_AUTH_TOKEN"],
                                                   sendgrid_private_key_pem=key_file.read_text())).start()
    env.update(simulator_env(sim_thread.url, key_file))
    deployment = Deployment(tmp, redis_url, env, state, sim_thread)
    try:
        for attempt in range(3):
            first_api = free_port()
            env["HERALD_PUBLIC_URL"] = f"http://127.0.0.1:{first_api}"
            for _ in range(workers):
                deployment.add_worker(env["HERALD_PUBLIC_URL"])
            more = [spawn_api(env) for _ in range(apis - 1)]
            try:
                deployment.apis.append(serve(env, port=first_api))
                break
            except AssertionError as exc:
                stop_all(*deployment.workers, *(proc for proc, _ in more))
                deployment.workers.clear()
                if not port_taken(exc) or attempt == 2:
                    raise
        sim_thread.app.state.callback_sender.herald_url = deployment.url
        for proc, url in more:
            try:
                deployment.apis.append((await_api(proc, url), url))
            except AssertionError as exc:
                if not port_taken(exc):
                    raise
                deployment.add_api()
    except BaseException:
        deployment.stop()
        raise
    return deployment


def redis_keys(url: str) -> dict[str, object]:
    """Every key with its value (strings, hashes, sets, zsets, lists), for before/after checks."""
    client = redis.Redis.from_url(url, decode_responses=False)
    try:
        out: dict[str, object] = {}
        for key in client.scan_iter(count=1000):
            kind = client.type(key).decode()
            value: object = {"string": client.get, "hash": client.hgetall, "set": client.smembers,
                             "list": lambda k: client.lrange(k, 0, -1),
                             "zset": lambda k: client.zrange(k, 0, -1, withscores=True)}.get(kind, lambda k: kind)(key)
            out[key.decode()] = value
        return out
    finally:
        client.close()


