"""The SLA report page and the dev inbox page."""
from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from service.dev.simulator.app import create_simulator_app
from service.dev.simulator.server import ServerThread
from service.dev.simulator.state import SimMessage, SimulatorState, new_sid
from routing.incident import Acknowledge
from service.app import create_app
from service.engine.runtime import Herald
from service.settings import Settings
from tests.herald_env import API_TOKEN
from tests.web.conftest import csrf_of, fire, login


def test_report_table_and_chart(admin, herald):
    incident_id = fire(admin)
    assert herald.act(incident_id, Acknowledge(by="alice", via="sms")).changed
    fire(admin, groupKey="other")
    page = admin.get("/ui/reports")
    assert page.status_code == 200
    text = page.text
    table = text[text.index('id="report-incidents"'):]
    assert "P1" in table and "<td>2</td>" in table and "policy default" in table
    assert '<svg class="chart" id="sla-chart"' in text and "MTTA 0s · SLA 1h" in text and "100% within SLA" in text
    assert admin.get("/ui/reports?days=7").status_code == 200
    assert admin.get("/ui/reports?start=2026-05-01&end=2026-05-02").status_code == 200
    bad = admin.get("/ui/reports?start=2026-05-09&end=2026-05-01")
    assert bad.status_code == 400 and "to: must be after from" in bad.text


def test_report_with_one_date_covers_30_days_from_or_to_it(admin, herald):
    fire(admin)  # today
    today = herald.clock().date()
    since = admin.get(f"/ui/reports?start={today - timedelta(days=10)}")
    assert since.status_code == 200 and "<td>1</td>" in since.text  # up to today, not past it
    before = admin.get(f"/ui/reports?end={today - timedelta(days=1)}")
    assert before.status_code == 200 and "<td>1</td>" not in before.text
    shown = f"{today - timedelta(days=30):%d %b %Y} – {today - timedelta(days=1):%d %b %Y}"
    assert shown in before.text  # 30 whole days, the end day included
    future = admin.get(f"/ui/reports?start={today + timedelta(days=2)}")
    assert future.status_code == 400 and "from: is not before now; give to as well" in future.text


def test_dev_inbox_is_absent_without_the_simulator(admin):
    assert "Dev inbox" not in admin.get("/ui/").text
    assert admin.get("/ui/inbox").status_code == 404


def test_dev_inbox_lists_messages_and_replies_as_the_person(settings, monkeypatch):
    state = SimulatorState()
    with ServerThread(create_simulator_app(state, herald_url="http://127.0.0.1:9")) as sim:
        monkeypatch.setenv("HERALD_TWILIO_API_BASE", sim.url)
        dev = Settings()
        herald = Herald.from_settings(dev, notifiers={})
        state.record(SimMessage(channel="sms", to="+15550100001", from_="+15550009999", provider_id=new_sid("SM"),
                                body="P1 <Disk> full #7 ack: http://testserver/ack/tok or reply 4 7",
                                status="delivered"))
        with TestClient(create_app(dev, herald)) as c:
            login(c)
            page = c.get("/ui/inbox")
            assert page.status_code == 200 and "Dev inbox" in page.text
            alice = page.text[page.text.index('data-person="alice"'):]
            assert "P1 &lt;Disk&gt; full #7" in alice and "Acknowledge #7" in alice
            assert 'href="http://testserver/ack/tok"' in alice
            r = c.post("/ui/inbox/reply", data={"csrf": csrf_of(page.text), "phone": "+15550100001", "action": "4",
                                                "code": "7"})
            assert r.status_code == 200 and "Reply sent" in r.text
            [inbound] = [m for m in state.messages if m.direction == "inbound"]
            assert inbound.from_ == "+15550100001" and inbound.body == "4 7"
            for bad in ({"phone": "+19999999999", "action": "4"}, {"phone": "+15550100001", "action": "9"},
                        {"phone": "+15550100001", "action": "4", "code": "7; rm"}):
                assert c.post("/ui/inbox/reply", data={"csrf": csrf_of(page.text), **bad}).status_code == 400
            assert c.post("/ui/inbox/reply", data={"phone": "+15550100001", "action": "4"}).status_code == 403


def test_report_page_over_a_purged_month_counts_it_and_names_a_month_it_cuts(admin, herald):
    """Incidents removed after their retention count from their month's totals, as in the API."""
    from service.worker import due

    now = herald.clock()
    first = (now - timedelta(days=200)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    herald.clock = lambda: first + timedelta(days=2)
    incident_id = fire(admin)
    assert admin.post(f"/api/v1/incidents/{incident_id}/resolve",
                      headers={"Authorization": f"Bearer {API_TOKEN}"}).status_code == 200
    herald.clock = lambda: now
    due.run_now(herald, periodic=True)
    assert herald.store.get(incident_id) is None
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    whole = admin.get(f"/ui/reports?start={first.date()}&end={last.date()}").text
    table = whole[whole.index('id="report-incidents"'):]
    assert "<td>1</td>" in table and "counted from their month's totals" in whole and "SLA 1h" in whole
    cut = admin.get(f"/ui/reports?start={(first + timedelta(days=1)).date()}&end={last.date()}").text
    assert f"removed from {first:%Y-%m}, a month this range covers only in part" in cut


def test_dev_inbox_shows_slack_channels_with_threads_and_clicks_as_the_person(settings, monkeypatch):
    import json
    from urllib.parse import parse_qs

    from integrations.slack_client import verify_signature
    from service.dev.simulator.slack import DEFAULT_SLACK_SIGNING_SECRET, user_id_for

    state = SimulatorState()
    sim_app = create_simulator_app(state, herald_url="http://127.0.0.1:9",
                                   slack_users=[("Alice Adams", "alice@example.com"), ("Bob Brown", "bob@example.com")])
    buttons = [{"type": "actions", "block_id": "herald-7", "elements": [
        {"type": "button", "action_id": "herald_ack", "value": "7", "text": {"type": "plain_text", "text": "Acknowledge"}},
        {"type": "button", "action_id": "herald_take", "value": "7",
         "text": {"type": "plain_text", "text": "Page me instead"}}]}]
    top = state.record(SimMessage(channel="slack", to="#incidents", from_="herald", provider_id="1700000000.000100",
                                  body="[P1] #7 <Disk> full (triggered)", blocks=buttons, slack_channel="C0INCIDENT",
                                  status="updated", edits=2))
    state.record(SimMessage(channel="slack", to="#incidents", from_="herald", provider_id="1700000000.000200",
                            body="Paging L1: Alice Adams", thread_ts=top.provider_id, slack_channel="C0INCIDENT"))
    state.record(SimMessage(channel="slack", to="alice@example.com", from_="herald", provider_id="1700000000.000300",
                            body="Herald: [P1] #7 Disk full", blocks=buttons, slack_channel="D0ALICE"))
    with ServerThread(sim_app) as sim:
        monkeypatch.setenv("HERALD_TWILIO_API_BASE", sim.url)
        dev = Settings()
        herald = Herald.from_settings(dev, notifiers={})
        with TestClient(create_app(dev, herald)) as c:
            login(c)
            page = c.get("/ui/inbox")
            assert page.status_code == 200
            channel = page.text[page.text.index('data-slack-channel="#incidents"'):]
            assert "[P1] #7 &lt;Disk&gt; full (triggered)" in channel and "edited 2×" in channel
            assert "↳ Paging L1: Alice Adams" in channel and 'data-slack-action="herald_take"' in channel
            alice = page.text[page.text.index('data-person="alice"'):]
            assert "Slack: Acknowledge" in alice  # her DM's buttons click as her
            r = c.post("/ui/inbox/slack-click", data={"csrf": csrf_of(page.text), "ts": top.provider_id,
                                                      "action_id": "herald_take", "email": "bob@example.com"})
            assert r.status_code == 200 and "Clicked in Slack" in r.text
            [posted] = [cb for cb in state.callbacks if cb["kind"] == "slack-interaction"]
            assert posted["url"] == "http://127.0.0.1:9/webhooks/slack/interactions"
            body, headers = posted["request"]["content"].encode(), posted["request"]["headers"]
            assert verify_signature(DEFAULT_SLACK_SIGNING_SECRET, body, headers["X-Slack-Request-Timestamp"],
                                    headers["X-Slack-Signature"])
            payload = json.loads(parse_qs(body.decode())["payload"][0])
            assert payload["user"]["id"] == user_id_for("bob@example.com")
            assert payload["actions"][0]["action_id"] == "herald_take" and payload["actions"][0]["value"] == "7"
            for bad in ({"ts": top.provider_id, "action_id": "herald_delete", "email": "bob@example.com"},
                        {"ts": top.provider_id, "action_id": "herald_ack", "email": "eve@example.com"},
                        {"ts": "7; rm", "action_id": "herald_ack", "email": "bob@example.com"}):
                assert c.post("/ui/inbox/slack-click", data={"csrf": csrf_of(page.text), **bad}).status_code == 400
            assert c.post("/ui/inbox/slack-click", data={"ts": top.provider_id, "action_id": "herald_ack",
                                                         "email": "bob@example.com"}).status_code == 403
