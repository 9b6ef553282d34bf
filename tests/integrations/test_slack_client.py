"""Slack through the official slack_sdk WebClient against the Slack simulator on 127.0.0.1:
the DM notifier, Slack's answers and failures, and the simulator's own contract."""
from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from integrations.slack_client import SlackApi, SlackFailure, SlackNotifier, web_client
from service.dev.simulator.app import create_simulator_app
from service.dev.simulator.server import ServerThread
from service.dev.simulator.slack import user_id_for
from service.dev.simulator.state import SimulatorState
from tests.integrations.sim_fixture import make_page

TOKEN = "xoxb-test-SECRET-1234"
ANN = "ann@example.com"


@pytest.fixture(scope="module")
def slack_sim() -> Iterator[tuple[str, SimulatorState]]:
    state = SimulatorState()
    app = create_simulator_app(state, slack_token=TOKEN, slack_users=[("Ann Archer", ANN)])
    with ServerThread(app) as server:
        yield server.url, state


@pytest.fixture
def sim(slack_sim) -> Iterator[tuple[str, SimulatorState]]:
    slack_sim[1].reset()
    yield slack_sim
    slack_sim[1].reset()


def _api(url: str, token: str = TOKEN) -> SlackApi:
    return SlackApi(web_client(token, f"{url}/api/", timeout=5))


def test_a_page_goes_to_the_persons_dm_with_its_buttons(sim):
    url, state = sim
    result = SlackNotifier(_api(url)).send(make_page(channel="slack", address=ANN))
    assert result.outcome == "sent", result
    [message] = state.messages_for(channel="slack")
    assert message.to == ANN and message.slack_channel.startswith("D")
    assert result.provider_id == f"{message.slack_channel}:{message.provider_id}"
    assert "#12 DiskFull" in message.body
    actions = [e["action_id"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert actions == ["herald_ack", "herald_resolve", "herald_escalate", "herald_take"]


def test_a_rate_limit_is_waited_out_by_the_sdk_and_the_page_still_goes(sim):
    url, state = sim
    state.inject("slack", "429", 1)  # the SDK's RateLimitErrorRetryHandler waits Retry-After and retries
    result = SlackNotifier(_api(url)).send(make_page(channel="slack", address=ANN))
    assert result.outcome == "sent" and len(state.messages_for(channel="slack")) == 1


def test_a_person_slack_does_not_know_fails_at_once_and_falls_back(sim):
    url, state = sim
    result = SlackNotifier(_api(url)).send(make_page(channel="slack", address="nobody@example.com"))
    assert result.outcome == "failed" and "no Slack user" in result.detail
    assert state.messages_for(channel="slack") == []


def test_slack_down_is_a_retry_and_a_wrong_token_a_failure_that_never_shows_the_token(sim):
    url, state = sim
    state.inject("slack", "5xx", 10)
    down = SlackNotifier(SlackApi(web_client(TOKEN, f"{url}/api/", timeout=5, retries=0))).send(
        make_page(channel="slack", address=ANN))
    assert down.outcome == "retry" and down.detail == "slack: internal_error"
    state.reset()
    wrong = SlackNotifier(_api(url, "xoxb-wrong")).send(make_page(channel="slack", address=ANN))
    assert wrong.outcome == "failed" and wrong.detail == "slack: invalid_auth" and TOKEN not in wrong.detail


def test_messages_update_in_place_and_threads_hang_off_their_parent(sim):
    url, state = sim
    api = _api(url)
    top = api.post("#incidents", "first", [{"type": "section", "text": {"type": "mrkdwn", "text": "v1"}}])
    api.update(top.channel, top.ts, "second", [{"type": "section", "text": {"type": "mrkdwn", "text": "v2"}}])
    reply = api.post(top.channel, "in the thread", thread_ts=top.ts)
    first, second = state.messages_for(channel="slack")
    assert (first.body, first.edits, first.blocks[0]["text"]["text"]) == ("second", 1, "v2")
    assert second.thread_ts == top.ts and reply.channel == top.channel
    with pytest.raises(SlackFailure) as missing:
        api.update(top.channel, "1.000001", "x", [])
    assert missing.value.detail == "slack: message_not_found" and not missing.value.retry


def test_users_groups_and_lookups(sim):
    url, _ = sim
    api = _api(url)
    uid = api.user_id_by_email(ANN)
    assert uid == user_id_for(ANN) and api.user_email(uid) == ANN
    assert api.user_id_by_email("nobody@example.com") is None
    api.set_usergroup("S0GROUP1", [uid])
    assert httpx.get(f"{url}/_sim/slack/usergroups").json() == {"S0GROUP1": [uid]}
    with pytest.raises(SlackFailure) as bad:
        api.set_usergroup("S0GROUP1", ["U0NOBODY"])
    assert bad.value.detail == "slack: invalid_users"


def test_the_simulator_answers_like_slack_without_a_token(sim):
    url, _ = sim
    answer = httpx.post(f"{url}/api/chat.postMessage", json={"channel": "#x", "text": "hi"})
    assert answer.status_code == 200 and answer.json() == {"ok": False, "error": "not_authed"}
