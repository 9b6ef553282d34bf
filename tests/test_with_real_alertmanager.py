"""An unmodified Prometheus Alertmanager posting to ``herald serve``: bearer and basic
auth, firing opens an incident that pages L1, resolved resolves it.

Alertmanager keeps the real clock under ``make test-future`` (a Go binary ignores
libfaketime) while Herald's moves 45 or 400 days ahead: the timestamps Herald receives
are then that much older than its own clock. The ``old`` case sends the same 400-day
gap on every run: an alert whose startsAt is 400 days before now still pages and
resolves."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.alertmanager_harness import alertmanager_binary, start_alertmanager
from tests.herald_env import AM_TOKEN, env_for, write_config
from tests.processes import herald, incident, incidents, serve, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(alertmanager_binary() is None,
                       reason="prometheus-alertmanager is not installed (.ci/run installs it)"),
]
ALERT = {"labels": {"alertname": "DiskFull", "service": "db", "instance": "db1:9100", "severity": "critical"},
         "annotations": {"summary": "Disk almost full on db1"},
         "generatorURL": "http://prometheus.example:9090/graph"}


@pytest.mark.parametrize("auth, age_days", [("bearer", 0), ("basic", 0), ("bearer", 400)],
                         ids=["bearer", "basic", "bearer-400-days-old"])


def test_alertmanager_to_page_and_resolve(tmp_path, redis_url, auth, age_days):
    env = env_for(write_config(tmp_path / "conf"), redis_url)
    api, url = serve(env)
    worker = herald("worker", env={**env, "HERALD_PUBLIC_URL": url})
    credentials = {"bearer": AM_TOKEN} if auth == "bearer" else {"basic_auth": ("alertmanager", AM_TOKEN)}
    alert = dict(ALERT)
    if age_days:  # a datetime on our clock: the harness sends it on Alertmanager's
        alert["startsAt"] = datetime.now(timezone.utc) - timedelta(days=age_days)
    try:
        with start_alertmanager(tmp_path / "am", f"{url}/api/v1/alertmanager", **credentials) as am:
            am.post_alerts([alert])
            [opened] = wait_for(lambda: incidents(url), 20, "Alertmanager's webhook", api)
            assert opened["severity"] == "P1" and opened["title"] == "Disk almost full on db1"
            [received] = incident(url, opened["id"])["alerts"].values()
            sent_at = datetime.fromisoformat(received["starts_at"].replace("Z", "+00:00"))
            gap = datetime.now(timezone.utc) - sent_at  # Herald's clock minus Alertmanager's startsAt
            expected = timedelta(days=age_days) - am.clock_offset
            assert abs(gap - expected) < timedelta(seconds=30), f"startsAt {sent_at}: {gap} before now"
            paged = wait_for(lambda: [e for e in incident(url, opened["id"])["timeline"] if e["kind"] == "page"],
                             20, "the L1 page", worker)
            assert paged[0]["details"]["person"] == "alice"
            am.resolve_alerts([alert])
            wait_for(lambda: incident(url, opened["id"])["status"] == "resolved", 20, "the resolve", api)
            assert len(incidents(url)) == 1
    finally:
        worker.stop()
        api.stop()
