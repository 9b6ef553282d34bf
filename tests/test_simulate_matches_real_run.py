"""``simulate`` and a real run of the same payload produce the same pages at the same
times: the dry run replays the worker's own decide()."""
from __future__ import annotations

import json
from datetime import datetime

import httpx
import pytest

from tests.herald_env import AM_TOKEN, API_TOKEN, env_for, fixture_payload, write_config
from tests.processes import herald, serve, wait_for

pytestmark = pytest.mark.slow
API = {"Authorization": f"Bearer {API_TOKEN}"}
AM = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}
DELAY = 2


def test_dry_run_agrees_with_the_real_run(tmp_path, redis_url):
    env = {**env_for(write_config(tmp_path, delay=f"{DELAY}s"), redis_url), "HERALD_SWEEP_INTERVAL": "2"}
    api, url = serve(env)
    worker = herald("worker", env={**env, "HERALD_PUBLIC_URL": url})
    try:
        payload = fixture_payload("firing.json")
        payload["commonLabels"]["severity"] = "info"  # P3: no business hours configured, no repeats
        for alert in payload["alerts"]:
            alert["labels"]["severity"] = "info"
        r = httpx.post(f"{url}/api/v1/alertmanager", content=json.dumps(payload), headers=AM)
        incident_id = r.json()["incidents"][0]["id"]

        def real_pages():
            incident = httpx.get(f"{url}/api/v1/incidents/{incident_id}", headers=API).json()
            return incident, [e for e in incident["timeline"] if e["kind"] == "page"]

        incident, pages = wait_for(lambda: (lambda i, p: (i, p) if len(p) == 4 else None)(*real_pages()),
                                   4 * DELAY + 15, "four escalation rounds", worker)
        created = datetime.fromisoformat(incident["created_at"])
        planned = httpx.post(f"{url}/api/v1/simulate", params={"at": incident["created_at"]},
                             content=json.dumps(payload), headers=API).json()["plans"][0]["steps"]
        expected = [(s["tier"], p, c, datetime.fromisoformat(s["at"])) for s in planned
                    for p in s["people"] for c in s["channels"]]
        actual = [(e["details"]["tier"], e["details"]["person"], e["details"]["channel"],
                   datetime.fromisoformat(e["at"])) for e in pages]
        assert [a[:3] for a in actual] == [e[:3] for e in expected]
        for (*_, real_at), (*_, plan_at) in zip(actual, expected):
            lateness = (real_at - plan_at).total_seconds()
            assert 0 <= lateness < 2.5, (real_at, plan_at)  # never early, sent within the timer's precision
        assert (expected[0][3] - created).total_seconds() == 0
    finally:
        worker.stop()
        api.stop()
