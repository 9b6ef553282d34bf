"""An unmodified Prometheus Alertmanager posting to ``herald serve``: bearer and basic
auth, firing opens an incident that pages L1, resolved resolves it."""
from __future__ import annotations

import httpx
import pytest

from tests.alertmanager_harness import alertmanager_binary, start_alertmanager
from tests.herald_env import AM_TOKEN, API_TOKEN, env_for, write_config
from tests.processes import herald, serve, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(alertmanager_binary() is None,
                       reason="prometheus-alertmanager is not installed (.ci/run installs it)"),
]
API = {"Authorization": f"Bearer {API_TOKEN}"}
ALERT = {"labels": {"alertname": "DiskFull", "service": "db", "instance": "db1:9100", "severity": "critical"},
         "annotations": {"summary": "Disk almost full on db1"},
         "generatorURL": "http://prometheus.example:9090/graph"}


def incidents(url: str) -> list[dict]:
    return httpx.get(f"{url}/api/v1/incidents", headers=API).json()["incidents"]


def incident(url: str, incident_id: str) -> dict:
    return httpx.get(f"{url}/api/v1/incidents/{incident_id}", headers=API).json()


@pytest.mark.parametrize("auth", ["bearer", "basic"])
def test_alertmanager_to_page_and_resolve(tmp_path, redis_url, auth):
    env = env_for(write_config(tmp_path / "conf"), redis_url)
    api, url = serve(env)
    worker = herald("worker", env={**env, "HERALD_PUBLIC_URL": url})
    credentials = {"bearer": AM_TOKEN} if auth == "bearer" else {"basic_auth": ("alertmanager", AM_TOKEN)}
    try:
        with start_alertmanager(tmp_path / "am", f"{url}/api/v1/alertmanager", **credentials) as am:
            am.post_alerts([ALERT])
            [opened] = wait_for(lambda: incidents(url), 20, "Alertmanager's webhook", api)
            assert opened["severity"] == "P1" and opened["title"] == "Disk almost full on db1"
            paged = wait_for(lambda: [e for e in incident(url, opened["id"])["timeline"] if e["kind"] == "page"],
                             10, "the L1 page", worker)
            assert paged[0]["details"]["person"] == "alice"
            am.resolve_alerts([ALERT])
            wait_for(lambda: incident(url, opened["id"])["status"] == "resolved", 20, "the resolve", api)
            assert len(incidents(url)) == 1
    finally:
        worker.stop()
        api.stop()
