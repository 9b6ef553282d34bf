"""Grafana Alerting webhook bodies in the exact shape of Grafana's documentation
(tests/fixtures/grafana/firing.json, copied from its "Webhook notifier" page), their times
moved to just before now."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "grafana"
GO_ZERO_TIME = "0001-01-01T00:00:00Z"
DASHBOARD = "https://play.grafana.org/d/a1b2c3/node-memory?orgId=1"
PANEL = "https://play.grafana.org/d/a1b2c3/node-memory?orgId=1&viewPanel=4"


@cache
def _documented() -> dict:
    return json.loads((FIXTURES / "firing.json").read_text())


def _at(ago: timedelta) -> str:
    """A time like Grafana writes them: microseconds and an offset (here +02:00)."""
    return (datetime.now(timezone.utc) - ago).astimezone(timezone(timedelta(hours=2))).isoformat()


def grafana_body(status: str = "firing", group_key: str = "{}:{}", dashboard: bool = True) -> dict:
    """Grafana's documented example: two firing alerts (or, ``status="resolved"``, the same
    two resolved, as Grafana sends them once they recover). ``dashboard``: the first alert
    carries a dashboard and a panel URL (a rule linked to a panel), the second none."""
    body = copy.deepcopy(_documented())
    body["groupKey"] = group_key
    for number, alert in enumerate(body["alerts"]):
        alert["startsAt"] = _at(timedelta(minutes=10 - number))
        if status == "resolved":
            alert["status"] = "resolved"
            alert["endsAt"] = _at(timedelta(seconds=30))
    if dashboard:
        body["alerts"][0]["dashboardURL"], body["alerts"][0]["panelURL"] = DASHBOARD, PANEL
    if status == "resolved":
        body.update(status="resolved", state="ok", title="[RESOLVED]  (blue)")
    return body
