"""``/api/v1/people/{id}/rules`` from a personal console session (no API token): a person
reads and changes their own rules, not someone else's (an admin anyone's), and only with
a JSON body — a cross-site form post carrying the session's cookie is refused."""
from __future__ import annotations

from integrations import keys
from tests.signin_env import browser, running, sign_in, signin_settings

RULES = {"high": [{"channel": "voice", "delay_minutes": 0}, {"channel": "email", "delay_minutes": 5}]}


def test_a_signed_in_person_changes_their_own_rules(tmp_path, redis_url, monkeypatch):
    settings = signin_settings(tmp_path, redis_url, monkeypatch)
    with running(settings) as (herald, outbox), browser(settings, herald) as c:
        assert sign_in(c, outbox, "erin").status_code == 303
        r = c.put("/api/v1/people/erin/rules", json=RULES)
        assert r.status_code == 200, r.text
        assert c.get("/api/v1/people/erin/rules").json()["high"] == RULES["high"]
        assert herald.rules.get("erin").high[1].channel == "email"


def test_a_signed_in_admin_may_change_anyones_rules(tmp_path, redis_url, monkeypatch):
    settings = signin_settings(tmp_path, redis_url, monkeypatch)  # alice: admin
    with running(settings) as (herald, outbox), browser(settings, herald) as c:
        assert sign_in(c, outbox, "alice").status_code == 303
        assert c.put("/api/v1/people/erin/rules", json=RULES).status_code == 200
        assert herald.rules.get("erin") is not None


def test_someone_elses_rules_and_a_form_post_are_refused(tmp_path, redis_url, monkeypatch):
    settings = signin_settings(tmp_path, redis_url, monkeypatch)
    with running(settings) as (herald, outbox), browser(settings, herald) as c:
        assert sign_in(c, outbox, "erin").status_code == 303
        other = c.put("/api/v1/people/dave/rules", json=RULES)
        assert other.status_code == 403 and "signed in as erin" in other.json()["detail"], other.text
        form = c.put("/api/v1/people/erin/rules", content=b'{"high": []}',
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert form.status_code == 415, form.text
        assert herald.store.redis.hlen(keys.PEOPLE_RULES) == 0
    with running(settings) as (herald, _outbox), browser(settings, herald) as anonymous:
        assert anonymous.get("/api/v1/people/erin/rules").status_code == 401
