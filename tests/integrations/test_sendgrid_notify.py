import logging
import socket
import traceback

import httpx
import pytest

from integrations.message_text import email_content
from integrations.sendgrid_notify import QuietTransportFilter, SendGridNotifier
from tests.integrations.sim_fixture import EMAIL, SENDGRID_KEY, make_page, sim, sim_env  # noqa: F401

SENDER = "herald@example.com"


def notifier(api_base: str, key: str = SENDGRID_KEY, timeout: float = 5) -> SendGridNotifier:
    return SendGridNotifier(key, SENDER, api_base, timeout=timeout)


def email_page(**changes):
    return make_page(**{"channel": "email", "address": EMAIL, **changes})


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def assert_no_secret(*texts: str, secret: str = SENDGRID_KEY) -> None:
    for text in texts:
        assert secret not in text


# --- sending -----------------------------------------------------------------------

def test_email_sent_with_message_id(sim):
    page = email_page()
    result = notifier(sim.url).send(page)
    assert result.outcome == "sent" and len(result.provider_id) == 22
    [msg] = sim.state.messages_for(EMAIL)
    subject, text, html = email_content(page)
    assert (msg.provider_id, msg.subject, msg.text, msg.html, msg.from_) == (
        result.provider_id, subject, text, html, SENDER)
    assert msg.custom_args == {"herald_incident": "inc-1", "herald_person": "p-ann", "herald_step": "1"}


def test_email_edge_cases_fail_without_request(sim):
    n = notifier(sim.url)
    assert n.send(email_page(address="")).outcome == "failed"
    assert n.send(email_page(address="not-an-address")).outcome == "failed"
    assert n.send(make_page()).outcome == "failed"  # an sms page handed to the email notifier
    assert sim.state.messages_for() == []
    with pytest.raises(ValueError):
        SendGridNotifier(SENDGRID_KEY, SENDER, "127.0.0.1:1")


def test_wrong_api_key_is_failed_without_leaking(sim, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "SG.wrong-" + SENDGRID_KEY
    result = notifier(sim.url, key=wrong).send(email_page())
    assert result.outcome == "failed" and "401" in result.detail
    assert_no_secret(repr(result), caplog.text, secret=wrong)


# --- error classes: outcome + no secret anywhere -------------------------------------

@pytest.mark.parametrize("mode,outcome", [("5xx", "retry"), ("429", "retry"), ("4xx", "failed"),
                                          ("timeout", "retry")])
def test_injected_errors_classified_without_leaking(sim, caplog, mode, outcome):
    caplog.set_level(logging.DEBUG)
    httpx.post(f"{sim.url}/_sim/fail", json={"channel": "email", "mode": mode, "count": 1, "seconds": 3})
    n = notifier(sim.url, timeout=0.5)
    result = n.send(email_page())
    assert result.outcome == outcome, result
    assert n.send(email_page()).outcome == "sent"  # the failure was used up
    assert "POST Request: /v3/mail/send" in caplog.text  # the SDK did log at DEBUG...
    assert "HEADERS" not in caplog.text and "PAYLOAD" not in caplog.text  # ...without its headers or the page
    assert_no_secret(repr(result), caplog.text)


def test_connection_refused_is_retry_without_leaking(caplog):
    caplog.set_level(logging.DEBUG)
    result = notifier(closed_port_url()).send(email_page())
    assert (result.outcome, result.detail) == ("retry", "sendgrid: connection error")
    assert_no_secret(repr(result), caplog.text)


@pytest.mark.parametrize("mode", ["5xx", "4xx", "429", "timeout", "refused"])
def test_sdk_exception_text_carries_no_secret(sim, mode):
    base = closed_port_url() if mode == "refused" else sim.url
    if mode != "refused":
        httpx.post(f"{sim.url}/_sim/fail", json={"channel": "email", "mode": mode, "count": 1, "seconds": 3})
    n = notifier(base, timeout=0.5)
    with pytest.raises(Exception) as info:
        n._sg.send(n.build_mail(email_page()))
    exc = info.value
    assert_no_secret(str(exc), repr(exc), "".join(traceback.format_exception(exc)))


def test_redact_filter_handles_args_and_plain_records():
    f = QuietTransportFilter()
    rec = logging.LogRecord("x", logging.DEBUG, __file__, 1, "h=%s", ({"Authorization": "Bearer abc.def"},), None)
    assert f.filter(rec) and "abc.def" not in rec.getMessage() and "[REDACTED]" in rec.getMessage()
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "nothing here %d", (3,), None)
    assert f.filter(plain) and plain.getMessage() == "nothing here 3"
