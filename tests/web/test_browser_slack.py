"""The Slack app in the dev console, in a real browser (Debian's Chromium via Playwright):
real ``herald serve`` + ``herald worker`` processes, Slack played by the simulator. A click
on the incident message's button in the dev inbox makes the simulator post Herald the
signed interaction Slack would; the worker's Slack sink then updates the message."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from service.dev.local_redis import free_port
from service.dev.run import simulator_env
from service.dev.simulator.app import create_simulator_app, slack_users_from
from service.dev.simulator.server import ServerThread
from service.dev.simulator.state import SimulatorState
from tests.herald_env import env_for, write_config
from tests.processes import herald, serve, wait_for
from tests.web.browser_stack import Stack, browser, shot, watch_console  # noqa: F401

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def slack_stack(tmp_path_factory, redis_server) -> Iterator[Stack]:
    tmp_path = tmp_path_factory.mktemp("browser-slack")
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    config = write_config(tmp_path / "conf")
    config.write_text(config.read_text() + "slack: {channel: '#incidents'}\n")
    sim_port, api_port = free_port(), free_port()
    env = {**env_for(config, redis_server.url), **simulator_env(f"http://127.0.0.1:{sim_port}", tmp_path / "sg.pem"),
           "HERALD_SWEEP_INTERVAL": "2", "HERALD_RATE_LIMIT_SMS": "0"}
    state = SimulatorState()
    app = create_simulator_app(state, herald_url=f"http://127.0.0.1:{api_port}",
                               twilio_auth_token=env["HERALD_TWILIO_AUTH_TOKEN"],
                               sendgrid_private_key_pem=(tmp_path / "sg.pem").read_text(),
                               slack_users=slack_users_from(str(config)))
    started: list = [ServerThread(app, port=sim_port).start()]
    try:
        api, url = serve(env, port=api_port)
        started.append(api)
        worker = herald("worker", env={**env, "HERALD_PUBLIC_URL": url})
        started.append(worker)
        yield Stack(url, state, worker)
    finally:
        for thing in reversed(started):
            thing.stop()


def _incident_message(stack: Stack, incident_id: str, status: str):
    return [m for m in stack.sim.messages_for(to="#incidents", channel="slack")
            if not m.thread_ts and m.body.startswith(f"[P1] #{incident_id} ") and m.body.endswith(f"({status})")]


def test_acknowledge_from_the_slack_message_in_the_dev_inbox(slack_stack, browser):  # noqa: F811
    from tests.web.test_browser import _login

    stack = slack_stack
    incident_id = stack.fire("slack-browser")
    wait_for(lambda: _incident_message(stack, incident_id, "triggered"), 20, "the incident posted to Slack",
             stack.worker)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        problems = watch_console(page)
        _login(page, stack.url)
        page.get_by_role("link", name="Dev inbox").click()
        channel = page.locator('section[data-slack-channel="#incidents"]')
        message = channel.locator(".msgitem").first
        assert f"#{incident_id} " in message.inner_text() and "(triggered)" in message.inner_text()
        form = message.locator("form", has=page.locator('[data-slack-action="herald_ack"]'))
        form.locator("select").select_option(label="Alice Adams")
        form.get_by_role("button", name="Acknowledge").click()
        page.wait_for_selector("text=Clicked in Slack")
        wait_for(lambda: stack.incident(incident_id)["status"] == "acknowledged", 15, "the ack from Slack")
        assert stack.incident(incident_id)["timeline"][-1]["details"] == {"by": "alice", "via": "slack"}
        wait_for(lambda: _incident_message(stack, incident_id, "acknowledged"), 20, "the message updated",
                 stack.worker)
        page.reload()
        updated = page.locator('section[data-slack-channel="#incidents"] .msgitem').first.inner_text()
        assert "(acknowledged)" in updated and "Acknowledged by Alice Adams via slack" in updated
        shot(page, "inbox-slack")
        assert problems == []
    finally:
        context.close()
