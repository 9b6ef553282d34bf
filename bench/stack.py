"""The pieces every benchmark starts: a private Redis, ``herald serve`` / ``herald worker``
as real processes, the bare FastAPI baseline, the provider simulator in-process, and the
load generator as its own process. Everything listens on 127.0.0.1 and is stopped by
``Stack.close()`` (benchmarks use ``with Stack(...) as stack``)."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import redis

from service.dev.local_redis import LocalRedis, free_port, start_redis, stop_process

if TYPE_CHECKING:
    from bench.sentinel import SentinelRedis

ROOT = Path(__file__).resolve().parent.parent
AM_TOKEN = "bench-am-token"
API_TOKEN = "bench-api-token"
AM_HEADERS = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}
API_HEADERS = {"Authorization": f"Bearer {API_TOKEN}"}

PEOPLE = [("alice", "Alice Adams", "+15550100001"), ("bob", "Bob Brown", "+15550100002"),
          ("erin", "Erin Engel", "+15550100004"), ("dave", "Dave Dietz", "+15550100005")]


def weekly_calendar(uid: str, email: str, name: str) -> str:
    """One endless weekly shift that started in the past: ``name`` is always on call."""
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Herald bench//EN",
        "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z",
        "DTSTART:20260105T080000Z", "DTEND:20260112T080000Z", "RRULE:FREQ=WEEKLY",
        f"SUMMARY:On call {name}", f"ATTENDEE;CN={name}:mailto:{email}",
        "END:VEVENT", "END:VCALENDAR", ""])


def write_config(directory: Path, *, delay: str = "1h", repeat: int = 0, channels: str = "[sms]") -> Path:
    """Alice on L1, Bob on L2, Erin (engineering), Dave (executive); every severity
    escalates after ``delay`` and pages on ``channels``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "primary.ics").write_text(weekly_calendar("p1", "alice@example.com", "Alice Adams"), newline="")
    (directory / "backup.ics").write_text(weekly_calendar("b1", "bob@example.com", "Bob Brown"), newline="")
    people = "\n".join(f'  - {{id: {i}, name: {n}, email: {i}@example.com, phone: "{p}"}}' for i, n, p in PEOPLE)
    sev = "{" + ", ".join(f"{s}: {{page_tiers: 1, repeat: {repeat}, ack_timeout: \"off\", business_hours_only: false}}"
                          for s in ("P0", "P1", "P2", "P3")) + "}"
    chan = "{" + ", ".join(f"{s}: {channels}" for s in ("P0", "P1", "P2", "P3")) + "}"
    esc = "{" + ", ".join(f"{s}: {delay}" for s in ("P0", "P1", "P2", "P3")) + "}"
    text = f"""people:
{people}
schedules:
  - {{name: primary, calendar: primary.ics, default_tier: L1}}
  - {{name: backup, calendar: backup.ics, default_tier: L2}}
policies:
  - name: default
    escalate_after: {esc}
    severities: {sev}
    tiers:
      - {{name: L1, schedule: primary, channels: {chan}}}
      - {{name: L2, schedule: backup, channels: {chan}}}
      - {{name: engineering, people: [erin], channels: {chan}}}
      - {{name: executive, people: [dave], channels: {chan}}}
route: {{policy: default}}
"""
    path = directory / "herald.yaml"
    path.write_text(text)
    return path


# -- Alertmanager payloads ------------------------------------------------------------------
def alert(n: int, service: str, alertname: str, severity: str = "critical") -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": alertname, "instance": f"{service}-{n}:9100", "job": "node",
                   "service": service, "severity": severity},
        "annotations": {"description": f"Instance {service}-{n} is in trouble.",
                        "summary": f"{alertname} on {service}"},
        "startsAt": "2026-11-27T10:28:16.48262539Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up%3D%3D0&g0.tab=1",
        "fingerprint": f"{abs(hash((service, alertname, n))) & 0xffffffffffff:012x}{n:04x}",
    }


def payload(alerts: int, group: str, service: str = "db", alertname: str = "DiskFull",
            first: int = 0) -> dict[str, Any]:
    """A version-4 webhook of one group with ``alerts`` firing alerts."""
    items = [alert(first + i, service, alertname) for i in range(alerts)]
    common = {"alertname": alertname, "service": service, "severity": "critical", "job": "node"}
    return {
        "receiver": "herald", "status": "firing", "alerts": items,
        "groupLabels": {"alertname": alertname, "service": service}, "commonLabels": common,
        "commonAnnotations": {"summary": f"{alertname} on {service}"},
        "externalURL": "http://alertmanager.example:9093", "version": "4",
        "groupKey": group, "truncatedAlerts": 0,
    }


def unique_body(alerts: int, service: str = "db", alertname: str = "DiskFull") -> str:
    """A payload whose groupKey and fingerprints carry ``__SEQ__`` (the load generator
    fills in the request number): every request is a new group."""
    body = payload(alerts, "{}:{alertname=\"" + alertname + "\", seq=\"__SEQ__\"}", service, alertname)
    for a in body["alerts"]:
        a["fingerprint"] = a["fingerprint"] + "-__SEQ__"
    return json.dumps(body)


# -- processes ------------------------------------------------------------------------------
class Proc:
    """A child process writing to a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logdir: Path) -> None:
        self.name = name
        self.log_path = logdir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(args, env={**os.environ, **env}, cwd=ROOT, stdout=self._log,
                                        stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM) without waiting; ``stop`` waits."""
        if self.process.poll() is None:
            self.process.terminate()

    def stop(self) -> None:
        stop_process(self.process)
        self._log.close()


def wait_for(check: Callable[[], Any], timeout: float, what: str, proc: Proc | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{what}: {proc.name} exited\n{proc.output()}")
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}" + (f"\n{proc.output()}" if proc else ""))


def answers(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def rss_kb(pid: int, children: bool = False) -> int:
    """Resident set size of ``pid`` (and, with ``children``, its live descendants) in KiB."""
    total = 0
    pids = [pid]
    if children:
        pids += descendants(pid)
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = Path(f"/proc/{p}/task").iterdir()
            kids = [int(c) for t in tasks for c in (t / "children").read_text().split()]
        except OSError:
            kids = []
        out += kids
        todo += kids
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class Stack:
    """Redis plus whichever processes a benchmark asks for; ``close`` stops them all."""

    def __init__(self, workdir: Path, *, delay: str = "1h", repeat: int = 0, env: dict[str, str] | None = None,
                 appendonly: bool = True, sentinel: "SentinelRedis | None" = None) -> None:
        """With ``sentinel`` (``bench.sentinel``), Herald and ``self.redis`` reach Redis only
        through its Sentinels (the URL names no server) and follow a failover."""
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.procs: list[Proc] = []
        self.threads: list[Any] = []
        self.sentinel = sentinel
        sentinels = {}
        if sentinel is not None:
            self.redis_server: LocalRedis = sentinel.primary
            self.redis = sentinel.client()
            url = "redis://127.0.0.1:1/0"  # never used for a connection: the Sentinels name the master
            sentinels = {"HERALD_REDIS_SENTINELS": sentinel.addresses}
        else:
            self.redis_server = start_redis(workdir / "redis", appendonly=appendonly)
            self.redis = redis.Redis.from_url(self.redis_server.url, decode_responses=True)
            url = self.redis_server.url
        self.config = write_config(workdir / "conf", delay=delay, repeat=repeat)
        self.env = {"HERALD_CONFIG": str(self.config), "HERALD_REDIS_URL": url, **sentinels,
                    "HERALD_ALERTMANAGER_TOKEN": AM_TOKEN, "HERALD_API_TOKEN": API_TOKEN,
                    "HERALD_PUBLIC_URL": "http://127.0.0.1:9", "PYTHONUNBUFFERED": "1", **(env or {})}
        self.sim = None
        self.sim_url = ""

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for proc in reversed(self.procs):  # all asked to stop at once, then each waited for
            proc.terminate()
        for proc in reversed(self.procs):
            proc.stop()
        for thread in reversed(self.threads):
            thread.stop()
        self.redis.close()
        if self.sentinel is not None:
            self.sentinel.stop()
        else:
            self.redis_server.stop()

    def with_config(self, path: Path) -> None:
        self.env["HERALD_CONFIG"] = str(path)

    def start_simulator(self, herald_url: str) -> None:
        """The Twilio/SendGrid simulator in a thread of this process; the SDKs point at it."""
        from service.dev.simulator.app import create_simulator_app
        from service.dev.simulator.server import ServerThread
        from service.dev.simulator.state import SimulatorState
        from service.dev.run import simulator_env

        port = free_port()
        self.sim_url = f"http://127.0.0.1:{port}"
        key = self.workdir / "sg-key.pem"
        self.env.update(simulator_env(self.sim_url, key))
        self.sim = SimulatorState()
        app = create_simulator_app(self.sim, herald_url=herald_url,
                                   twilio_auth_token=self.env["HERALD_TWILIO_AUTH_TOKEN"],
                                   sendgrid_private_key_pem=key.read_text())
        self.threads.append(ServerThread(app, port=port).start())

    def start_api(self, port: int | None = None, name: str = "api") -> tuple[Proc, str]:
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        self.env["HERALD_PUBLIC_URL"] = url
        proc = Proc(name, [sys.executable, "-m", "service.cli.main", "serve", "--port", str(port)], self.env, self.workdir)
        self.procs.append(proc)
        wait_for(lambda: answers(url), 30, f"herald serve on {url}", proc)
        return proc, url

    def start_worker(self, name: str = "worker") -> Proc:
        """``herald worker``."""
        proc = Proc(name, [sys.executable, "-m", "service.cli.main", "worker"], self.env, self.workdir)
        self.procs.append(proc)
        wait_for(lambda: self.redis.scard("rq:workers"), 30,
                 "the RQ worker to register", proc)
        return proc

    def start_api_and_worker(self, port: int | None = None) -> tuple[Proc, str, Proc]:
        """``herald serve`` and ``herald worker`` starting up side by side (the same two
        processes as ``start_api`` then ``start_worker``); returns once both are up."""
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        self.env["HERALD_PUBLIC_URL"] = url
        api = Proc("api", [sys.executable, "-m", "service.cli.main", "serve", "--port", str(port)], self.env, self.workdir)
        self.procs.append(api)
        worker = Proc("worker", [sys.executable, "-m", "service.cli.main", "worker"], self.env, self.workdir)
        self.procs.append(worker)
        wait_for(lambda: answers(url), 30, f"herald serve on {url}", api)
        wait_for(lambda: self.redis.scard("rq:workers"), 30, "the RQ worker to register", worker)
        return api, url, worker

    def start_bare_and_api(self) -> tuple[tuple[Proc, str], tuple[Proc, str]]:
        """``start_bare`` and ``start_api`` with the two processes starting up side by side."""
        bare_url, api_url = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
        bare = Proc("bare", [sys.executable, "-m", "bench.bare_app", "--port", str(url_port(bare_url))], self.env,
                    self.workdir)
        self.procs.append(bare)
        self.env["HERALD_PUBLIC_URL"] = api_url
        api = Proc("api", [sys.executable, "-m", "service.cli.main", "serve", "--port", str(url_port(api_url))], self.env,
                   self.workdir)
        self.procs.append(api)
        wait_for(lambda: answers(bare_url), 30, f"the bare endpoint on {bare_url}", bare)
        wait_for(lambda: answers(api_url), 30, f"herald serve on {api_url}", api)
        return (bare, bare_url), (api, api_url)

    def start_bare(self, port: int | None = None) -> tuple[Proc, str]:
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        proc = Proc("bare", [sys.executable, "-m", "bench.bare_app", "--port", str(port)], self.env, self.workdir)
        self.procs.append(proc)
        wait_for(lambda: answers(url), 30, f"the bare endpoint on {url}", proc)
        return proc, url

    def commandstats(self) -> dict[str, int]:
        info = self.redis.info("commandstats")
        return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in info.items()}

    def reply_writes(self) -> int:
        """Redis's ``total_writes_processed``: one per reply it wrote to a client, so one
        per round trip (a pipeline or MULTI…EXEC is answered in one write)."""
        return int(self.redis.info("stats")["total_writes_processed"])


def stats_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    out = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    return {k: v for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v > 0}


def loadgen(spec: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run the load generator in its own process; its result dict."""
    spec = copy.deepcopy(spec)
    limit = timeout or spec.get("duration", 10) + spec.get("timeout", 30) + 30
    done = subprocess.run([sys.executable, "-m", "bench.loadgen"], input=json.dumps(spec), capture_output=True,
                          text=True, cwd=ROOT, timeout=limit)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def url_port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


# -- reading what Herald stored ---------------------------------------------------------------
def incidents(client: redis.Redis, ids: list[str]) -> dict[str, Any]:
    """Stored incidents by id (``routing.incident.Incident``), read straight from Redis."""
    from integrations import keys
    from routing.incident import Incident

    out: dict[str, Any] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for incident_id, raw in zip(chunk, client.mget([keys.incident(x) for x in chunk])):
            if raw:
                out[incident_id] = Incident.model_validate_json(raw)
    return out


def incident_ids(records: list[list[Any]]) -> dict[int, str]:
    """seq -> incident id, from the load generator's recorded webhook answers."""
    out = {}
    for seq, _wall, _latency, status, body in records:
        if 200 <= status < 300:
            try:
                found = json.loads(body).get("incidents") or []
            except ValueError:
                continue
            if found:
                out[seq] = str(found[0]["id"])
    return out


def page_entries(incident: Any) -> list[Any]:
    return [e for e in incident.timeline if e.kind == "page" and e.details.get("provider_id")]


def everyone_tier_config(directory: Path, phones: list[str]) -> Path:
    """A config whose only policy pages one person per number in ``phones`` (ids p00,
    p01, …) on its first tier, all by SMS, and Alice's calendar on the second."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "primary.ics").write_text(weekly_calendar("p1", "alice@example.com", "Alice Adams"), newline="")
    listed = "\n".join(f'  - {{id: p{n:02d}, name: Person {n}, email: p{n:02d}@example.com, phone: "{number}"}}'
                       for n, number in enumerate(phones))
    everyone = ", ".join(f"p{n:02d}" for n in range(len(phones)))
    sms = "{P0: [sms], P1: [sms], P2: [sms], P3: [sms]}"
    path = directory / "herald.yaml"
    path.write_text(f"""people:
  - {{id: alice, name: Alice Adams, email: alice@example.com, phone: "+15550100001"}}
{listed}
schedules:
  - {{name: primary, calendar: primary.ics, default_tier: L1}}
policies:
  - name: default
    escalate_after: {{P0: 1h, P1: 1h, P2: 1h, P3: 1h}}
    tiers:
      - {{name: everyone, people: [{everyone}], channels: {sms}}}
      - {{name: L1, schedule: primary, channels: {sms}}}
route: {{policy: default}}
""")
    return path
