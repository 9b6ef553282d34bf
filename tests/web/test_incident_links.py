"""The console's list of an incident's links: the alerts' own links (the ``links``
annotation an integration writes) first, each URL once, only http(s)."""
from __future__ import annotations

from datetime import datetime, timezone

from routing.incident import AlertState, Incident
from routing.integration import Link, links_annotation
from service.web.incident_view import links

NOW = datetime.now(timezone.utc)


def incident_of(*alerts: AlertState) -> Incident:
    return Incident(id="1", receiver="grafana:g", group_key="k", policy="p", severity="P2", title="t",
                    created_at=NOW, alerts={a.fingerprint: a for a in alerts})


def alert(fingerprint: str, name: str, *items: Link, **annotations: str) -> AlertState:
    return AlertState(fingerprint=fingerprint, status="firing", starts_at=NOW, labels={"alertname": name},
                      generator_url="https://g.example/alerting/rule/edit",
                      annotations={"links": links_annotation(items), **annotations})


def test_an_alerts_links_come_first_with_their_names():
    one = alert("a", "HighMemory", Link("https://g.example/d/1", "Dashboard"),
                Link("https://g.example/alerting/rule/edit", "Alert rule"), runbook_url="https://rb.example/m")
    assert links(incident_of(one)) == [("Dashboard", "https://g.example/d/1"),
                                       ("Alert rule", "https://g.example/alerting/rule/edit"),  # not twice
                                       ("runbook", "https://rb.example/m")]


def test_with_several_alerts_each_link_says_whose_it_is():
    found = links(incident_of(alert("a", "HighMemory", Link("https://g.example/d/1", "Dashboard")),
                              alert("b", "HighCPU", Link("https://g.example/d/2", "Dashboard"),
                                    Link("https://g.example/d/1", "Dashboard"))))
    assert found[:2] == [("HighMemory: Dashboard", "https://g.example/d/1"), ("HighCPU: Dashboard", "https://g.example/d/2")]
    assert [url for _, url in found].count("https://g.example/d/1") == 1


def test_a_link_that_is_not_http_is_left_out_and_an_unreadable_annotation_is_ignored():
    bad = alert("a", "X", Link("javascript:alert(1)", "Dashboard"), Link("https://g.example/d/1"))
    assert links(incident_of(bad))[0] == ("link", "https://g.example/d/1")
    broken = AlertState(fingerprint="b", status="firing", starts_at=NOW, annotations={"links": "{not json"})
    assert links(incident_of(broken)) == []
