"""Integrations' events as alert groups (routing.integration): pure."""
from datetime import datetime, timedelta, timezone

import pytest

from routing.integration import Integration, Link, SourceEvent, event_group, links_of
from routing.routes import build_route

NOW = datetime.now(timezone.utc).replace(microsecond=0)
ROUTE = build_route({"policy": "default", "routes": [{"policy": "db", "matchers": ['team="db"']}]})


def pd(**kw) -> Integration:
    return Integration(name="billing", kind="pagerduty", **kw)


def test_a_trigger_is_one_firing_alert_keyed_by_its_dedup_key():
    event = SourceEvent("trigger", "disk-full/db1", summary="Disk full on db1", severity="P1",
                        labels={"severity": "critical"}, details={"free": "0%"},
                        links=(Link("https://grafana.example/d/1", "dashboard"),), source="db1")
    group = event_group(pd(), event, ROUTE, NOW)
    assert (group.receiver, group.group_key, group.policies, group.severity) == (
        "pagerduty:billing", "disk-full/db1", ("default",), "P1")
    assert (group.by, group.via, group.title) == ("billing", "pagerduty", "Disk full on db1")
    [alert] = group.alerts
    assert (alert.fingerprint, alert.status, alert.starts_at, alert.ends_at) == ("disk-full/db1", "firing", NOW, None)
    assert alert.labels == {"severity": "critical", "integration": "billing"}
    assert alert.annotations["free"] == "0%" and alert.annotations["source"] == "db1"
    assert alert.generator_url == "https://grafana.example/d/1"
    assert links_of(alert.annotations) == [Link("https://grafana.example/d/1", "dashboard")]


def test_the_integration_decides_where_its_alerts_go():
    event = SourceEvent("trigger", "k", summary="x", labels={"team": "web"})
    assert event_group(pd(labels={"team": "db"}), event, ROUTE, NOW).policies == ("db",)  # its labels win
    assert event_group(pd(policy="ops"), event, ROUTE, NOW).policies == ("ops",)  # a policy skips the tree
    assert event_group(pd(), event, ROUTE, NOW, policies=["db", "ops"]).policies == ("db", "ops")


def test_a_resolve_ends_with_no_length_and_an_acknowledge_is_no_alert():
    group = event_group(pd(), SourceEvent("resolve", "k"), ROUTE, NOW + timedelta(minutes=3))
    [alert] = group.alerts
    assert alert.status == "resolved" and alert.starts_at == alert.ends_at == NOW + timedelta(minutes=3)
    assert group.title == "k"  # no summary: the key names it
    with pytest.raises(ValueError, match="command"):
        event_group(pd(), SourceEvent("acknowledge", "k"), ROUTE, NOW)


def test_severity_words_map_through_the_integration_then_its_kind():
    assert pd().severity_of("error") == "P2" and pd().severity_of("Critical") == "P1"
    assert pd(severity={"critical": "P0"}).severity_of("critical") == "P0"
    assert pd().severity_of("P3") == "P3"  # a P-level is taken as it is
    assert pd(default_severity="P3").severity_of("bogus") == "P3"
    assert Integration(name="og", kind="opsgenie").severity_of("P5") == "P3"


@pytest.mark.parametrize("bad, match", [
    (dict(kind="nagios"), "kind must be one of"),
    (dict(kind="pagerduty", severity={"critical": "P9"}), "P9"),
])
def test_a_wrong_integration_is_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        Integration(name="x", **bad)


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_a_dedup_key_is_one_to_255_characters(key):
    with pytest.raises(ValueError, match="1 to 255"):
        SourceEvent("trigger", key)
    assert SourceEvent("trigger", "k" * 255).dedup_key == "k" * 255


def test_unreadable_links_are_none():
    assert links_of({"links": "not json"}) == [] and links_of({"links": '{"a": 1}'}) == [] and links_of({}) == []


def test_a_detail_never_takes_the_place_of_the_summary_the_source_or_the_links():
    event = SourceEvent("trigger", "k", summary="Disk full", source="db1", links=(Link("https://a.example/"),),
                        details={"summary": "from the tool", "source": "x", "links": "[]", "free": "1%"})
    [alert] = event_group(pd(), event, ROUTE, NOW).alerts
    assert (alert.annotations["summary"], alert.annotations["source"]) == ("Disk full", "db1")
    assert links_of(alert.annotations) == [Link("https://a.example/")]
    assert (alert.annotations["details.summary"], alert.annotations["details.source"], alert.annotations["free"]) == (
        "from the tool", "x", "1%")
