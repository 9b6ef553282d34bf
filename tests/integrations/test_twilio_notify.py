import base64
import logging
import socket
import traceback

import httpx
import pytest

from integrations.message_text import sms_text, voice_twiml
from integrations.twilio_notify import TwilioNotifier, _QuietHttpClient
from tests.integrations.sim_fixture import (ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, PHONE,  # noqa: F401
                                            make_page, sim, sim_env)

BASIC = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
SECRETS = (AUTH_TOKEN, BASIC)


def notifier(api_base: str, channel: str = "sms", token: str = AUTH_TOKEN, timeout: float = 5) -> TwilioNotifier:
    return TwilioNotifier(ACCOUNT_SID, token, FROM_NUMBER, api_base, "http://127.0.0.1:9/herald",
                          channel=channel, timeout=timeout)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


# --- sending -----------------------------------------------------------------------

def test_sms_sent_through_sdk(sim):
    page = make_page()
    with notifier(sim.url) as n:
        result = n.send(page)
    assert result.outcome == "sent" and result.provider_id.startswith("SM") and len(result.provider_id) == 34
    [msg] = sim.state.messages_for(PHONE)
    assert (msg.provider_id, msg.body, msg.from_) == (result.provider_id, sms_text(page), FROM_NUMBER)
    assert msg.status_callback == "http://127.0.0.1:9/herald/webhooks/twilio/status"


def test_voice_sent_with_gather_and_machine_detection(sim):
    page = make_page(channel="voice")
    with notifier(sim.url, "voice") as n:
        result = n.send(page)
        gather = n.gather_url(page)
    assert result.outcome == "sent" and result.provider_id.startswith("CA")
    [call] = sim.state.messages_for(PHONE, "voice")
    assert call.twiml == voice_twiml(page, gather) and call.gather_url == gather
    assert gather.startswith("http://127.0.0.1:9/herald/webhooks/twilio/voice/gather?incident=inc-1&person=p-ann")
    assert call.options["MachineDetection"] == "Enable" and call.options["TimeLimit"] == "300"


def test_wrong_channel_or_no_address_fails_without_request(sim):
    with notifier(sim.url) as n:
        assert n.send(make_page(channel="voice")).outcome == "failed"
        assert n.send(make_page(address="")).outcome == "failed"
    assert sim.state.messages_for() == []


def test_constructor_rejects_bad_channel_and_base():
    with pytest.raises(ValueError):
        notifier("http://127.0.0.1:1", channel="email")
    with pytest.raises(ValueError):
        notifier("ftp://127.0.0.1:1")


def test_base_url_rewrite():
    client = _QuietHttpClient("http://127.0.0.1:8765/prefix/", 5, ACCOUNT_SID)
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert client.rewrite(url) == f"http://127.0.0.1:8765/prefix/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert _QuietHttpClient(None, 5, ACCOUNT_SID).rewrite(url) == url
    client.close()


# --- error classes: outcome + no secret anywhere -------------------------------------

@pytest.mark.parametrize("channel", ["sms", "voice"])
@pytest.mark.parametrize("mode,outcome", [("5xx", "retry"), ("429", "retry"), ("4xx", "failed"),
                                          ("timeout", "retry")])
def test_injected_errors_classified_without_leaking(sim, caplog, channel, mode, outcome):
    caplog.set_level(logging.DEBUG)
    httpx.post(f"{sim.url}/_sim/fail", json={"channel": channel, "mode": mode, "count": 1, "seconds": 3})
    with notifier(sim.url, channel, timeout=0.5) as n:
        result = n.send(make_page(channel=channel))
        assert result.outcome == outcome, result
        assert n.send(make_page(channel=channel)).outcome == "sent"  # the failure was used up
    assert ACCOUNT_SID not in result.detail and "http" not in result.detail
    assert_no_secret(repr(result), caplog.text)


def test_connection_refused_is_retry_without_leaking(caplog):
    caplog.set_level(logging.DEBUG)
    with notifier(closed_port_url()) as n:
        result = n.send(make_page())
    assert (result.outcome, result.detail) == ("retry", "twilio: connection error")
    assert_no_secret(repr(result), caplog.text)


def test_bad_credentials_are_failed_without_leaking(sim, caplog):
    caplog.set_level(logging.DEBUG)
    with notifier(sim.url, token="wrong-" + AUTH_TOKEN) as n:
        result = n.send(make_page())
    assert result.outcome == "failed" and "401" in result.detail and "20003" in result.detail
    assert_no_secret(repr(result), caplog.text)
    assert "wrong-" not in caplog.text


@pytest.mark.parametrize("mode", ["5xx", "4xx", "429", "timeout", "refused"])
def test_sdk_exception_text_carries_no_secret(sim, mode):
    base = closed_port_url() if mode == "refused" else sim.url
    if mode != "refused":
        httpx.post(f"{sim.url}/_sim/fail", json={"channel": "sms", "mode": mode, "count": 1, "seconds": 3})
    with notifier(base, timeout=0.5) as n:
        with pytest.raises(Exception) as info:
            n._client.messages.create(to=PHONE, from_=FROM_NUMBER, body="x")
    exc = info.value
    assert_no_secret(str(exc), repr(exc), "".join(traceback.format_exception(exc)))
