"""service.telemetry.metrics: own registry, transition counting, scrape-time collectors, worker server."""
from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import prometheus_client
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from rq import Queue

from integrations import keys
from routing.incident import Incident, PageIntent
from service.telemetry import metrics
from tests.conftest import ROOT

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def connects(monkeypatch) -> Callable[[int], list]:
    """``connects(port)``: the TCP connection attempts this process makes to ``port``
    from now on (each one is really made: the socket's own connect runs)."""

    def watch(port: int) -> list:
        attempts: list = []
        connect = socket.socket.connect

        def counted(sock: socket.socket, address):
            if isinstance(address, tuple) and address[1] == port:
                attempts.append(address)
            return connect(sock, address)

        monkeypatch.setattr(socket.socket, "connect", counted)
        return attempts

    return watch


@pytest.fixture(autouse=True)
def no_sources():
    yield
    metrics.observe()


def test_own_registry_herald_names_and_endpoint(redis_url):
    assert prometheus_client.REGISTRY.get_sample_value("herald_webhooks_received_total") is None
    metrics.observe(redis_url=redis_url, queue_name="herald")
    metrics.WEBHOOKS.inc()
    metrics.WEBHOOKS_REJECTED.labels(reason="invalid_payload").inc()
    app = FastAPI()
    app.include_router(metrics.router)
    with TestClient(app) as client:
        r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"] == prometheus_client.CONTENT_TYPE_LATEST
    names = {line.split("{")[0].split(" ")[0] for line in r.text.splitlines() if line and line[0] != "#"}
    assert names and all(n.startswith("herald_") for n in names)
    # pre-initialised (other tests in this process may have counted some already)
    assert 'herald_webhooks_rejected_total{reason="storage_unavailable"} ' in r.text
    assert 'herald_pages_total{channel="sms",outcome="failed"} 0.0' in r.text
    assert 'herald_time_to_acknowledge_seconds_bucket{le="+Inf",severity="P0"} 0.0' in r.text
    assert "herald_redis_up 1.0" in r.text and 'herald_rq_jobs{queue="herald",state="queued"} 0.0' in r.text


def _incident(**changes) -> Incident:
    base = Incident(id="1", receiver="r", group_key="g", policy="default", severity="P1", title="t",
                    created_at=T0)
    return base.model_copy(update=changes)


def test_transition_counts_count_each_change_once_in_redis(redis_url):
    metrics.observe(redis_url=redis_url)
    client = redis.Redis.from_url(redis_url)

    def record(previous, current):  # what COMMIT does with them, in the same write as the incident
        for name, amount in metrics.transition_counts(previous, current):
            client.hincrbyfloat(keys.METRICS, name, amount)

    page = {"person": "alice", "channel": "sms", "at": T0}
    first = _incident(round=1, pages=[PageIntent(round=1, tier="L1", **page)])
    record(None, first)
    second = first.model_copy(update={"round": 2, "pages": [*first.pages, PageIntent(round=2, tier="L2", **page)]})
    record(first, second)
    record(second, second)  # a re-send: nothing new
    acked = second.model_copy(update={"status": "acknowledged", "acknowledged_at": T0 + timedelta(seconds=400)})
    record(second, acked)
    record(acked, acked.model_copy(update={"status": "resolved"}))
    record(first, None)  # nothing committed: nothing counted
    for kind in ("opened", "acknowledged", "resolved"):
        assert value(f"herald_incidents_{kind}_total", severity="P1") == 1
        assert value(f"herald_incidents_{kind}_total", severity="P0") == 0
    assert value("herald_escalations_total", tier="L1") == value("herald_escalations_total", tier="L2") == 1
    bucket = {le: value("herald_time_to_acknowledge_seconds_bucket", severity="P1", le=le)
              for le in ("300.0", "600.0", "+Inf")}
    assert bucket == {"300.0": 0, "600.0": 1, "+Inf": 1}
    assert value("herald_time_to_acknowledge_seconds_sum", severity="P1") == 400
    assert value("herald_time_to_acknowledge_seconds_count", severity="P1") == 1
    client.close()


def test_shared_events_from_another_process_are_counted(redis_url):
    """RQ runs each job in a forked work horse: what it counts must reach the exporter."""
    child = ("from service.telemetry import metrics; import sys; metrics.observe(redis_url=sys.argv[1], export=False); "
             "metrics.PAGES.labels(channel='sms', outcome='sent').inc()")
    subprocess.run([sys.executable, "-c", child, redis_url], cwd=ROOT, check=True, timeout=60)
    metrics.observe(redis_url=redis_url)
    metrics.PAGES.labels(channel="sms", outcome="sent").inc()
    assert value("herald_pages_total", channel="sms", outcome="sent") == 2


def test_shared_events_without_redis_are_dropped_quietly(redis_url, caplog, connects):
    caplog.set_level(logging.DEBUG, logger="herald.metrics")
    metrics.observe(redis_url=redis_url)
    metrics.observe()  # no Redis now: the one observed before is no longer written to
    metrics.PAGES.labels(channel="sms", outcome="failed").inc()  # nowhere to record: no error
    port = closed_port()
    attempts = connects(port)
    metrics.observe(redis_url=f"redis://127.0.0.1:{port}/0")
    metrics.ESCALATION_LATENESS.observe(1.0)  # Redis down: dropped, not raised
    assert len(attempts) == 1  # one attempt, no retries: a job never waits on its metrics
    assert [r.getMessage() for r in caplog.records if r.name == "herald.metrics"] == [
        "metric not recorded: ConnectionError"]
    metrics.observe(redis_url=redis_url)
    assert value("herald_pages_total", channel="sms", outcome="failed") == 0
    assert value("herald_escalation_lateness_seconds_count") == 0


def test_lateness_and_coverage_gap_helpers(redis_url):
    metrics.observe(redis_url=redis_url, export=False)
    metrics.observe_escalation_lateness(T0, T0 + timedelta(seconds=0.3))
    metrics.observe_escalation_lateness(T0, T0 - timedelta(seconds=1))  # early counts as 0
    assert metrics.REGISTRY.get_sample_value("herald_escalation_lateness_seconds_count") is None  # not exported
    metrics.observe(redis_url=redis_url)
    assert value("herald_escalation_lateness_seconds_count") == 2
    assert value("herald_escalation_lateness_seconds_bucket", le="0.01") == 1  # the early one, as 0
    assert value("herald_escalation_lateness_seconds_bucket", le="0.5") == 2
    metrics.set_coverage_gap("primary", "L1", None)
    assert value("herald_coverage_gap_seconds", schedule="primary", tier="L1") == float("inf")
    metrics.set_coverage_gap("primary", "L1", 3600)
    assert value("herald_coverage_gap_seconds", schedule="primary", tier="L1") == 3600


def test_redis_state_collector(redis_url):
    client = redis.Redis.from_url(redis_url)
    now = time.time()
    client.zadd(keys.INCIDENTS_OPEN, {"1": now, "2": now})
    client.zadd(keys.DUE, {"incident:1": now - 3600, "incident:2": now + 60, "incident:3": now - 1})
    client.zadd(keys.WORKER_HEARTBEAT, {"w1": now - 5, "w2": now - 3600})
    metrics.observe(redis_url=redis_url)
    assert value("herald_redis_up") == 1 and value("herald_incidents_open") == 2
    assert value("herald_work_overdue") == 1 and value("herald_workers_alive") == 1
    assert value("herald_due_waiting") == 2  # due now, not yet claimed
    client.close()


def test_redis_down_is_a_gauge_not_a_failed_scrape(connects):
    port = closed_port()
    metrics.observe(redis_url=f"redis://127.0.0.1:{port}/0", queue_name="herald")
    attempts = connects(port)
    scrape = prometheus_client.generate_latest(metrics.REGISTRY).decode()
    # No retry loop inside a scrape: one connection attempt by each collector that reads
    # Redis (Herald's state, then RQ's queue), and then the scrape is answered.
    assert len(attempts) == 2
    samples = {line.split("{")[0].split(" ")[0]: line for line in scrape.splitlines() if line and line[0] != "#"}
    assert samples["herald_redis_up"] == "herald_redis_up 0.0"
    assert "herald_incidents_open" not in samples and "herald_rq_jobs" not in samples
    assert "herald_webhooks_received_total" in samples  # the rest of the scrape is there


def _noop() -> None:
    return None


def test_queue_collector(redis_url):
    connection = redis.Redis.from_url(redis_url)
    queue = Queue("herald-test", connection=connection)
    queue.enqueue(_noop)
    queue.enqueue_at(datetime.now(timezone.utc) + timedelta(hours=1), _noop)
    metrics.observe(redis_url=redis_url, queue_name="herald-test")
    assert value("herald_rq_jobs", queue="herald-test", state="queued") == 1
    assert value("herald_rq_jobs", queue="herald-test", state="scheduled") == 1
    assert value("herald_rq_jobs", queue="herald-test", state="failed") == 0
    direct = {s.labels["state"]: s.value for m in metrics.QueueCollector(queue).collect() for s in m.samples}
    assert direct["queued"] == 1
    connection.close()


def test_calendar_collector():
    status = {"primary": SimpleNamespace(error=None, shifts=12, loaded_at=T0 - timedelta(days=9), checked_at=T0),
              "backup": SimpleNamespace(error="CalendarError: bad", shifts=0, loaded_at=None, checked_at=None)}
    book = SimpleNamespace(status=status, rotation=lambda name: object() if name == "primary" else None)
    metrics.observe(calendars=book)
    assert value("herald_calendar_loaded", schedule="primary") == 1
    assert value("herald_calendar_loaded", schedule="backup") == 0
    assert value("herald_calendar_error", schedule="backup") == 1
    assert value("herald_calendar_shifts", schedule="primary") == 12
    assert value("herald_calendar_last_success_timestamp_seconds", schedule="primary") == T0.timestamp()
    assert metrics.REGISTRY.get_sample_value("herald_calendar_last_success_timestamp_seconds",
                                             {"schedule": "backup"}) is None


def test_calendar_collector_counts_skipped_events_and_uploads_awaited(tmp_path):
    """From a real book: primary's calendar has an event without DTSTART; team takes
    uploads and has none yet (not an error: /readyz and HeraldCalendarNotLoaded agree)."""
    from integrations.calendars import CalendarBook
    from integrations.config.model import load_config
    from tests.calendar_env import calendar, event, write_schedule_config

    now = datetime.now(timezone.utc)
    path = write_schedule_config(tmp_path / "conf")
    bad = "\r\n".join(["BEGIN:VEVENT", "UID:bad", "DTSTAMP:20260101T000000Z", "SUMMARY:On call", "END:VEVENT"])
    (path.parent / "primary.ics").write_bytes(
        calendar(event("good", "alice@example.com", now - timedelta(days=1), now + timedelta(days=1)), bad))
    book = CalendarBook(load_config(path), None, background=False)
    book.refresh(now, force=True)
    metrics.observe(calendars=book)
    try:
        assert value("herald_calendar_skipped_events", schedule="primary") == 1
        assert value("herald_calendar_skipped_events", schedule="backup") == 0
        assert value("herald_calendar_loaded", schedule="team") == 0
        assert value("herald_calendar_awaiting_upload", schedule="team") == 1
        assert value("herald_calendar_awaiting_upload", schedule="primary") == 0
        book.status["team"].error = "upload rejected: not a readable iCalendar file"  # a failed first upload
        assert value("herald_calendar_awaiting_upload", schedule="team") == 0
    finally:
        metrics.observe()
        book.close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


def test_worker_metrics_server_serves_metrics_and_sweep_health():
    """Two servers, so that no check depends on how fast this machine answers: a
    patient one (a sweep an hour old is still fine) and a strict one (0.2 s)."""
    patient = metrics.start_worker_metrics_server(0, "127.0.0.1", max_sweep_age=3600)
    strict = metrics.start_worker_metrics_server(0, "127.0.0.1", max_sweep_age=0.2)
    try:
        before = value("herald_sweeps_total", outcome="ok")
        metrics.sweep_finished(ok=True)
        status, body = _get(f"http://127.0.0.1:{patient.server_port}/metrics")
        assert status == 200 and f'herald_sweeps_total{{outcome="ok"}} {before + 1}' in body
        assert _get(f"http://127.0.0.1:{patient.server_port}/healthz")[0] == 200
        time.sleep(0.3)  # at least: longer than the strict server allows without a sweep
        status, body = _get(f"http://127.0.0.1:{strict.server_port}/healthz")
        assert status == 503 and "sweep stalled" in body  # the worker is not turning
        assert _get(f"http://127.0.0.1:{patient.server_port}/healthz")[0] == 200
    finally:
        for server in (patient, strict):
            server.shutdown()
            server.server_close()
