"""``herald dev`` (what ``make run`` starts): a private Redis, the provider simulator,
the API and a worker.

Unless real Twilio / SendGrid credentials are in the environment, the official SDKs
are pointed at the simulator on loopback, whose dev inbox shows what each person
received. Everything it starts is a child process and stops on Ctrl-C.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from integrations.local_redis import free_port, start_redis
from integrations.simulator import DEFAULT_TWILIO_AUTH_TOKEN
from integrations.simulator_callbacks import load_signing_key, public_key_b64

DEV_ALERTMANAGER_TOKEN = "dev-alertmanager-token"
DEV_API_TOKEN = "dev-api-token"


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def simulator_env(sim_url: str, key_file: Path) -> dict[str, str]:
    """Settings that point both SDKs at the simulator, and its signing key file."""
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
    }


def run_dev(port: int = 8080, state_dir: Path = Path(".herald")) -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` and `timeout` stop everything too
    signal.signal(signal.SIGHUP, _interrupt)
    redis_server = start_redis(state_dir / "redis")
    env = dict(os.environ)
    env.setdefault("HERALD_CONFIG", "deploy/examples/herald.yaml")
    env["HERALD_REDIS_URL"] = redis_server.url
    env.setdefault("HERALD_PUBLIC_URL", f"http://127.0.0.1:{port}")
    env.setdefault("HERALD_ALERTMANAGER_TOKEN", DEV_ALERTMANAGER_TOKEN)
    env.setdefault("HERALD_API_TOKEN", DEV_API_TOKEN)
    env.setdefault("HERALD_SWEEP_INTERVAL", "5")
    url = env["HERALD_PUBLIC_URL"]
    herald = [sys.executable, "-m", "service.cli"]
    children = []
    real = env.get("HERALD_TWILIO_ACCOUNT_SID") or env.get("HERALD_SENDGRID_API_KEY")
    sim_url = ""
    if not real:
        sim_port = free_port()
        sim_url = f"http://127.0.0.1:{sim_port}"
        key_file = state_dir / "simulator-sendgrid-key.pem"
        env.update(simulator_env(sim_url, key_file))
        children.append(subprocess.Popen([*herald, "sim", "--port", str(sim_port), "--herald-url", url,
                                          "--sendgrid-key-file", str(key_file)], env=env))
    children += [subprocess.Popen([*herald, "serve", "--port", str(port)], env=env),
                 subprocess.Popen([*herald, "worker"], env=env)]
    inbox = (f"Provider simulator: {sim_url} — dev inbox {sim_url}/_sim/inbox\n"
             f"Reply as Bob: curl -sS -X POST {sim_url}/_sim/reply -H 'Content-Type: application/json' "
             "-d '{\"from\": \"+15550100002\", \"body\": \"4\"}'\n") if sim_url else "Real providers configured.\n"
    print(f"""
Herald is running at {url}   (Redis {redis_server.url}, data in {state_dir}/redis)
API token: {env['HERALD_API_TOKEN']}    Alertmanager token: {env['HERALD_ALERTMANAGER_TOKEN']}
{inbox}
Fire a test alert:
  curl -sS -X POST {url}/api/v1/alertmanager \\
    -H 'Authorization: Bearer {env['HERALD_ALERTMANAGER_TOKEN']}' -H 'Content-Type: application/json' \\
    --data @deploy/examples/test-alert.json

List incidents:
  curl -sS -H 'Authorization: Bearer {env['HERALD_API_TOKEN']}' {url}/api/v1/incidents

Ctrl-C stops everything.
""", flush=True)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("herald: a process exited; stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        redis_server.stop()
