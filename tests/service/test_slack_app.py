"""The Slack app end to end in this process: pages to a person's Slack DM through the
official slack_sdk, clicks and /herald commands posted back by the Slack simulator signed as
Slack signs them, and the on-call user groups (tests/service/sim_stack.py).

The people: Alice (L1, paged by Slack DM), Bob (L2, on call: may act), Mallory (in the
configuration, on call for another policy only: may not), and a Slack user whose email no
Herald person has (unlinked: told how to link).
"""
from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from integrations.slack_client import sign
from service.dev.simulator.slack import DEFAULT_SLACK_SIGNING_SECRET, user_id_for
from service.engine.slack_groups import sync_groups
from service.worker import due
from tests.herald_env import weekly_calendar
from tests.service.sim_stack import SimStack, sim_stack_factory  # noqa: F401

ALICE, BOB, MALLORY, STRANGER = "alice@example.com", "bob@example.com", "mallory@example.com", "stranger@example.com"
CONFIG = """
people:
  - {id: alice, name: Alice Adams, email: alice@example.com, phone: "+15550100001"}
  - {id: bob, name: Bob Brown, email: bob@example.com, phone: "+15550100002"}
  - {id: mallory, name: Mallory Moss, email: mallory@example.com, phone: "+15550100007"}
schedules:
  - {name: primary, calendar: primary.ics, default_tier: L1}
  - {name: backup, calendar: backup.ics, default_tier: L2}
policies:
  - name: default
    escalate_after: {P1: 1h, P2: 1h}
    tiers:
      - {name: L1, schedule: primary, channels: {P1: [slack], P2: [sms]}}
      - {name: L2, schedule: backup, channels: {P1: [sms], P2: [sms]}}
  - name: payments
    tiers:
      - {name: L1, people: [mallory], channels: {P1: [sms], P2: [sms]}}
route: {policy: default}
slack:
  channel: "#incidents"
  dm_paging: true
  user_groups:
    - {schedule: primary, usergroup: S0PRIMARY1, channel: "#oncall"}
"""


def write_config(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "primary.ics").write_text(weekly_calendar("p1", ALICE, "Alice Adams"), newline="")
    (directory / "backup.ics").write_text(weekly_calendar("b1", BOB, "Bob Brown"), newline="")
    path = directory / "herald.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def stack(sim_stack_factory, tmp_path) -> SimStack:  # noqa: F811
    stack = sim_stack_factory(HERALD_CONFIG=str(write_config(tmp_path / "slack")))
    stack.sim_app.state.slack.add_user("Sam Stranger", STRANGER)  # in Slack, not in Herald
    return stack


def paged(stack: SimStack, group: str) -> tuple[str, str]:
    """A new incident whose L1 page went to Alice's Slack DM: (incident id, the DM's ts)."""
    incident_id = stack.fire(group)
    due.run_now(stack.herald)  # the page, and the Slack message following the incident
    [page] = stack.incident(incident_id).pages
    assert (page.person, page.channel, page.state) == ("alice", "slack", "sent")
    [dm] = [m for m in stack.sim.messages_for(to=ALICE, channel="slack") if f"#{incident_id} " in m.body]
    return incident_id, dm.provider_id


def test_a_slack_page_that_fails_falls_back_to_email_and_slack_down_is_retried(stack):
    del stack.sim_app.state.slack.users[user_id_for(ALICE)]  # Alice left Slack: users_not_found, permanent
    incident_id = stack.fire("fallback")
    due.run_now(stack.herald)
    incident = stack.incident(incident_id)
    assert [(p.channel, p.state) for p in incident.pages] == [("slack", "failed"), ("email", "pending")]
    assert incident.pages[1].fallback_from == "slack"
    stack.control("fail", channel="slack", mode="5xx", count=50)  # down: the page waits for a retry
    other = stack.fire("down")
    due.run_now(stack.herald)
    [page] = stack.incident(other).pages
    assert (page.channel, page.state, page.attempts) == ("slack", "pending", 1) and "internal_error" in page.detail


def click(stack: SimStack, ts: str, action_id: str, email: str) -> dict:
    answer = stack.control("slack/click", ts=ts, action_id=action_id, email=email)
    assert answer["url"] == f"{stack.url}/webhooks/slack/interactions", answer
    return answer


def told(stack: SimStack, email: str) -> list[str]:
    """What Herald answered a person in Slack (through response_url or a command's answer)."""
    return [m.body for m in stack.sim.messages_for(to=email, channel="slack") if m.status == "ephemeral"]


def wait_told(stack: SimStack, email: str, count: int = 1) -> list[str]:
    assert stack.sim.wait_for(lambda s: len(told(stack, email)) >= count, timeout=10), told(stack, email)
    return told(stack, email)


def test_the_paged_person_acknowledges_with_the_button_in_their_dm(stack):
    incident_id, ts = paged(stack, "ack")
    answer = click(stack, ts, "herald_ack", ALICE)
    assert answer["status_code"] == 200 and answer["body"] == ""  # Slack's acknowledgement: at once, empty
    incident = stack.incident(incident_id)
    assert (incident.status, incident.acknowledged_by) == ("acknowledged", "alice")
    assert incident.timeline[-1].details == {"by": "alice", "via": "slack"}
    assert wait_told(stack, ALICE) == [f"Herald: #{incident_id} acknowledged"]


def test_a_replayed_click_does_nothing_more(stack):
    incident_id, ts = paged(stack, "replay")
    click(stack, ts, "herald_resolve", ALICE)
    version = stack.incident(incident_id).version
    again = stack.replay()
    assert again["status_code"] == 200
    assert stack.incident(incident_id).version == version and stack.incident(incident_id).status == "resolved"


def test_someone_not_involved_is_refused_and_an_unlinked_user_is_told_how_to_link(stack):
    incident_id, ts = paged(stack, "refused")
    before = stack.incident(incident_id)
    click(stack, ts, "herald_resolve", MALLORY)
    assert wait_told(stack, MALLORY) == [f"Herald: you were not paged for #{incident_id}"]
    click(stack, ts, "herald_ack", STRANGER)
    [link] = wait_told(stack, STRANGER)
    assert "your Slack account's email must be the email Herald has for you" in link
    after = stack.incident(incident_id)
    assert (after.status, after.version) == ("triggered", before.version)


def test_page_me_instead_pages_the_on_call_person_who_clicked(stack):
    incident_id, ts = paged(stack, "take")
    click(stack, ts, "herald_take", BOB)  # Bob is on call for L2: he may take it
    incident = stack.incident(incident_id)
    reassigned = [e for e in incident.timeline if e.kind == "reassigned"]
    assert reassigned[-1].details == {"by": "bob", "via": "slack", "person": "bob", "tier": None}
    assert [(p.person, p.channel, p.state) for p in incident.pages if p.round == 2] == [("bob", "slack", "pending")]
    assert wait_told(stack, BOB) == [f"Herald: #{incident_id} is yours: Herald pages you now"]


def _signed_post(stack: SimStack, path: str, form: dict, *, secret: str = DEFAULT_SLACK_SIGNING_SECRET,
                 age: int = 0) -> httpx.Response:
    body = urlencode(form).encode()
    stamp = str(int(time.time()) - age)
    return httpx.post(f"{stack.url}/webhooks/slack/{path}", content=body, timeout=10, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign(secret, body, stamp)})


def test_a_request_not_signed_by_slack_or_too_old_is_refused_and_changes_nothing(stack):
    incident_id, ts = paged(stack, "forged")
    before = stack.incident(incident_id)
    payload = {"type": "block_actions", "user": {"id": user_id_for(ALICE)},
               "actions": [{"action_id": "herald_resolve", "value": incident_id, "action_ts": "1.1"}]}
    form = {"payload": json.dumps(payload)}
    wrong = _signed_post(stack, "interactions", form, secret="not-the-signing-secret")
    old = _signed_post(stack, "interactions", form, age=301)
    unsigned = httpx.post(f"{stack.url}/webhooks/slack/interactions", data=form, timeout=10)
    command = _signed_post(stack, "commands", {"user_id": user_id_for(ALICE), "text": f"resolve {incident_id}"},
                           secret="not-the-signing-secret")
    for answer in (wrong, old, unsigned, command):
        assert answer.status_code == 401 and "X-Slack-Signature" in answer.json()["detail"], answer.text
    assert stack.incident(incident_id).version == before.version
    fresh = _signed_post(stack, "interactions", form, age=290)  # inside Slack's 5 minutes: acts
    assert fresh.status_code == 200 and stack.incident(incident_id).status == "resolved"


def test_a_malformed_payload_is_a_400_naming_the_field(stack):
    answer = _signed_post(stack, "interactions", {"payload": "{not json"})
    assert answer.status_code == 400 and answer.json()["detail"].startswith("payload")


def command(stack: SimStack, email: str, text: str) -> str:
    answer = stack.control("slack/command", email=email, text=text)
    assert answer["status_code"] == 200, answer
    return answer["answer"]


def test_slash_commands_show_who_is_on_call_and_act_as_the_person(stack):
    oncall = command(stack, MALLORY, "oncall")
    assert "primary L1: Alice Adams" in oncall and "backup L2: Bob Brown" in oncall
    assert command(stack, ALICE, "oncall backup").splitlines()[1].startswith("backup L2: Bob Brown (until ")
    incident_id, _ = paged(stack, "command")
    assert command(stack, ALICE, f"ack {incident_id}") == f"Herald: #{incident_id} acknowledged"
    assert command(stack, BOB, f"resolve #{incident_id}") == f"Herald: #{incident_id} resolved"
    assert stack.incident(incident_id).resolved_by == "bob"


def test_slash_commands_refuse_strangers_and_explain_themselves(stack):
    incident_id, _ = paged(stack, "command-refused")
    assert "your Slack account's email must be" in command(stack, STRANGER, f"ack {incident_id}")
    assert command(stack, MALLORY, f"ack {incident_id}") == f"Herald: you were not paged for #{incident_id}"
    assert command(stack, ALICE, "oncall nosuch").startswith("Herald: no schedule named 'nosuch'")
    assert command(stack, ALICE, "dance").startswith("Herald: /herald oncall [schedule]")
    assert stack.incident(incident_id).status == "triggered"


def test_the_on_call_user_group_follows_who_is_on_call_and_only_changes_on_a_change(stack):
    herald, workspace = stack.herald, stack.sim_app.state.slack
    assert sync_groups(herald, herald.clock())[0] == 1
    assert workspace.usergroups == {"S0PRIMARY1": [user_id_for(ALICE)]}
    [announced] = stack.sim.messages_for(to="#oncall", channel="slack")
    assert announced.body == f"On call for primary L1 is now Alice Adams (<@{user_id_for(ALICE)}>)."
    assert sync_groups(herald, herald.clock())[0] == 0  # nobody changed: no Slack call
    assert len(stack.sim.messages_for(channel="slack")) == 1


def test_a_failed_user_group_update_is_tried_again_on_the_next_pass(stack):
    herald = stack.herald
    stack.control("fail", channel="slack", mode="4xx", count=1)  # Slack answers ok: false
    assert sync_groups(herald, herald.clock())[0] == 0
    assert herald.slack.group_members("S0PRIMARY1") is None  # nothing stored: the next pass tries again
    assert sync_groups(herald, herald.clock())[0] == 1
    assert herald.slack.group_members("S0PRIMARY1") == ("alice",)


def channel_messages(stack: SimStack) -> tuple[list, list]:
    """(the incident messages in #incidents, their thread replies)."""
    posted = stack.sim.messages_for(to="#incidents", channel="slack")
    return [m for m in posted if not m.thread_ts], [m for m in posted if m.thread_ts]


def buttons_of(message) -> list[str]:
    return [e["action_id"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


def test_the_incident_message_follows_every_change_whatever_made_it(stack):
    incident_id, _ = paged(stack, "sync")
    due.run_now(stack.herald)  # the follower's entries (the page's outcome came after the first run)
    [top], thread = channel_messages(stack)
    assert top.body.startswith(f"[P1] #{incident_id} ") and "Paging Alice Adams" in str(top.blocks)
    assert buttons_of(top) == ["herald_ack", "herald_resolve", "herald_escalate", "herald_take"]
    assert [m.body for m in thread] == ["Paging L1: Alice Adams", "Paged Alice Adams by slack"]
    assert all(m.thread_ts == top.provider_id for m in thread)

    r = httpx.post(f"{stack.url}/api/v1/incidents/{incident_id}/ack", timeout=10,
                   headers={"Authorization": "Bearer " + stack.herald.settings.api_token.get_secret_value()})
    assert r.status_code == 200, r.text
    due.run_now(stack.herald)
    [top], thread = channel_messages(stack)
    assert "Acknowledged by" in str(top.blocks) and buttons_of(top) == ["herald_resolve", "herald_escalate", "herald_take"]
    assert thread[-1].body.startswith("Acknowledged by") and thread[-1].body.endswith("via api")

    click(stack, top.provider_id, "herald_resolve", ALICE)  # in the channel, as Alice
    due.run_now(stack.herald)
    [top], thread = channel_messages(stack)
    assert top.body.endswith("(resolved)") and buttons_of(top) == [] and "Resolved by Alice Adams" in str(top.blocks)
    assert thread[-1].body == "Resolved by Alice Adams via slack"
    assert top.edits >= 2  # updated in place, never posted twice


def test_slack_down_never_holds_a_page_and_the_message_catches_up_with_the_state(stack, monkeypatch):
    herald = stack.herald
    stack.control("fail", channel="slack", mode="5xx", count=1000)
    incident_id = stack.fire("slack-down", severity="warning")  # P2: paged by SMS
    due.run_now(herald)
    [page] = stack.incident(incident_id).pages
    assert (page.channel, page.state) == ("sms", "sent")  # the page went; Slack is down
    assert channel_messages(stack) == ([], [])
    stack.sim.failures["slack"].clear()  # Slack is back
    later = herald.clock() + timedelta(minutes=2)  # past the follower's backoff
    monkeypatch.setattr(herald, "clock", lambda: later)
    due.run_now(herald)
    [top], thread = channel_messages(stack)
    assert top.body.startswith(f"[P2] #{incident_id} ") and [m.body for m in thread] == [
        "Paging L1: Alice Adams", "Paged Alice Adams by sms"]


def test_a_deleted_incident_message_is_posted_again_on_the_next_change(stack):
    incident_id, _ = paged(stack, "deleted")
    due.run_now(stack.herald)
    [top], _ = channel_messages(stack)
    stack.sim.messages.remove(top)  # someone deleted it in Slack
    command(stack, ALICE, f"ack {incident_id}")
    due.run_now(stack.herald)
    [again], _ = channel_messages(stack)
    assert again.provider_id != top.provider_id and again.body.endswith("(acknowledged)")
    assert stack.herald.slack.message(incident_id) == (again.slack_channel, again.provider_id)


def test_slack_unable_to_say_who_clicked_changes_nothing_and_says_so(stack):
    incident_id, ts = paged(stack, "who")
    before = stack.incident(incident_id)
    stack.control("fail", channel="slack", mode="5xx", count=1)  # users.info fails (no retry in the 3 s path)
    click(stack, ts, "herald_resolve", BOB)
    assert wait_told(stack, BOB) == ["Herald: could not ask Slack who you are just now; try again."]
    assert stack.incident(incident_id).version == before.version
    assert stack.herald.slack.person_of(user_id_for(BOB)) is None  # nothing cached: the next click asks again
    click(stack, ts, "herald_resolve", BOB)
    assert wait_told(stack, BOB, 2)[-1] == f"Herald: #{incident_id} resolved"


def test_a_handoff_moves_the_on_call_user_group_and_is_announced(stack):
    herald, workspace = stack.herald, stack.sim_app.state.slack
    assert sync_groups(herald, herald.clock())[0] == 1  # Alice, from the calendar
    r = httpx.post(f"{stack.url}/api/v1/handoffs", timeout=10, json={"schedule": "primary", "tier": "L1", "to": "bob"},
                   headers={"Authorization": "Bearer " + herald.settings.api_token.get_secret_value()})
    assert r.status_code == 201, r.text
    assert sync_groups(herald, herald.clock())[0] == 1
    assert workspace.usergroups == {"S0PRIMARY1": [user_id_for(BOB)]}
    assert [m.body for m in stack.sim.messages_for(to="#oncall", channel="slack")][-1] == (
        f"On call for primary L1 is now Bob Brown (<@{user_id_for(BOB)}>).")
