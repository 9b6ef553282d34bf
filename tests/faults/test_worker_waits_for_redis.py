"""A worker started while Redis is down waits for it instead of exiting, then pages."""
from __future__ import annotations

import json

import httpx
import pytest

from service.dev.local_redis import free_port, start_redis
from tests.herald_env import AM_TOKEN, env_for, fixture_payload, write_config
from tests.processes import await_api, herald, port_taken, serve, spawn_api, stop_all, wait_for

pytestmark = pytest.mark.slow
RETRYING = "herald.worker: Redis unreachable"


def test_worker_started_before_redis_waits_and_then_pages(tmp_path):
    port = free_port()
    env = {**env_for(write_config(tmp_path / "conf"), f"redis://127.0.0.1:{port}/0"), "HERALD_SWEEP_INTERVAL": "2"}
    worker = herald("worker", env=env)
    api, url = spawn_api(env)  # (the API starts up meanwhile; it answers once Redis is there)
    server = None
    try:
        # It tried, waited and tried again, and is still there: waiting, not exiting.
        wait_for(lambda: sum(RETRYING in line for line in worker.lines) >= 2, 30, "the worker retrying", worker)
        assert worker.process.poll() is None, worker.output()
        server = start_redis(tmp_path / "redis", port, appendonly=False)
        try:
            await_api(api, url)
        except AssertionError as exc:  # a parallel test took its port first: another one
            if not port_taken(exc):
                raise
            api, url = serve(env)
        r = httpx.post(f"{url}/api/v1/alertmanager", content=json.dumps(fixture_payload("firing.json")),
                       headers={"Authorization": f"Bearer {AM_TOKEN}"}, timeout=10)
        assert r.status_code == 200, r.text
        wait_for(lambda: any("PAGE [sms]" in line and "Alice Adams" in line for line in worker.lines), 30,
                 "the worker paging alice", worker)
    finally:
        stop_all(worker, api)
        if server is not None:
            server.stop()
