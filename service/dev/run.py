"""``herald dev`` (what ``make run`` starts): a private Redis, the provider simulator,
the API and a worker.

Unless real Twilio / SendGrid credentials are in the environment, the official SDKs
are pointed at the simulator on loopback, whose dev inbox shows what each person
received. Everything it starts is a child process and stops on Ctrl-C.

The port is checked before anything starts; the banner is printed once the API answers
and a worker has finished its first repair pass, and names what a new user needs: the
console, the dev inbox, one line that points a second shell's ``herald`` commands at
this instance, ``herald fire``, and who that test alert pages (asked of the running
instance's own dry run, so it is whoever is on call now).
"""
from __future__ import annotations

import base64
import errno
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from service.dev.local_redis import free_port, start_redis
from service.dev.simulator.app import DEFAULT_TWILIO_AUTH_TOKEN
from service.dev.simulator.callbacks import load_signing_key, public_key_b64
from service.dev.simulator.slack import DEFAULT_SLACK_SIGNING_SECRET, DEFAULT_SLACK_TOKEN

DEV_ALERTMANAGER_TOKEN = "dev-alertmanager-token"
DEV_API_TOKEN = "dev-api-token"
HOST = "127.0.0.1"  # where `herald serve` binds by default
#: How long the API and the first worker repair pass may take to come up before giving up.
READY_TIMEOUT = 120.0


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def simulator_env(sim_url: str, key_file: Path) -> dict[str, str]:
    """Settings that point the SDKs (Twilio, SendGrid, Slack) at the simulator, and its signing key file."""
    if not key_file.exists():
        key = load_signing_key(None)
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    public = public_key_b64(load_signing_key(key_file.read_text()))
    return {
        "HERALD_TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
        "HERALD_TWILIO_AUTH_TOKEN": DEFAULT_TWILIO_AUTH_TOKEN, "HERALD_TWILIO_FROM": "+15550009999",
        "HERALD_TWILIO_API_BASE": sim_url, "HERALD_SENDGRID_API_KEY": "SG.simulator",
        "HERALD_SENDGRID_FROM": "herald@example.com", "HERALD_SENDGRID_API_BASE": sim_url,
        "HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY": public,
        "HERALD_SLACK_BOT_TOKEN": DEFAULT_SLACK_TOKEN, "HERALD_SLACK_SIGNING_SECRET": DEFAULT_SLACK_SIGNING_SECRET,
        "HERALD_SLACK_API_BASE": sim_url + "/api/",
    }


#: The outgoing webhook endpoint ``herald dev`` adds: the simulator's receiver, its secret here.
DEV_WEBHOOK = "dev-inbox"
DEV_WEBHOOK_SECRET_ENV = "HERALD_WEBHOOK_DEV_SECRET"


def dev_config(source: Path, state_dir: Path, sim_url: str) -> Path:
    """The example configuration plus one outgoing webhook endpoint, the simulator's
    receiver (``/_sim/webhooks``, whose port is only known now), written to
    ``state_dir/herald-dev.yaml``; calendar paths are made absolute so they still resolve."""
    import yaml

    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    for schedule in data.get("schedules") or []:
        if schedule.get("calendar"):
            schedule["calendar"] = str((source.parent / schedule["calendar"]).resolve())
    data["webhooks"] = [*(data.get("webhooks") or []), {
        "name": DEV_WEBHOOK, "url": f"{sim_url}/_sim/webhooks", "secret_env": DEV_WEBHOOK_SECRET_ENV,
        "timeout": "5s"}]
    target = state_dir / "herald-dev.yaml"
    target.write_text(f"# Written by herald dev from {source}: that file, plus an outgoing webhook to the simulator.\n"
                      + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


# -- the port -----------------------------------------------------------------------------------
def port_in_use(port: int, host: str = HOST) -> OSError | None:
    """Why ``herald serve`` could not bind ``host:port`` now (None: it could). Binds the
    way uvicorn does (SO_REUSEADDR), so a port in TIME_WAIT counts as free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc
    return None


def port_problem(port: int, host: str = HOST) -> str | None:
    """The error to print when the API's port is not free, naming the port and how to
    choose another (with a free one to try); None when it is free."""
    exc = port_in_use(port, host)
    if exc is None:
        return None
    spare = next((p for p in range(port + 1, min(port + 100, 65536)) if port_in_use(p, host) is None), None)
    instead = spare or 8081
    why = ("is already in use (another program listens on it)" if exc.errno == errno.EADDRINUSE
           else f"cannot be used ({exc.strerror or exc})")
    return (f"herald dev: port {port} on {host} {why}, so Herald cannot start there.\n"
            f"Choose another port: make run PORT={instead}   (or: herald dev --port {instead})")


# -- waiting for the processes --------------------------------------------------------------------
def _wait_ready(url: str, redis_url: str, children: dict[str, subprocess.Popen],
                timeout: float = READY_TIMEOUT) -> str | None:
    """Wait until the API answers and a worker has finished a repair pass since now (the
    Redis data may be a previous run's); the error when a child exits first or
    ``timeout`` passes (None: ready)."""
    import httpx

    from integrations.status_store import StatusStore
    from service.redis_clients import connect_url

    status = StatusStore(connect_url(redis_url, socket_timeout=5))
    started = time.time()  # workers stamp their repair passes with the wall clock
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for name, child in children.items():
                if child.poll() is not None:
                    return f"herald dev: the {name} exited with status {child.returncode} while starting (see above)"
            try:
                api = httpx.get(url + "/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                api = False
            if api and status.workers_alive(since=started):
                return None
            time.sleep(0.2)
    finally:
        status.close()
    return f"herald dev: Herald did not come up within {timeout:.0f} s (no answer on {url}/healthz or no worker repair pass)"


# -- who the test alert pages ---------------------------------------------------------------------
def first_page(url: str, api_token: str, config_path: str) -> dict[str, Any] | None:
    """Who ``herald fire`` (its defaults) pages first, asked of the running instance's
    dry run: {"tier", "people": [(name, phone)], "channels"}; None if it cannot tell."""
    from datetime import datetime, timezone

    import httpx

    from routing.fire import fire_payload
    from integrations.config.model import ConfigError, load_config

    try:
        config = load_config(config_path)
        payload = fire_payload(now=datetime.now(timezone.utc), mapping=config.severity)
        r = httpx.post(f"{url}/api/v1/simulate", json=payload, timeout=15,
                       headers={"Authorization": f"Bearer {api_token}"})
        r.raise_for_status()
        steps = [s for plan in r.json()["plans"] for s in plan["steps"]]
    except (ConfigError, httpx.HTTPError, ValueError, KeyError):
        return None
    if not steps:
        return {"tier": "", "people": [], "channels": []}
    first = min(steps, key=lambda s: s["at"])
    people = [(config.people[p].name if p in config.people else p,
               config.people[p].phone if p in config.people else None) for p in first["people"]]
    return {"tier": first["tier"], "people": people, "channels": first["channels"]}


def _paged_lines(paged: dict[str, Any] | None, sim_url: str) -> str:
    if paged is None:
        return ("Who it pages: see the incident in the console" + (" and the dev inbox" if sim_url else "") + ".\n")
    if not paged["people"]:
        return "Nobody is on call for it right now: the incident waits for coverage (see the console).\n"
    names = ", ".join(f"{name} ({phone})" if phone else name for name, phone in paged["people"])
    lines = f"It pages {paged['tier']}: {names}, by {' and '.join(paged['channels'])}.\n"
    name, phone = paged["people"][0]
    if sim_url and phone:
        body = shlex.quote('{"from": "%s", "body": "4"}' % phone)
        lines += (f"Acknowledge as {name} in the dev inbox, or reply 4 to the SMS from here:\n"
                  f"  curl -sS -X POST {sim_url}/_sim/reply -H 'Content-Type: application/json' -d {body}\n")
    return lines


# -- the banner ----------------------------------------------------------------------------------
def paste_line(env: dict[str, str], dev_set: set[str]) -> str:
    """The ``export`` a second shell pastes so that ``herald fire``, ``oncall``,
    ``simulate`` and ``schedules lint`` talk to this instance. Tokens are included
    only when this command chose them (yours stay out of the terminal)."""
    values = {"HERALD_REDIS_URL": env["HERALD_REDIS_URL"],
              "HERALD_CONFIG": str(Path(env["HERALD_CONFIG"]).resolve()),
              "HERALD_PUBLIC_URL": env["HERALD_PUBLIC_URL"]}
    for name in ("HERALD_ALERTMANAGER_TOKEN", "HERALD_API_TOKEN"):
        if name in dev_set:
            values[name] = env[name]
    if DEV_WEBHOOK_SECRET_ENV in env and "HERALD_CONFIG" in dev_set:  # the generated file names it
        values[DEV_WEBHOOK_SECRET_ENV] = env[DEV_WEBHOOK_SECRET_ENV]
    words = [f"{k}={shlex.quote(v)}" for k, v in values.items()]
    scripts = Path(sys.executable).parent  # the virtualenv's bin/ (not resolved: that is the system's)
    on_path = shutil.which("herald") == str(scripts / "herald")
    if (scripts / "herald").exists() and not on_path:
        words.insert(0, f'PATH={shlex.quote(str(scripts.absolute()))}:"$PATH"')
    return "export " + " ".join(words)


def banner(*, url: str, redis_url: str, state_dir: Path, sim_url: str, env: dict[str, str], dev_set: set[str],
           paged: dict[str, Any] | None) -> str:
    def token(name: str) -> str:
        return env[name] if name in dev_set else f"(yours, from {name})"

    inbox = (f"  Dev inbox:    {sim_url}/_sim/inbox   (what each person received; also in the console)\n"
             if sim_url else "  Providers:    real Twilio/SendGrid credentials: pages go to real phones and inboxes\n")
    return f"""
Herald is running at {url}   (Redis {redis_url}, data in {state_dir}/redis)
  Web console:  {url}/ui/   (log in with the API token)
{inbox}  API docs:     {url}/docs
  API token: {token('HERALD_API_TOKEN')}    Alertmanager token: {token('HERALD_ALERTMANAGER_TOKEN')}

In a second shell, paste this line: then herald fire, herald oncall, herald simulate and
herald schedules lint use this instance.
  {paste_line(env, dev_set)}

Fire a test alert (a new one each time; --severity P0..P3, or a name of your own):
  herald fire
  herald fire --resolve
{_paged_lines(paged, sim_url)}
List incidents:
  curl -sS -H 'Authorization: Bearer {token('HERALD_API_TOKEN')}' {url}/api/v1/incidents

Ctrl-C stops everything.
"""


def run_dev(port: int = 8080, state_dir: Path = Path(".herald")) -> int:
    problem = port_problem(port)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` and `timeout` stop everything too
    signal.signal(signal.SIGHUP, _interrupt)
    env = dict(os.environ)
    defaults = {"HERALD_CONFIG": "deploy/examples/herald.yaml", "HERALD_PUBLIC_URL": f"http://{HOST}:{port}",
                "HERALD_ALERTMANAGER_TOKEN": DEV_ALERTMANAGER_TOKEN, "HERALD_API_TOKEN": DEV_API_TOKEN,
                "HERALD_SWEEP_INTERVAL": "5"}
    dev_set = {name for name in defaults if not env.get(name)}
    env.update({name: defaults[name] for name in dev_set})
    url = env["HERALD_PUBLIC_URL"]
    children: dict[str, subprocess.Popen] = {}
    redis_server = None
    try:
        redis_server = start_redis(state_dir / "redis")
        env["HERALD_REDIS_URL"] = redis_server.url
        herald = [sys.executable, "-m", "service.cli.main"]
        real = env.get("HERALD_TWILIO_ACCOUNT_SID") or env.get("HERALD_SENDGRID_API_KEY")
        sim_url = ""
        if not real:
            sim_port = free_port()
            sim_url = f"http://{HOST}:{sim_port}"
            key_file = state_dir / "simulator-sendgrid-key.pem"
            own_slack = bool(env.get("HERALD_SLACK_BOT_TOKEN"))  # a real Slack workspace stays yours
            env.update({k: v for k, v in simulator_env(sim_url, key_file).items()
                        if not (own_slack and k.startswith("HERALD_SLACK_"))})
            if "HERALD_CONFIG" in dev_set:  # the example file: show outgoing webhooks in the dev inbox too
                env["HERALD_CONFIG"] = str(dev_config(Path(env["HERALD_CONFIG"]), state_dir, sim_url))
                env[DEV_WEBHOOK_SECRET_ENV] = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
            children["provider simulator"] = subprocess.Popen(
                [*herald, "sim", "--port", str(sim_port), "--herald-url", url, "--sendgrid-key-file", str(key_file)],
                env=env)
        children["API"] = subprocess.Popen([*herald, "serve", "--port", str(port)], env=env)
        children["worker"] = subprocess.Popen([*herald, "worker"], env=env)
        failed = _wait_ready(f"http://{HOST}:{port}", redis_server.url, children)
        if failed:
            if children["API"].poll() is not None:  # another program took the port after the check?
                failed = port_problem(port) or failed
            print(failed, file=sys.stderr)
            return 1
        paged = first_page(f"http://{HOST}:{port}", env["HERALD_API_TOKEN"], env["HERALD_CONFIG"])
        print(banner(url=url, redis_url=redis_server.url, state_dir=state_dir, sim_url=sim_url, env=env,
                     dev_set=dev_set, paged=paged), flush=True)
        while all(child.poll() is None for child in children.values()):
            time.sleep(0.5)
        print("herald: a process exited; stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children.values():
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        if redis_server is not None:
            redis_server.stop()
