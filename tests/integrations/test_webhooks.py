"""The outgoing webhooks' pieces against a real Redis and a receiver on 127.0.0.1: the
bounded delivery log, the backoff, signing that ``Webhook.verify`` accepts, a timeout."""
from __future__ import annotations

import socket
import threading
from datetime import datetime, timedelta, timezone

import pytest
import redis
from standardwebhooks import Webhook

from integrations.config.webhooks import WebhookEndpoint, secret_problem
from integrations.webhooks import Delivery, WebhookLog, WebhookSink, backoff
from tests.webhook_receiver import SECRET, start_receiver


@pytest.fixture
def client(redis_url):
    found = redis.Redis.from_url(redis_url, decode_responses=True)
    yield found
    found.close()


def record(n: int, endpoint: str = "ops", state: str = "delivered") -> Delivery:
    at = datetime.now(timezone.utc) + timedelta(seconds=n)
    return Delivery(id=f"e{n}", endpoint=endpoint, type="page.sent", incident="1", handoff=None,
                    first_attempt=at.isoformat(), state=state)


def test_the_log_keeps_the_newest_records_per_endpoint(client):
    log = WebhookLog(client, keep=3)
    for n in range(5):
        log.put(record(n))
    log.put(record(9, endpoint="other", state="failed"))
    assert [r.id for r in log.recent(["ops"])] == ["e4", "e3", "e2"]  # newest first, the oldest dropped
    assert log.get("ops", "e0") is None
    assert [r.id for r in log.recent(["ops", "other"], limit=2)] == ["e9", "e4"]
    assert [r.id for r in log.recent(["ops", "other"], state="failed")] == ["e9"]
    updated = log.get("ops", "e3")
    updated.attempts = 4
    log.put(updated)  # an update keeps its place
    assert [r.attempts for r in log.recent(["ops"])] == [0, 4, 0]


def test_backoff_doubles_from_five_seconds_up_to_an_hour():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert backoff(9) == timedelta(seconds=1280) and backoff(11) == backoff(50) == timedelta(hours=1)


@pytest.mark.parametrize("value, problem", [
    (None, "is not set"), ("secret", "must be whsec_"), ("whsec_", "must be whsec_"),
    ("whsec_!!!!", "valid base64"), ("whsec_YWJj", "too short"), (SECRET, None)])
def test_secret_problems(value, problem):
    found = secret_problem(value)
    assert (found is None) if problem is None else (problem in found)


def test_a_delivery_is_signed_so_that_verify_accepts_it(client):
    receiver = start_receiver()
    try:
        endpoint = WebhookEndpoint("ops", receiver.url + "/in", frozenset({"page.sent"}), 5.0, SECRET)
        sink = WebhookSink(endpoint, WebhookLog(client), "https://h")
        now = datetime.now(timezone.utc)
        event = {"type": "page.sent", "id": "herald-incident-1-2", "timestamp": now.isoformat(), "data": {}}
        assert sink.deliver(event, now, incident="1").done
        [got] = receiver.received
        assert got.verified and Webhook(SECRET).verify(got.body, got.headers) == event
        assert got.headers["webhook-id"] == "herald-incident-1-2" and got.headers["user-agent"] == "Herald-Webhooks/1"
        assert WebhookLog(client).get("ops", "herald-incident-1-2").state == "delivered"
        assert sink.deliver(event, now, incident="1").done and len(receiver.received) == 1  # settled: not again
        sink.close()
    finally:
        receiver.stop()


def test_a_receiver_that_never_answers_times_out(client):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections, never reads or answers
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    try:
        port = listener.getsockname()[1]
        endpoint = WebhookEndpoint("slow", f"http://127.0.0.1:{port}/", frozenset({"page.sent"}), 0.3, SECRET)
        sink = WebhookSink(endpoint, WebhookLog(client), "https://h")
        now = datetime.now(timezone.utc)
        step = sink.deliver({"type": "page.sent", "id": "e1", "timestamp": "", "data": {}}, now, incident="1")
        assert not step.done and step.retry_at == now + timedelta(seconds=5)
        assert WebhookLog(client).get("slow", "e1").last_error == "timed out after 0.3s"
        sink.close()
    finally:
        stop.set()
        for s in held:
            s.close()
        listener.close()
