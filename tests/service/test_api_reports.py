"""The SLA report over HTTP: JSON and CSV, range validation, drills apart."""
import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from routing.incident import Escalate
from tests.herald_env import AM_TOKEN, API_TOKEN, fixture_payload

API = {"Authorization": f"Bearer {API_TOKEN}"}
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
RANGE = "from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z"


@pytest.fixture
def clock(herald):
    state = {"at": T0}
    herald.clock = lambda: state["at"]
    return state


def fire(client, group: str) -> str:
    payload = fixture_payload("firing.json")
    payload["groupKey"] = group
    r = client.post("/api/v1/alertmanager", content=json.dumps(payload), headers={"Authorization": f"Bearer {AM_TOKEN}"})
    assert r.status_code == 200, r.text
    return r.json()["incidents"][0]["id"]


def act(client, incident_id: str, action: str) -> None:
    r = client.post(f"/api/v1/incidents/{incident_id}/{action}", headers=API)
    assert r.status_code == 200, r.text


@pytest.fixture
def history(client, herald, clock):
    """Three real P1 incidents and one drill in March 2026, one real incident in February."""
    clock["at"] = datetime(2026, 2, 27, tzinfo=timezone.utc)
    fire(client, "february")
    clock["at"] = T0
    acked_fast, acked_late, never = fire(client, "a"), fire(client, "b"), fire(client, "c")
    drill = client.post("/api/v1/drills", json={"policy": "default", "severity": "P1"}, headers=API)
    assert drill.status_code == 201, drill.text
    clock["at"] += timedelta(minutes=2)
    act(client, acked_fast, "ack")
    act(client, drill.json()["drills"][0]["incident_id"], "ack")
    clock["at"] += timedelta(minutes=58)  # the test config gives every tier 1 h: the timers escalate
    for incident_id in (acked_late, never):
        assert herald.act(incident_id, Escalate(round=1)).changed
    clock["at"] += timedelta(minutes=30)
    act(client, acked_late, "ack")
    clock["at"] += timedelta(minutes=30)
    act(client, acked_fast, "resolve")
    return acked_fast, acked_late, never


def test_json_report(client, history):
    r = client.get(f"/api/v1/reports/sla?{RANGE}", headers=API)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["from"], report["to"]) == ("2026-03-01T00:00:00+00:00", "2026-04-01T00:00:00+00:00")
    p1 = report["incidents"]["by_severity"]["P1"]
    assert (p1["incidents"], p1["acknowledged"], p1["resolved"]) == (3, 2, 1)
    assert p1["mtta_seconds"] == (2 * 60 + 90 * 60) / 2 and p1["mttr_seconds"] == 120 * 60
    assert (p1["sla_counted"], p1["acknowledged_within_sla"], p1["share_within_sla"]) == (3, 1, 0.3333)
    assert p1["escalations_per_tier"] == {"L1": 3, "L2": 2}  # the late and the never-acked one climbed at +1 h
    assert report["incidents"]["by_policy"]["default"] == p1 == report["incidents"]["total"]
    assert report["drills"]["total"]["incidents"] == 1 and report["drills"]["total"]["share_within_sla"] == 1.0


def test_csv_report(client, history):
    r = client.get(f"/api/v1/reports/sla?{RANGE}&format=csv", headers=API)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="herald-sla-20260301-20260401.csv"' in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:4] == ["kind", "severity", "policy", "incidents"]
    assert [row[:4] for row in rows[1:]] == [["drill", "P1", "default", "1"], ["incident", "P1", "default", "3"]]
    assert rows[2][-1] == "L1=3;L2=2"


def test_an_empty_range(client, history):
    # A month that ends long before the history (taken at the injected clock T0) began.
    empty = f"from={T0 - timedelta(days=400):%Y-%m-%d}&to={T0 - timedelta(days=369):%Y-%m-%d}"
    r = client.get(f"/api/v1/reports/sla?{empty}", headers=API)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["incidents"]["total"]["incidents"] == 0 and report["incidents"]["total"]["mtta_seconds"] is None
    r = client.get(f"/api/v1/reports/sla?{empty}&format=csv", headers=API)
    assert r.status_code == 200, r.text
    rows = r.text
    assert rows.strip().count("\n") == 0  # the header alone


DAY = (datetime.now(timezone.utc) - timedelta(days=30)).date()  # a day in the past, whatever today is


@pytest.mark.parametrize("query,status,detail", [
    (f"from=yesterday&to={DAY}", 400, "from: not an ISO 8601 time: 'yesterday'"),
    (f"from={DAY}&to=soon", 400, "to: not an ISO 8601 time: 'soon'"),
    (f"from={DAY + timedelta(days=1)}&to={DAY}", 400, "to: must be after from"),
    (f"from={(datetime.now(timezone.utc) - timedelta(days=500)).date()}&to={(datetime.now(timezone.utc) - timedelta(days=100)).date()}", 400, "to: at most 366 days after from"),
    (f"{RANGE}&format=xml", 422, "query parameter 'format': input should be 'json' or 'csv', got 'xml'"),
])
def test_bad_ranges_are_refused_naming_the_field(client, query, status, detail):
    r = client.get(f"/api/v1/reports/sla?{query}", headers=API)
    assert r.status_code == status, r.text
    assert r.json()["detail"].startswith(detail), r.text


@pytest.fixture
def recent(client, clock):
    """One incident 40 days ago and one 10 days ago (Herald's clock set to each, then to now)."""
    now = datetime.now(timezone.utc)
    for days in (40, 10):
        clock["at"] = now - timedelta(days=days)
        fire(client, f"recent-{days}")
    clock["at"] = now
    return now


def test_without_a_range_the_report_covers_the_last_30_days(client, recent):
    r = client.get("/api/v1/reports/sla", headers=API)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["from"], report["to"]) == ((recent - timedelta(days=30)).isoformat(), recent.isoformat())
    assert report["incidents"]["total"]["incidents"] == 1  # the one 10 days ago
    csv_answer = client.get("/api/v1/reports/sla?format=csv", headers=API)
    assert csv_answer.status_code == 200 and csv_answer.text.count("\r\n") == 2  # the header and one row


def test_with_one_end_of_the_range_the_other_is_30_days_away(client, recent):
    start = (recent - timedelta(days=45)).isoformat()
    report = client.get("/api/v1/reports/sla", params={"from": start}, headers=API).json()
    assert report["to"] == (recent - timedelta(days=15)).isoformat()
    assert report["incidents"]["total"]["incidents"] == 1  # the one 40 days ago
    report = client.get("/api/v1/reports/sla", params={"to": (recent - timedelta(days=5)).isoformat()},
                        headers=API).json()
    assert report["from"] == (recent - timedelta(days=35)).isoformat()
    assert report["incidents"]["total"]["incidents"] == 1  # the one 10 days ago
    report = client.get("/api/v1/reports/sla", params={"from": (recent - timedelta(days=20)).isoformat()},
                        headers=API).json()
    assert report["to"] == recent.isoformat()  # never past now


def test_a_start_in_the_future_without_an_end_is_refused(client, recent):
    r = client.get("/api/v1/reports/sla", params={"from": (recent + timedelta(days=1)).isoformat()}, headers=API)
    assert r.status_code == 400 and r.json()["detail"] == "from: is not before now; give to as well"


def test_report_needs_the_api_token(client):
    assert client.get(f"/api/v1/reports/sla?{RANGE}").status_code == 401
    assert client.get(f"/api/v1/reports/sla?{RANGE}", headers={"Authorization": f"Bearer {AM_TOKEN}"}).status_code == 401
