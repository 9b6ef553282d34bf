"""``simulate`` and a real run of the same payload produce the same pages, in the same
order, to the same people: the dry run replays the worker's own decide(). The real run
never pages before the planned time (how late after it the timers fire is what
``bench/escalation.py`` measures)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx
import pytest

from tests.herald_env import AM_TOKEN, API_TOKEN, env_for, fixture_payload, write_config
from tests.processes import serve_with_worker, stop_all, wait_for, wait_worker_ready

pytestmark = pytest.mark.slow
API = {"Authorization": f"Bearer {API_TOKEN}"}
AM = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}
DELAY = 1


def test_dry_run_agrees_with_the_real_run(tmp_path, redis_url):
    env = {**env_for(write_config(tmp_path, delay=f"{DELAY}s"), redis_url), "HERALD_SWEEP_INTERVAL": "0.5"}
    api, url, worker = serve_with_worker(env)
    try:
        wait_worker_ready(redis_url, worker)
        payload = fixture_payload("firing.json")
        payload["commonLabels"]["severity"] = "info"  # P3: no business hours configured, no repeats
        for alert in payload["alerts"]:
            alert["labels"]["severity"] = "info"
        r = httpx.post(f"{url}/api/v1/alertmanager", content=json.dumps(payload), headers=AM, timeout=10)
        assert r.status_code == 200, r.text
        incident_id = r.json()["incidents"][0]["id"]

        def real_pages():
            got = httpx.get(f"{url}/api/v1/incidents/{incident_id}", headers=API, timeout=10)
            assert got.status_code == 200, got.text
            incident = got.json()
            return incident, [e for e in incident["timeline"] if e["kind"] == "page"]

        incident, pages = wait_for(lambda: (lambda i, p: (i, p) if len(p) == 4 else None)(*real_pages()),
                                   4 * DELAY + 30, "four escalation rounds", worker)
        created = datetime.fromisoformat(incident["created_at"])
        simulated = httpx.post(f"{url}/api/v1/simulate", params={"at": incident["created_at"]},
                               content=json.dumps(payload), headers=API, timeout=10)
        assert simulated.status_code == 200, simulated.text
        planned = simulated.json()["plans"][0]["steps"]
        expected = [(s["tier"], p, c, datetime.fromisoformat(s["at"])) for s in planned
                    for p in s["people"] for c in s["channels"]]
        actual = [(e["details"]["tier"], e["details"]["person"], e["details"]["channel"],
                   datetime.fromisoformat(e["at"])) for e in pages]
        assert [a[:3] for a in actual] == [e[:3] for e in expected]
        assert (expected[0][3] - created).total_seconds() == 0
        assert [(b[3] - a[3]).total_seconds() for a, b in zip(expected, expected[1:])] == [DELAY] * 3
        for (*_, real_at), (*_, plan_at) in zip(actual, expected):
            assert real_at >= plan_at, (real_at, plan_at)  # never early
        # Each round began at least DELAY after the one before really did (a late round
        # moves the next one; it never shortens a tier's window).
        started = [datetime.fromisoformat(e["at"]) for e in incident["timeline"]
                   if e["kind"] in ("paging", "escalated")]
        assert len(started) == 4 and all(b - a >= timedelta(seconds=DELAY) for a, b in zip(started, started[1:]))
    finally:
        stop_all(worker, api)
