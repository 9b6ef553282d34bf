import json

from tests.herald_env import AM_TOKEN, fixture_payload


def open_with_token(client, herald, payload=None):
    r = client.post("/api/v1/alertmanager", content=json.dumps(payload or fixture_payload("firing.json")),
                    headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert r.status_code == 200, r.text
    incident_id = r.json()["incidents"][0]["id"]
    return incident_id, herald.store.create_ack_token(incident_id, "alice", 3600)


def test_get_shows_the_incident_and_changes_nothing(client, herald):
    incident_id, token = open_with_token(client, herald)
    for _ in range(3):  # link scanners fetch GET links, sometimes repeatedly
        page = client.get(f"/ack/{token}")
        assert page.status_code == 200
        assert "Disk almost full on db1" in page.text and "Acknowledge" in page.text and "Alice Adams" in page.text
        assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    incident = herald.store.get(incident_id)
    assert incident.status == "triggered" and incident.version == 1


def test_post_acknowledges_as_the_links_person(client, herald):
    incident_id, token = open_with_token(client, herald)
    page = client.post(f"/ack/{token}", data={"action": "ack"})
    assert page.status_code == 200 and "acknowledged" in page.text
    incident = herald.store.get(incident_id)
    assert incident.status == "acknowledged" and incident.acknowledged_by == "alice"
    assert incident.timeline[-1].details == {"by": "alice", "via": "link"}
    twice = client.post(f"/ack/{token}", data={"action": "ack"})
    assert twice.status_code == 200 and "already acknowledged" in twice.text


def test_post_resolves(client, herald):
    incident_id, token = open_with_token(client, herald)
    page = client.post(f"/ack/{token}", data={"action": "resolve"})
    assert page.status_code == 200, page.text
    assert herald.store.get(incident_id).status == "resolved"


def test_bad_expired_or_unknown_token(client, herald):
    incident_id, token = open_with_token(client, herald)
    for bad in ("nope", token[:-2], "a" * 300):
        assert client.get(f"/ack/{bad}").status_code == 404
        assert client.post(f"/ack/{bad}", data={"action": "ack"}).status_code == 404
    assert client.post(f"/ack/{token}", data={"action": "explode"}).status_code == 400
    assert herald.store.get(incident_id).status == "triggered"


def test_alert_text_is_escaped(client, herald):
    payload = fixture_payload("firing.json")
    payload["commonAnnotations"]["summary"] = "<script>alert(1)</script>"
    _, token = open_with_token(client, herald, payload)
    page = client.get(f"/ack/{token}").text
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
