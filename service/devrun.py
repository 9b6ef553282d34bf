"""``herald dev`` (what ``make run`` starts): a private Redis, the API and a worker.

Everything it starts is a child process and stops on Ctrl-C.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from integrations.local_redis import start_redis

DEV_ALERTMANAGER_TOKEN = "dev-alertmanager-token"
DEV_API_TOKEN = "dev-api-token"


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


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
    herald = [sys.executable, "-m", "service.cli"]
    children = [
        subprocess.Popen([*herald, "serve", "--port", str(port)], env=env),
        subprocess.Popen([*herald, "worker"], env=env),
    ]
    url = env["HERALD_PUBLIC_URL"]
    print(f"""
Herald is running at {url}   (Redis {redis_server.url}, data in {state_dir}/redis)
API token: {env['HERALD_API_TOKEN']}    Alertmanager token: {env['HERALD_ALERTMANAGER_TOKEN']}

Fire a test alert:
  curl -sS -X POST {url}/api/v1/alertmanager \\
    -H 'Authorization: Bearer {env['HERALD_ALERTMANAGER_TOKEN']}' -H 'Content-Type: application/json' \\
    --data @deploy/examples/test-alert.json

List incidents:
  curl -sS -H 'Authorization: Bearer {env['HERALD_API_TOKEN']}' {url}/api/v1/incidents

Pages are printed below (console notifier). Ctrl-C stops everything.
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
