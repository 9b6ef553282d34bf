import time

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from integrations.provider_callbacks import (message_twiml, parse_sendgrid_events, parse_status, verify_sendgrid,
                                             verify_twilio)
from integrations.sendgrid_notify import SendGridNotifier
from service.dev.simulator.app import create_simulator_app
from service.dev.simulator.callbacks import public_key_b64
from service.dev.simulator.app import main
from service.dev.simulator.server import ServerThread
from integrations.twilio_notify import TwilioNotifier
from routing.reply_grammar import parse_keypress, parse_sms
from tests.integrations.sim_fixture import (ACCOUNT_SID, AUTH_TOKEN, CALLS, EMAIL, FROM_NUMBER,  # noqa: F401
                                            MESSAGES, PHONE, SENDGRID_KEY, control, mail_post, make_page,
                                            sim, sim_env, twilio_post)

def send_page(sim, channel="sms", public_url=None):
    """A page through the real SDK client; the simulator must accept it."""
    public = public_url or sim.herald_url
    if channel == "email":
        result = SendGridNotifier(SENDGRID_KEY, "herald@example.com", sim.url).send(
            make_page(channel="email", address=EMAIL))
    else:
        with TwilioNotifier(ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, sim.url, public, channel) as n:
            result = n.send(make_page(channel=channel))
    assert result.outcome == "sent" and result.provider_id, result
    return result


def ok(response, status: int = 200):
    """``response``, once it has the status a setup step needs."""
    assert response.status_code == status, response.text
    return response


def assert_twilio_signed(req):
    sig = req.headers.get("x-twilio-signature")
    assert verify_twilio(AUTH_TOKEN, req.url, req.form, sig)
    assert not verify_twilio(AUTH_TOKEN, req.url, {**req.form, "Digits": "6", "Body": "x"}, sig)


def assert_sendgrid_signed(sim, req):
    key = httpx.get(f"{sim.url}/_sim/sendgrid-public-key").json()["public_key"]
    sig = req.headers["x-twilio-email-event-webhook-signature"]
    ts = req.headers["x-twilio-email-event-webhook-timestamp"]
    assert verify_sendgrid(key, req.body, sig, ts)
    assert not verify_sendgrid(key, req.body.replace(b'"email":"', b'"email":"x'), sig, ts)
    return parse_sendgrid_events(req.body)


# --- recording and the inbox ---------------------------------------------------------

def test_twilio_api_records_and_answers_like_twilio(sim):
    r = twilio_post(sim, StatusCallback=sim.herald_url + "/cb")
    assert r.status_code == 201
    body = r.json()
    assert body["sid"].startswith("SM") and body["status"] == "queued" and body["num_segments"] == "1"
    assert body["uri"] == f"{MESSAGES[:-5]}/{body['sid']}.json" and body["to"] == PHONE
    ok(twilio_post(sim, To="+15550002222"), 201)
    listed = httpx.get(f"{sim.url}/_sim/messages", params={"to": PHONE}).json()
    assert [m["provider_id"] for m in listed] == [body["sid"]]
    assert listed[0]["from"] == FROM_NUMBER and listed[0]["body"] == "hello"


def test_inbox_page_escapes_content(sim):
    ok(twilio_post(sim, Body="<script>alert(1)</script>"), 201)
    send_page(sim, "voice")
    page = httpx.get(f"{sim.url}/_sim/inbox").text
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Press 4 to acknowledge" in page  # a call shows what was said


def test_twilio_api_rejects_bad_auth_and_bad_numbers(sim):
    r = twilio_post(sim, token="wrong")
    assert (r.status_code, r.json()["code"]) == (401, 20003)
    assert twilio_post(sim, To=None).json()["code"] == 21604
    assert twilio_post(sim, To="12345").json()["code"] == 21211
    assert twilio_post(sim, CALLS, Body=None).json()["code"] == 21205
    assert sim.state.messages_for() == []


def test_sendgrid_api_records_each_recipient(sim):
    r = mail_post(sim)
    assert r.status_code == 202 and r.content == b""
    msg_id = r.headers["x-message-id"]
    got = sim.state.messages_for(channel="email")
    assert [(m.to, m.provider_id, m.custom_args["herald_incident"]) for m in got] == [
        (EMAIL, msg_id, "inc-1"), ("bob@example.com", msg_id, "inc-1")]


def test_sendgrid_api_rejects_missing_key_and_bad_body(sim):
    assert mail_post(sim, key=None).status_code == 401
    assert mail_post(sim, key="SG.other").status_code == 401
    assert mail_post(sim, body={"from": {"email": "a@b"}}).status_code == 400
    assert sim.state.messages_for() == []


# --- failure injection -----------------------------------------------------------------

@pytest.mark.parametrize("channel", ["sms", "voice", "email"])
@pytest.mark.parametrize("mode,status", [("5xx", 500), ("4xx", 400), ("429", 429)])
def test_fail_http_modes(sim, channel, mode, status):
    assert control(sim, "fail", channel=channel, mode=mode, count=2).status_code == 200

    def call():
        if channel == "email":
            return mail_post(sim)
        return twilio_post(sim, CALLS if channel == "voice" else MESSAGES, Twiml="<Response/>")

    assert [call().status_code for _ in range(3)] == [status, status, 201 if channel != "email" else 202]
    assert len(sim.state.messages_for()) == (1 if channel != "email" else 2)


def test_fail_timeout_hangs_past_client_timeout(sim):
    ok(control(sim, "fail", channel="email", mode="timeout", count=1, seconds=5))
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        mail_post(sim, timeout=0.3)
    assert time.monotonic() - started >= 0.3
    assert mail_post(sim).status_code == 202  # the hang does not block other requests


def test_fail_rejects_bad_requests(sim):
    assert control(sim, "fail", channel="sms", mode="explode", count=1).status_code == 422
    assert control(sim, "fail", channel="fax", mode="5xx", count=1).status_code == 422
    assert control(sim, "fail", channel="sms", mode="5xx", count=0).status_code == 422
    assert control(sim, "fail", channel="sms", mode="timeout", seconds=999).status_code == 422


def test_undelivered_sms_posts_signed_status_callback(sim):
    ok(control(sim, "fail", channel="sms", mode="undelivered", count=1))
    result = send_page(sim)
    assert result.outcome == "sent"
    [req] = sim.receiver.wait(1)
    assert req.path == "/webhooks/twilio/status"
    assert_twilio_signed(req)
    status = parse_status(req.form)
    assert (status.provider_id, status.status, status.failed) == (result.provider_id, "undelivered", True)
    assert sim.state.find(result.provider_id).status == "undelivered"


def test_undelivered_voice_is_no_answer(sim):
    ok(control(sim, "fail", channel="voice", mode="undelivered", count=1))
    result = send_page(sim, "voice")
    [req] = sim.receiver.wait(1)
    assert_twilio_signed(req)
    assert parse_status(req.form) == parse_status({"CallSid": result.provider_id, "CallStatus": "no-answer"})


def test_undelivered_email_posts_signed_bounce(sim):
    ok(control(sim, "fail", channel="email", mode="undelivered", count=1))
    result = send_page(sim, "email")
    [req] = sim.receiver.wait(1)
    assert req.path == "/webhooks/sendgrid/events"
    [event] = assert_sendgrid_signed(sim, req)
    assert (event.provider_id, event.event, event.failed, event.email) == (result.provider_id, "bounce", True, EMAIL)
    assert event.custom_args["herald_incident"] == "inc-1"


def test_callbacks_never_leave_loopback(sim):
    ok(control(sim, "fail", channel="sms", mode="undelivered", count=1))
    send_page(sim, public_url="https://herald.example.com")
    assert sim.state.wait_for(lambda s: len(s.callbacks) == 1)
    assert "not loopback" in sim.state.callbacks[0]["error"] and sim.state.callbacks[0]["status_code"] is None
    assert sim.receiver.requests == []


# --- acting as a person / as the provider ------------------------------------------------

def test_reply_posts_signed_inbound_sms_and_records_answer(sim):
    send_page(sim)
    sim.receiver.responses["/webhooks/twilio/sms"] = (200, message_twiml("Acknowledged #12"), "text/xml")
    out = ok(control(sim, "reply", **{"from": PHONE, "body": "4 12"})).json()
    assert out["status_code"] == 200 and out["replies"] == ["Acknowledged #12"]
    [req] = sim.receiver.requests
    assert req.path == "/webhooks/twilio/sms"
    assert_twilio_signed(req)
    assert {k: req.form[k] for k in ("From", "To", "Body", "AccountSid")} == {
        "From": PHONE, "To": FROM_NUMBER, "Body": "4 12", "AccountSid": ACCOUNT_SID}
    assert req.form["MessageSid"] == out["message_sid"] and parse_sms(req.form["Body"]).code == "12"
    inbox = sim.state.messages_for(PHONE)
    assert [(m.direction, m.body) for m in inbox][-1] == ("outbound", "Acknowledged #12")


def test_reply_needs_a_to_number_when_nothing_was_sent(sim):
    assert control(sim, "reply", **{"from": PHONE, "body": "4"}).status_code == 400
    out = ok(control(sim, "reply", **{"from": PHONE, "body": "4", "to": FROM_NUMBER})).json()
    assert out["status_code"] == 200 and sim.receiver.requests[0].form["To"] == FROM_NUMBER


def test_reply_when_herald_is_down_or_unset(sim):
    app = create_simulator_app(twilio_auth_token=AUTH_TOKEN)
    with ServerThread(app) as other:
        r = httpx.post(f"{other.url}/_sim/reply", json={"from": PHONE, "body": "4", "to": FROM_NUMBER})
        assert r.status_code == 409
    down = create_simulator_app(herald_url=other.url)  # port now closed
    with ServerThread(down) as sim2:
        out = ok(httpx.post(f"{sim2.url}/_sim/reply", json={"from": PHONE, "body": "4", "to": FROM_NUMBER})).json()
    assert out["status_code"] is None and out["error"] == "ConnectError"


def test_press_posts_signed_gather_to_the_action_url(sim):
    call_sid = send_page(sim, "voice").provider_id
    sim.receiver.responses["/webhooks/twilio/voice/gather"] = (
        200, "<Response><Say>Acknowledged.</Say><Hangup/></Response>", "text/xml")
    out = ok(control(sim, "press", call_sid=call_sid, digits="4")).json()
    assert out["status_code"] == 200 and out["says"] == ["Acknowledged."]
    [req] = sim.receiver.requests
    assert req.url.endswith("/webhooks/twilio/voice/gather?incident=inc-1&person=p-ann&code=12&step=1")
    assert_twilio_signed(req)
    assert req.form["CallSid"] == call_sid and parse_keypress(req.form["Digits"]) == "ack"
    assert sim.state.find(call_sid).transcript == ["pressed 4", "said: Acknowledged."]


def test_press_follows_a_new_gather(sim):
    call_sid = send_page(sim, "voice").provider_id
    again = f"{sim.herald_url}/again?n=2"
    sim.receiver.responses["/webhooks/twilio/voice/gather"] = (
        200, f'<Response><Gather numDigits="1" action="{again.replace("&", "&amp;")}"/></Response>', "text/xml")
    ok(control(sim, "press", call_sid=call_sid, digits="*"))
    ok(control(sim, "press", call_sid=call_sid, digits="6"))
    assert [r.path for r in sim.receiver.requests] == ["/webhooks/twilio/voice/gather", "/again"]
    assert_twilio_signed(sim.receiver.requests[1])


def test_press_unknown_call(sim):
    assert control(sim, "press", call_sid="CA" + "0" * 32, digits="4").status_code == 404
    sms_sid = send_page(sim).provider_id
    assert control(sim, "press", call_sid=sms_sid, digits="4").status_code == 404


def test_status_callbacks_for_messages_and_calls(sim):
    sms_sid = send_page(sim).provider_id
    call_sid = send_page(sim, "voice").provider_id
    ok(control(sim, "status", provider_id=sms_sid, status="delivered"))
    ok(control(sim, "status", provider_id=call_sid, status="completed", answered_by="machine_start"))
    first, second = sim.receiver.wait(2)
    for req in (first, second):
        assert_twilio_signed(req)
    assert parse_status(first.form) == parse_status({"MessageSid": sms_sid, "MessageStatus": "delivered"})
    call = parse_status(second.form)
    assert (call.status, call.answered_by, call.failed) == ("completed", "machine_start", True)


def test_status_rejects_unknown_ids_and_statuses(sim):
    sms_sid = send_page(sim).provider_id
    assert control(sim, "status", provider_id=sms_sid, status="no-answer").status_code == 400
    assert control(sim, "status", provider_id="SM" + "0" * 32, status="delivered").status_code == 404
    ok(twilio_post(sim), 201)  # created without a StatusCallback
    bare = sim.state.messages_for()[-1].provider_id
    assert control(sim, "status", provider_id=bare, status="delivered").status_code == 409


@pytest.mark.parametrize("event,failed", [("bounce", True), ("dropped", True), ("delivered", False)])
def test_email_event_posts_signed_batch(sim, event, failed):
    msg_id = send_page(sim, "email").provider_id
    out = ok(control(sim, "email-event", email=EMAIL, event=event, sg_message_id=msg_id)).json()
    assert out["status_code"] == 200
    [parsed] = assert_sendgrid_signed(sim, sim.receiver.requests[0])
    assert (parsed.provider_id, parsed.event, parsed.failed) == (msg_id, event, failed)


def test_replay_posts_a_logged_callback_again_byte_for_byte(sim):
    """What someone who captured a signed callback could do: the same bytes, the same
    headers, the same signature, to the same URL."""
    send_page(sim)
    send_page(sim, "email")
    ok(control(sim, "reply", **{"from": PHONE, "body": "4"}))
    ok(control(sim, "email-event", email=EMAIL, event="bounce"))
    out = ok(control(sim, "replay", index=0)).json()
    assert out["kind"] == "sms-reply-replay" and out["status_code"] == 200
    ok(control(sim, "replay", index=-2))  # counted from the end: the SendGrid batch
    reply, event, reply_again, event_again = sim.receiver.wait(4)
    for first, again in ((reply, reply_again), (event, event_again)):
        assert (again.url, again.body) == (first.url, first.body)
        assert {k: v for k, v in again.headers.items() if k.startswith("x-twilio")} == {
            k: v for k, v in first.headers.items() if k.startswith("x-twilio")}
    assert_twilio_signed(reply_again)
    assert_sendgrid_signed(sim, event_again)
    assert [c["kind"] for c in sim.state.callbacks] == ["sms-reply", "sendgrid-events", "sms-reply-replay",
                                                        "sendgrid-events-replay"]


def test_replay_of_a_callback_that_does_not_exist(sim):
    assert control(sim, "replay").status_code == 404
    assert control(sim, "replay", index=3).status_code == 404


def test_email_event_defaults_to_latest_and_rejects_unknown(sim):
    assert control(sim, "email-event", email=EMAIL, event="bounce").status_code == 404
    msg_id = send_page(sim, "email").provider_id
    ok(control(sim, "email-event", email=EMAIL, event="dropped"))
    assert parse_sendgrid_events(sim.receiver.requests[0].body)[0].provider_id == msg_id
    assert control(sim, "email-event", email=EMAIL, event="exploded").status_code == 422


# --- misc --------------------------------------------------------------------------------

def test_reset_forgets_everything(sim):
    ok(twilio_post(sim), 201)
    ok(control(sim, "fail", channel="sms", mode="5xx", count=3))
    assert control(sim, "reset").json() == {"ok": True}
    assert httpx.get(f"{sim.url}/_sim/messages").json() == [] and twilio_post(sim).status_code == 201


def test_callback_in_flight_across_a_reset_is_forgotten_with_it():
    """A callback that a test started and whose answer arrives after ``reset()`` belongs to the
    forgotten past: the next test must not find it in its own log."""
    import asyncio
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from service.dev.simulator.callbacks import CallbackSender
    from service.dev.simulator.state import SimulatorState

    arrived, release = threading.Event(), threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            arrived.set()
            release.wait(10)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state = SimulatorState()
    sender = CallbackSender(state, AUTH_TOKEN, ec.generate_private_key(ec.SECP256R1()), None)
    url = f"http://127.0.0.1:{server.server_address[1]}/cb"

    async def flow():
        task = asyncio.create_task(sender.post_twilio("status", url, {"a": "1"}))
        assert await asyncio.to_thread(arrived.wait, 10)
        state.reset()  # the next test begins while the old callback waits for its answer
        release.set()
        old = await task
        assert old["status_code"] == 200  # it was sent and answered ...
        assert state.callbacks == []      # ... but is not logged into the new test's state
        release.clear()
        arrived.clear()
        release.set()
        fresh = await sender.post_twilio("status", url, {"a": "2"})
        assert state.callbacks and state.callbacks[0]["url"] == fresh["url"]

    try:
        asyncio.run(flow())
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_signing_key_from_pem():
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    assert create_simulator_app(sendgrid_private_key_pem=pem).state.sendgrid_public_key == public_key_b64(key)
    other = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with pytest.raises(ValueError):
        create_simulator_app(sendgrid_private_key_pem=other)


def test_main_parses_arguments(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0 and "--herald-url" in capsys.readouterr().out


# --- latency -------------------------------------------------------------------------------

def test_latency_delays_every_api_call_and_calls_made_at_once_overlap(sim):
    from concurrent.futures import ThreadPoolExecutor

    assert ok(control(sim, "latency", ms=200)).json() == {"ok": True, "ms": 200}
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda n: twilio_post(sim, To=f"+1555000300{n}"), range(4)))
        elapsed = time.monotonic() - started
        assert [r.status_code for r in answers] == [201] * 4
        assert elapsed >= 0.2  # each answer waited (a lower bound only)
        state = httpx.get(f"{sim.url}/_sim/latency").json()
        assert state["ms"] == 200 and state["in_flight"] == 0 and state["max_in_flight"] >= 2
        started = time.monotonic()
        assert mail_post(sim).status_code == 202 and time.monotonic() - started >= 0.2  # SendGrid's API too
        ok(control(sim, "reset"))
        assert httpx.get(f"{sim.url}/_sim/latency").json()["ms"] == 200  # a setting: a reset keeps it
    finally:
        sim.state.set_latency(0)


def test_latency_rejects_out_of_range_values(sim):
    assert control(sim, "latency", ms=-1).status_code == 422
    assert control(sim, "latency", ms=10_001).status_code == 422
    assert httpx.get(f"{sim.url}/_sim/latency").json()["ms"] == 0


def test_latency_from_the_environment(monkeypatch):
    monkeypatch.setenv("HERALD_SIM_LATENCY_MS", "250")
    assert create_simulator_app().state.simulator.latency == 0.25
    assert create_simulator_app(latency_ms=0).state.simulator.latency == 0
