"""Acknowledgement links: the token is the only credential — one incident, one person,
expiring, at least 96 bits, GET never mutates — and wrong guesses are rate-limited per
client address and per target (429), while a right token always works."""
from __future__ import annotations

import base64

from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.processes import wait_for
from tests.security.conftest import open_incident, within_one_minute


def test_tokens_are_long_random_and_expire(client, herald, settings):
    incident_id = open_incident(client)
    tokens = {herald.store.create_ack_token(incident_id, "alice", settings.ack_token_ttl) for _ in range(500)}
    assert len(tokens) == 500
    for token in list(tokens)[:20]:
        assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) * 8 >= 96
        ttl = herald.store.redis.ttl(f"herald:ack:{token}")
        assert 0 < ttl <= settings.ack_token_ttl
    short = herald.store.create_ack_token(incident_id, "alice", 1)
    assert client.get(f"/ack/{short}").status_code == 200
    wait_for(lambda: not herald.store.redis.exists(f"herald:ack:{short}"), 10, "the one-second token to expire")
    assert client.get(f"/ack/{short}").status_code == 404
    assert client.post(f"/ack/{short}", data={"action": "ack"}).status_code == 404
    assert herald.store.get(incident_id).status == "triggered"


def test_a_token_acts_on_its_own_incident_as_its_own_person_only(client, herald):
    mine, other = open_incident(client, "g-mine"), open_incident(client, "g-other")
    token = herald.store.create_ack_token(mine, "bob", 3600)
    for _ in range(3):
        assert client.get(f"/ack/{token}").status_code == 200  # link previews change nothing
    assert herald.store.get(mine).status == "triggered"
    assert client.post(f"/ack/{token}", data={"action": "ack", "incident": other, "person": "erin"}).status_code == 200
    assert herald.store.get(mine).acknowledged_by == "bob"
    assert herald.store.get(other).status == "triggered"


def test_wrong_tokens_are_rate_limited_per_address_and_a_right_one_still_works(client, herald, settings):
    incident_id = open_incident(client)
    good = herald.store.create_ack_token(incident_id, "alice", 3600)
    within_one_minute(10)
    for n in range(settings.ack_attempts_per_ip):
        assert client.get(f"/ack/guess-{n:04d}-{'x' * 20}").status_code == 404
    blocked = client.get("/ack/guess-last-xxxxxxxxxxxxxxxxxxxx")
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert blocked.headers["content-security-policy"].startswith("default-src 'none'")
    assert client.post("/ack/guess-post-xxxxxxxxxxxxxxxxxxxx", data={"action": "ack"}).status_code == 429
    assert herald.store.get(incident_id).status == "triggered"
    # Behind a proxy every engineer shares this address: the right link still works from it.
    assert client.get(f"/ack/{good}").status_code == 200
    acked = client.post(f"/ack/{good}", data={"action": "ack"})
    assert acked.status_code == 200, acked.text
    assert herald.store.get(incident_id).status == "acknowledged"
    assert client.get("/ack/guess-again-xxxxxxxxxxxxxxxxxxx").status_code == 429  # and wrong ones stay limited


def test_right_tokens_never_count_towards_the_limit(client, herald, settings):
    incident_id = open_incident(client)
    good = herald.store.create_ack_token(incident_id, "alice", 3600)
    within_one_minute(10)
    for _ in range(settings.ack_attempts_per_ip + 5):
        assert client.get(f"/ack/{good}").status_code == 200
    for n in range(settings.ack_attempts_per_ip):  # the whole allowance of wrong ones is left
        assert client.get(f"/ack/edge-{n:04d}-{'z' * 20}").status_code == 404
    assert client.get("/ack/edge-last-zzzzzzzzzzzzzzzzzzzz").status_code == 429


def test_a_distributed_scan_limits_wrong_tokens_but_not_an_uninvolved_right_one(monkeypatch, settings, herald):
    monkeypatch.setenv("HERALD_ACK_ATTEMPTS_GLOBAL", "30")
    tight = Settings()
    herald.settings = tight
    app = create_app(tight, herald)
    with TestClient(app, client=("192.0.2.1", 40000)) as alertmanager:
        incident_id = open_incident(alertmanager)
    good = herald.store.create_ack_token(incident_id, "bob", 3600)
    within_one_minute(15)
    for n in range(3):  # three addresses, ten wrong tokens each: under the per-address limit
        with TestClient(app, client=(f"198.51.100.{n}", 40000)) as scanner:
            for k in range(10):
                assert scanner.get(f"/ack/scan-{n}-{k}-{'y' * 20}").status_code == 404
    with TestClient(app, client=("203.0.113.9", 40000)) as anyone:
        assert anyone.get("/ack/scan-next-yyyyyyyyyyyyyyyyyyyy").status_code == 429  # the ack links' own limit
        acked = anyone.post(f"/ack/{good}", data={"action": "ack"})
        assert acked.status_code == 200, acked.text
    assert herald.store.get(incident_id).acknowledged_by == "bob"
