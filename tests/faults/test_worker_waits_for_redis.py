"""A worker started while Redis is down waits for it instead of exiting, then pages."""
from __future__ import annotations

import json
import time

import httpx
import pytest

from integrations.local_redis import free_port, start_redis
from tests.herald_env import AM_TOKEN, env_for, fixture_payload, write_config
from tests.processes import herald, serve, wait_for

pytestmark = pytest.mark.slow


def test_worker_started_before_redis_waits_and_then_pages(tmp_path):
    port = free_port()
    env = {**env_for(write_config(tmp_path / "conf"), f"redis://127.0.0.1:{port}/0"), "HERALD_SWEEP_INTERVAL": "2"}
    worker = herald("worker", env=env)
    server = None
    try:
        time.sleep(3)
        assert worker.process.poll() is None, worker.output()  # still there, waiting
        server = start_redis(tmp_path / "redis", port, appendonly=False)
        api, url = serve(env)
        try:
            r = httpx.post(f"{url}/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")),
                           headers={"Authorization": f"Bearer {AM_TOKEN}"})
            assert r.status_code == 200, r.text
            wait_for(lambda: any("PAGE [sms]" in line and "Alice Adams" in line for line in worker.lines), 20,
                     "the worker paging alice", worker)
        finally:
            api.stop()
    finally:
        worker.stop()
        if server is not None:
            server.stop()
