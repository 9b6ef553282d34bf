"""The real Alertmanager, driven by tests/alertmanager_harness.py, posts its
webhook to a capture server in this test."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import os
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

try:  # tests/ is a package (tests/__init__.py)
    from tests.alertmanager_harness import (
        AlertmanagerError,
        alertmanager_binary,
        build_config,
        clock_offset_and_error,
        measure_clock_offset,
        start_alertmanager,
    )
except ModuleNotFoundError:  # rootdir-style layout without tests/__init__.py
    from alertmanager_harness import (  # type: ignore[no-redef]
        AlertmanagerError,
        alertmanager_binary,
        build_config,
        clock_offset_and_error,
        measure_clock_offset,
        start_alertmanager,
    )

FIXTURES = Path(__file__).parent / "fixtures" / "alertmanager"

needs_alertmanager = pytest.mark.skipif(
    alertmanager_binary() is None,
    reason="prometheus-alertmanager not installed "
    "(apt-get install prometheus-alertmanager)",
)


class Capture:
    """Tiny HTTP server on 127.0.0.1 that records every POST."""

    def __init__(self) -> None:
        self.requests: "queue.Queue[dict]" = queue.Queue()
        captured = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                captured.put(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = (
            f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/alertmanager"
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout: float = 20.0) -> dict:
        try:
            req = self.requests.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no webhook within {timeout}s") from None
        req["json"] = json.loads(req["body"])
        return req

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def capture():
    cap = Capture()
    try:
        yield cap
    finally:
        cap.close()


def _alert(instance: str = "db1:9100") -> dict:
    return {
        "labels": {
            "alertname": "DiskFull",
            "severity": "critical",
            "instance": instance,
            "job": "node",
            "service": "db",
        },
        "annotations": {
            "summary": f"Disk almost full on {instance}",
            "description": f"Filesystem / on {instance} has less than 5% space left.",
        },
        "startsAt": dt.datetime.now(dt.timezone.utc),
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
    }


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); the harness waits, so none should remain.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@needs_alertmanager
def test_webhook_with_bearer_firing_then_resolved(tmp_path, capture):
    receiver = 'team-db/"oncall" pager'
    alert = _alert()
    with start_alertmanager(
        tmp_path, capture.url, bearer="test-am-token", receiver=receiver
    ) as am:
        assert am.url.startswith("http://127.0.0.1:")
        am.post_alerts([alert])

        firing = capture.next()
        assert firing["path"] == "/api/v1/alertmanager"
        assert firing["headers"]["Authorization"] == "Bearer test-am-token"
        assert firing["headers"]["Content-Type"] == "application/json"
        assert firing["headers"]["User-Agent"].startswith("Alertmanager/")
        body = firing["json"]
        assert body["version"] == "4"
        assert body["status"] == "firing"
        assert body["receiver"] == receiver
        assert body["groupLabels"] == {"alertname": "DiskFull", "service": "db"}
        assert body["groupKey"] == '{}:{alertname="DiskFull", service="db"}'
        assert body["externalURL"] == am.url
        assert body["truncatedAlerts"] == 0
        [got] = body["alerts"]
        assert got["status"] == "firing"
        assert got["labels"] == alert["labels"]
        assert got["annotations"] == alert["annotations"]
        assert got["endsAt"] == "0001-01-01T00:00:00Z"
        assert got["generatorURL"] == alert["generatorURL"]

        am.resolve_alerts([alert])
        resolved = capture.next()
        assert resolved["headers"]["Authorization"] == "Bearer test-am-token"
        body = resolved["json"]
        assert body["status"] == "resolved"
        [got] = body["alerts"]
        assert got["status"] == "resolved"
        assert got["labels"] == alert["labels"]
        assert not got["endsAt"].startswith("0001-")
        pid = am.pid
    assert pid is not None and not _pid_alive(pid)


@pytest.mark.slow
@needs_alertmanager
def test_basic_auth_and_second_alert_joins_group(tmp_path, capture):
    with start_alertmanager(
        tmp_path, capture.url, basic_auth=("alertmanager", "s3cret")
    ) as am:
        am.post_alerts([_alert("db1:9100")])
        first = capture.next()
        # base64("alertmanager:s3cret")
        assert first["headers"]["Authorization"] == "Basic YWxlcnRtYW5hZ2VyOnMzY3JldA=="
        assert len(first["json"]["alerts"]) == 1

        am.post_alerts([_alert("db2:9100")])
        second = capture.next()
        instances = [a["labels"]["instance"] for a in second["json"]["alerts"]]
        assert instances == ["db1:9100", "db2:9100"]
        assert "instance" not in second["json"]["commonLabels"]


@needs_alertmanager
def test_process_is_killed_when_the_test_body_raises(tmp_path, capture):
    pid = None
    with pytest.raises(RuntimeError, match="boom"):
        with start_alertmanager(tmp_path, capture.url) as am:
            pid = am.pid
            assert pid is not None and _pid_alive(pid)
            raise RuntimeError("boom")
    assert not _pid_alive(pid)
    am.stop()  # idempotent


@needs_alertmanager
def test_bad_start_raises_and_leaves_no_process(tmp_path):
    # An invalid duration makes Alertmanager refuse its config and exit.
    with pytest.raises(AlertmanagerError, match="exited with code"):
        start_alertmanager(tmp_path, "http://127.0.0.1:9/x", group_wait="soon")


def test_alertmanager_binary_respects_override(monkeypatch, tmp_path):
    monkeypatch.setenv("HERALD_ALERTMANAGER_BIN", str(tmp_path / "missing"))
    assert alertmanager_binary() is None


def test_config_escapes_receiver_and_sets_auth():
    cfg = build_config(
        "http://127.0.0.1:1/api/v1/alertmanager",
        bearer="t",
        receiver='a "quoted"/name',
    )
    [recv] = cfg["receivers"]
    assert recv["name"] == cfg["route"]["receiver"] == 'a "quoted"/name'
    [hook] = recv["webhook_configs"]
    assert hook["http_config"] == {
        "authorization": {"type": "Bearer", "credentials": "t"}
    }
    with pytest.raises(ValueError):
        build_config("http://x", bearer="t", basic_auth=("u", "p"))


@pytest.mark.parametrize(
    "name", ["firing.json", "firing_two_alerts.json", "resolved.json",
             "firing_truncated_child_route.json"]
)
def test_captured_fixtures_are_webhook_v4(name):
    body = json.loads((FIXTURES / name).read_text())
    assert body["version"] == "4"
    assert set(body) >= {
        "receiver", "status", "alerts", "groupLabels", "commonLabels",
        "commonAnnotations", "externalURL", "groupKey", "truncatedAlerts",
    }
    for a in body["alerts"]:
        assert a["labels"]["alertname"] == "DiskFull"
        assert a["status"] in ("firing", "resolved")
        if a["status"] == "firing":
            assert a["endsAt"] == "0001-01-01T00:00:00Z"


class SkewedClock:
    """127.0.0.1 HTTP server whose ``Date`` header runs ``skew`` ahead of our clock."""

    def __init__(self, skew: dt.timedelta) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def date_time_string(self, timestamp=None) -> str:  # noqa: ARG002
                return email.utils.format_datetime(dt.datetime.now(dt.timezone.utc) + skew, usegmt=True)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.mark.parametrize("days", [-400, -45, 45])
def test_clock_offset_is_measured_to_a_fraction_of_a_second(days):
    skew = dt.timedelta(days=days, milliseconds=300)
    server = SkewedClock(skew)
    try:
        with httpx.Client(base_url=server.url, trust_env=False) as client:
            offset, error = clock_offset_and_error(client, path="/")
    finally:
        server.close()
    # Within the bound it reports (half the time between the two requests around the
    # server's tick: how small that is depends on the machine's load, not on the method),
    # and that bound is below the header's one-second resolution.
    assert error < dt.timedelta(seconds=1), error
    assert abs(offset - skew) <= error + dt.timedelta(milliseconds=5), (offset, error)


@pytest.mark.parametrize("seconds", [0, 1.2, -1.2])
def test_a_clock_difference_under_two_seconds_counts_as_none(seconds):
    server = SkewedClock(dt.timedelta(seconds=seconds))
    try:
        with httpx.Client(base_url=server.url, trust_env=False) as client:
            assert measure_clock_offset(client, path="/") == dt.timedelta(0)
    finally:
        server.close()


@pytest.mark.slow
@needs_alertmanager
def test_times_are_sent_on_alertmanagers_clock(tmp_path, capture):
    """Under ``make test-future`` our clock is 45 or 400 days ahead of Alertmanager's
    (it ignores libfaketime): startsAt=now must still be now to Alertmanager, and a
    resolve must be in its past. On a normal run the offset is exactly 0."""
    with start_alertmanager(tmp_path, capture.url) as am:
        answer = httpx.get(f"{am.url}/-/ready", trust_env=False)
        their_now = email.utils.parsedate_to_datetime(answer.headers["Date"])
        assert abs(am.now() - their_now) < dt.timedelta(seconds=2)
        if os.environ.get("FAKETIME") is None:
            assert am.clock_offset == dt.timedelta(0)
        alert = _alert()
        am.post_alerts([alert])
        [held] = am.get_alerts()
        starts = dt.datetime.fromisoformat(held["startsAt"].replace("Z", "+00:00"))
        assert abs(starts - am.now()) < dt.timedelta(seconds=30)
        assert capture.next()["json"]["status"] == "firing"
        am.resolve_alerts([alert])
        resolved = capture.next()["json"]
        assert resolved["status"] == "resolved"
        ends = dt.datetime.fromisoformat(resolved["alerts"][0]["endsAt"].replace("Z", "+00:00"))
        assert starts < ends <= am.now()
