"""Grafana Alerting's webhook (version "1") as an alert group (routing.grafana): pure."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from routing.grafana import GrafanaPayload, grafana_group, is_grafana_body
from routing.integration import Integration, Link, links_of
from routing.routes import build_route
from routing.severity import SeverityMapping
from tests.grafana_payloads import DASHBOARD, PANEL, grafana_body

ROUTE = build_route({"policy": "default", "routes": [{"policy": "db", "matchers": ['team="db"']}]})
SEVERITY = SeverityMapping()
GRAFANA = Integration(name="grafana-main", kind="grafana")


def group_of(body: dict, integration: Integration = GRAFANA):
    return grafana_group(GrafanaPayload.model_validate_json(json.dumps(body)), integration, ROUTE, SEVERITY)


def test_the_documented_payload_is_one_group_of_its_alerts_with_their_links():
    group = group_of(grafana_body())
    assert (group.receiver, group.group_key, group.policies) == ("grafana:grafana-main", "{}:{}", ("default",))
    assert (group.by, group.via, group.severity, group.more_firing) == ("grafana-main", "grafana", "P2", False)
    assert group.title == "(blue) (2 alerts)"  # Grafana's title without its changing "[FIRING:2]"
    first, second = group.alerts
    assert [a.fingerprint for a in group.alerts] == ["c6eadffa33fcdf37", "bc97ff14869b13e3"]
    assert first.status == second.status == "firing" and first.ends_at is None
    assert first.labels == {"alertname": "High memory usage", "team": "blue", "zone": "us-1",
                            "integration": "grafana-main"}
    assert first.annotations["runbook_url"] == "https://myrunbook.com/runbook/1234"
    assert first.annotations["values"] == "B=44.23943737541908, C=1"
    assert first.generator_url == "https://play.grafana.org/alerting/1afz29v7z/edit"
    assert [link.text for link in links_of(first.annotations)] == ["Dashboard", "Panel", "Alert rule", "Silence"]
    assert links_of(first.annotations)[:2] == [Link(DASHBOARD, "Dashboard"), Link(PANEL, "Panel")]
    # the documented second alert has no dashboard or panel: an empty URL is no link
    assert [link.text for link in links_of(second.annotations)] == ["Alert rule", "Silence"]


def test_a_resolved_notification_resolves_every_alert():
    group = group_of(grafana_body("resolved"))
    assert [a.status for a in group.alerts] == ["resolved", "resolved"]
    assert all(a.ends_at is not None and a.ends_at > a.starts_at for a in group.alerts)
    assert group.title == group_of(grafana_body()).title  # the same incident's title, not "[RESOLVED] ..."


@pytest.mark.parametrize("labels, integration, expected", [
    ({"severity": "critical"}, GRAFANA, "P1"),  # the file's severity mapping over the labels
    ({"priority": "P0"}, GRAFANA, "P0"),
    ({}, GRAFANA, "P2"),  # nothing to go by: the file's default
    ({"severity": "sev1"}, Integration(name="g", kind="grafana", severity={"sev1": "P0"}), "P0"),  # its own map
    ({"severity": "critical"}, Integration(name="g", kind="grafana", severity={"sev1": "P0"},
                                           default_severity="P3"), "P3"),  # its map, not the file's
])
def test_severity_from_the_labels(labels, integration, expected):
    body = grafana_body()
    body["alerts"][1]["labels"].update(labels)
    assert group_of(body, integration).severity == expected


def test_only_firing_alerts_set_the_severity_while_any_fires():
    body = grafana_body()
    body["alerts"][0]["labels"]["severity"] = "critical"
    body["alerts"][0].update(status="resolved", endsAt=body["alerts"][1]["startsAt"])
    assert group_of(body).severity == "P2"


def test_the_integration_decides_where_its_alerts_go():
    assert group_of(grafana_body(), Integration(name="g", kind="grafana", labels={"team": "db"})).policies == ("db",)
    assert group_of(grafana_body(), Integration(name="g", kind="grafana", policy="ops")).policies == ("ops",)
    body = grafana_body()
    body["commonLabels"]["team"] = "db"
    assert group_of(body).policies == ("db",)  # Grafana's common labels route it
    labels = group_of(body, Integration(name="g", kind="grafana", labels={"team": "web"})).alerts[0].labels
    assert labels["team"] == "web" and labels["integration"] == "g"


def test_titles():
    body = grafana_body()
    body["commonAnnotations"]["summary"] = "Memory is high in blue"
    assert group_of(body).title == "Memory is high in blue"
    one = grafana_body()
    one["alerts"] = one["alerts"][:1]
    assert group_of(one).title == "High memory usage"
    unnamed = grafana_body()
    for alert in unnamed["alerts"]:
        alert["labels"].pop("alertname")
    assert group_of(unnamed).title == "(blue) (2 alerts)"  # Grafana's title without [FIRING:2]


def test_a_sender_cannot_smuggle_its_own_links_annotation():
    body = grafana_body(dashboard=False)
    for alert in body["alerts"]:
        alert.update(generatorURL="", silenceURL="")
        alert["annotations"]["links"] = json.dumps([{"href": "javascript:alert(1)", "text": "x"}])
    assert all("links" not in a.annotations for a in group_of(body).alerts)


def test_truncated_alerts_mark_a_firing_group():
    body = grafana_body()
    body["truncatedAlerts"] = 3
    assert group_of(body).more_firing is True


@pytest.mark.parametrize("change, where", [
    ({"version": "4"}, "version"),
    ({"groupKey": ""}, "groupKey"),
    ({"alerts": []}, "alerts"),
])
def test_what_is_not_grafanas_payload_is_refused_naming_the_field(change, where):
    with pytest.raises(ValidationError) as caught:
        GrafanaPayload.model_validate_json(json.dumps({**grafana_body(), **change}))
    assert caught.value.errors()[0]["loc"][0] == where


def test_an_alert_time_without_a_zone_is_refused():
    body = grafana_body()
    body["alerts"][0]["startsAt"] = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0).isoformat()
    with pytest.raises(ValidationError, match="time zone"):
        GrafanaPayload.model_validate_json(json.dumps(body))


def test_grafanas_body_is_told_from_alertmanagers():
    assert is_grafana_body(grafana_body())
    assert not is_grafana_body({**grafana_body(), "version": "4"})
    assert not is_grafana_body([grafana_body()])
