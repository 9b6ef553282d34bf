"""Without Slack's settings: Slack's endpoints refuse everything, no incident follows into
Slack, and a tier's "slack" pages print to the console like any unconfigured channel."""
from __future__ import annotations

import time
from urllib.parse import urlencode

from integrations.console_notify import ConsoleNotifier
from integrations.slack_client import sign


def test_slack_endpoints_refuse_every_request_when_slack_is_not_configured(client, herald):
    assert herald.slack_api is None and "slack" not in herald.followers
    assert isinstance(herald.notifiers["slack"], ConsoleNotifier)
    body = urlencode({"user_id": "U1", "text": "oncall", "trigger_id": "1.2"}).encode()
    stamp = str(int(time.time()))
    for secret in ("any-secret-at-all", ""):
        r = client.post("/webhooks/slack/commands", content=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": sign(secret or "x", body, stamp)})
        assert r.status_code == 401 and "Slack is not configured" in r.json()["detail"]
    r = client.post("/webhooks/slack/interactions", data={"payload": "{}"})
    assert r.status_code == 401
