"""The Watchdog split off a webhook at the edge, before anything is routed (pure)."""
from datetime import datetime, timedelta, timezone

from routing.alertmanager import WebhookPayload
from routing.watchdog import split_watchdog
from tests.herald_env import fixture_payload

#: The Watchdog has been firing since Prometheus started, a month ago.
STARTED = (datetime.now(timezone.utc) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
MATCHERS = ('alertname="Watchdog"', 'prometheus=~"prom-.*"')


def watchdog(status: str = "firing", prometheus: str = "prom-a") -> dict:
    return {"status": status, "labels": {"alertname": "Watchdog", "prometheus": prometheus, "team": "db"},
            "annotations": {"summary": "always firing"}, "startsAt": STARTED,
            "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "wd1"}


def payload(*alerts: dict) -> WebhookPayload:
    body = fixture_payload("firing.json")
    return WebhookPayload.model_validate({**body, "alerts": list(alerts),
                                          "commonLabels": dict(alerts[0]["labels"]) if len(alerts) == 1 else {}})


def test_a_watchdog_only_payload_is_a_ping_and_leaves_nothing_to_route():
    split = split_watchdog(MATCHERS, payload(watchdog()))
    assert split.ping is True and split.rest is None


def test_a_mixed_payload_keeps_the_rest_with_its_common_labels_worked_out_again():
    disk = fixture_payload("firing.json")["alerts"][0]
    split = split_watchdog(MATCHERS, payload(watchdog(), disk))
    assert split.ping is True and split.rest is not None
    assert [a.fingerprint for a in split.rest.alerts] == [disk["fingerprint"]]
    assert split.rest.common_labels == disk["labels"]


def test_a_resolved_watchdog_is_no_ping_and_other_alerts_are_untouched():
    assert split_watchdog(MATCHERS, payload(watchdog("resolved"))).ping is False
    other = payload(watchdog(prometheus="elsewhere"))  # not every matcher matches: an ordinary alert
    assert split_watchdog(MATCHERS, other).rest is other and split_watchdog(None, other).rest is other
