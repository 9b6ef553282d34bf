"""Incident pages: the list (open first, filters), one incident (alerts, labels,
annotations, links, pages, timeline), and actions that go through herald.act."""
from __future__ import annotations

import copy

from tests.herald_env import API_TOKEN, fixture_payload
from tests.web.conftest import csrf_of, fire


def _alerts(**annotations):
    payload = fixture_payload("firing.json")
    payload["alerts"][0]["annotations"].update(annotations)
    return payload["alerts"]


def test_list_puts_open_first_and_filters(admin):
    first = fire(admin, groupKey="g1")
    second = fire(admin, groupKey="g2")
    web = copy.deepcopy(fixture_payload("firing.json")["alerts"])
    web[0]["labels"].update(service="web", severity="warning", alertname="Slow")
    third = fire(admin, groupKey="g3", alerts=web, commonLabels=web[0]["labels"])
    r = admin.post(f"/ui/incidents/{second}/resolve", data={"csrf": csrf_of(admin.get("/ui/").text)})
    assert r.status_code == 200 and "Resolved." in r.text, r.text
    everything = admin.get("/ui/incidents?status=all").text
    order = [everything.index(f'data-id="{i}"') for i in (third, first, second)]
    assert order == sorted(order), "open incidents first, newest first; resolved last"
    open_only = admin.get("/ui/incidents").text
    assert f'data-id="{second}"' not in open_only and f'data-id="{first}"' in open_only
    by_service = admin.get("/ui/incidents?status=all&service=web").text
    assert f'data-id="{third}"' in by_service and f'data-id="{first}"' not in by_service
    by_severity = admin.get("/ui/incidents?status=all&severity=P2").text
    assert f'data-id="{third}"' in by_severity and f'data-id="{first}"' not in by_severity
    assert f'data-id="{second}"' in admin.get("/ui/incidents?status=resolved").text
    assert admin.get("/ui/incidents?status=bogus&severity=<x>").status_code == 200


def test_incident_page_shows_alerts_links_pages_and_timeline(admin, herald):
    alerts = _alerts(runbook_url="https://runbooks.example/disk", dashboard_url="javascript:alert(1)")
    incident_id = fire(admin, alerts=alerts)
    page = admin.get(f"/ui/incidents/{incident_id}")
    assert page.status_code == 200
    text = page.text
    assert "Disk almost full on db1" in text and "db1:9100" in text and "less than 5% space" in text
    assert 'href="http://prometheus.example:9090/graph?g0.expr=' in text
    assert 'href="https://runbooks.example/disk"' in text
    assert 'href="javascript:' not in text
    assert "Paging L1: Alice Adams by sms" in text and "Triggered: P1" in text
    assert admin.get("/ui/incidents/999").status_code == 404


def test_everything_is_escaped(admin):
    alerts = _alerts(summary="<script>alert(1)</script>", description='"><img src=x onerror=alert(2)>')
    alerts[0]["labels"]["team"] = "<b>db</b>"
    incident_id = fire(admin, alerts=alerts, commonAnnotations={"summary": "<script>alert(1)</script>"})
    for path in (f"/ui/incidents/{incident_id}", "/ui/incidents", "/ui/"):
        text = admin.get(path).text
        assert "<script>alert(1)" not in text and "<img src=x" not in text and "<b>db</b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in admin.get(f"/ui/incidents/{incident_id}").text


def _post(client, incident_id, action, **data):
    csrf = csrf_of(client.get(f"/ui/incidents/{incident_id}").text)
    return client.post(f"/ui/incidents/{incident_id}/{action}", data={"csrf": csrf, **data})


def test_actions_go_through_herald_act_as_the_viewer(admin, herald):
    incident_id = fire(admin)
    r = _post(admin, incident_id, "notes", text="looking at <it>")
    assert r.status_code == 200 and "Note added." in r.text
    assert "Note by Alice Adams via web: looking at &lt;it&gt;" in r.text
    r = _post(admin, incident_id, "ack")
    assert "Acknowledged." in r.text
    incident = herald.store.get(incident_id)
    assert incident.status == "acknowledged" and incident.acknowledged_by == "alice"
    assert incident.timeline[-1].details == {"by": "alice", "via": "web"}
    r = _post(admin, incident_id, "escalate")
    assert "Escalated" in r.text and herald.store.get(incident_id).status == "triggered"
    r = _post(admin, incident_id, "reassign", target="person:erin")
    assert "Reassigned" in r.text
    assert any(e.kind == "reassigned" and e.details["person"] == "erin" for e in herald.store.get(incident_id).timeline)
    assert _post(admin, incident_id, "reassign", target="tier:nope").status_code == 400
    assert _post(admin, incident_id, "reassign", target="person:mallory").status_code == 400
    r = _post(admin, incident_id, "snooze", minutes="30")
    assert "Snoozed." in r.text
    assert _post(admin, incident_id, "snooze", minutes="0").status_code == 400
    assert _post(admin, incident_id, "notes", text="   ").status_code == 400
    r = _post(admin, incident_id, "resolve")
    assert "Resolved." in r.text and herald.store.get(incident_id).status == "resolved"
    assert "Escalate now" not in r.text  # nothing left to do but note


def test_resolve_and_acknowledge_keep_a_note(admin, herald):
    incident_id = fire(admin)
    page = admin.get(f"/ui/incidents/{incident_id}").text
    assert 'name="note"' in page[page.index('/resolve"'):page.index("Resolve</button>")]
    r = _post(admin, incident_id, "ack", note="on it")
    assert "Acknowledged by Alice Adams via web: on it" in r.text
    r = _post(admin, incident_id, "resolve", note="  freed 40 GB <on db1>  ")
    assert "Resolved." in r.text and "Resolved by Alice Adams via web: freed 40 GB &lt;on db1&gt;" in r.text
    assert herald.store.get(incident_id).timeline[-1].details == {"by": "alice", "via": "web",
                                                                   "note": "freed 40 GB <on db1>"}


def test_a_note_over_2000_characters_is_refused_and_changes_nothing(admin, herald):
    incident_id = fire(admin)
    before = herald.store.get(incident_id).version
    r = _post(admin, incident_id, "resolve", note="x" * 2001)
    assert r.status_code == 400 and "A note is at most 2000 characters." in r.text
    assert herald.store.get(incident_id).version == before


def test_an_api_action_done_for_a_person_shows_the_person_and_the_token(admin):
    incident_id = fire(admin)
    r = admin.post(f"/api/v1/incidents/{incident_id}/ack", json={"as": "bob", "note": "mine"},
                   headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert r.status_code == 200, r.text
    assert "Acknowledged by Bob Brown (via token api): mine" in admin.get(f"/ui/incidents/{incident_id}").text


def test_post_without_csrf_changes_nothing(admin, herald):
    incident_id = fire(admin)
    for data in ({}, {"csrf": "forged"}):
        r = admin.post(f"/ui/incidents/{incident_id}/ack", data=data)
        assert r.status_code == 403 and "did not come from this site" in r.text
    assert herald.store.get(incident_id).status == "triggered"


def test_second_ack_says_nothing_changed(admin, herald):
    incident_id = fire(admin)
    r = _post(admin, incident_id, "ack")
    assert r.status_code == 200 and "Acknowledged." in r.text, r.text
    csrf = csrf_of(admin.get("/ui/").text)
    r = admin.post(f"/ui/incidents/{incident_id}/ack", data={"csrf": csrf})
    assert "Nothing changed" in r.text


def test_the_incident_page_shows_a_page_of_alerts_with_next_and_previous(admin):
    """A group of 120 alerts: the page shows 50, then the next 50, then the last 20;
    each alert appears on exactly one page. Failure case: a bad offset is refused."""
    first = fixture_payload("firing.json")["alerts"][0]
    alerts = []
    for n in range(120):
        a = copy.deepcopy(first)
        a["fingerprint"] = f"growth{n:04d}"
        a["labels"] = {**a["labels"], "alertname": f"Growth{n:04d}"}
        alerts.append(a)
    incident_id = fire(admin, alerts=alerts)
    seen, offset = [], 0
    while True:
        html = admin.get(f"/ui/incidents/{incident_id}", params={"alerts_offset": offset}).text
        seen += [n for n in range(120) if f"Growth{n:04d}</strong>" in html]
        assert "Alerts (120" in html
        assert ('rel="prev"' in html) == (offset > 0)
        if 'rel="next"' not in html:
            break
        offset += 50
    assert offset == 100 and sorted(seen) == list(range(120)) and len(seen) == 120
    assert admin.get(f"/ui/incidents/{incident_id}", params={"alerts_offset": -1}).status_code in (400, 422)


def test_an_action_on_an_incident_whose_policy_was_removed_is_a_409_page(admin, herald):
    """The console's actions go through the same act() as the API: the same 409 (see
    tests/service/test_herald_errors.py), shown as a page, and nothing changes."""
    import dataclasses

    incident_id = fire(admin)
    csrf = csrf_of(admin.get(f"/ui/incidents/{incident_id}").text)
    before = herald.store.get(incident_id)
    policies = {k: v for k, v in herald.config.policies.items() if k != before.policy}
    herald.config = dataclasses.replace(herald.config, policies=policies)
    r = admin.post(f"/ui/incidents/{incident_id}/ack", data={"csrf": csrf})
    assert r.status_code == 409 and "is no longer in the configuration" in r.text, r.text[:500]
    assert r.headers["content-type"].startswith("text/html")
    assert herald.store.get(incident_id).version == before.version
