"""The episode rule (docs/alertmanager.md, "Episodes") against an unmodified Alertmanager.

Both directions: a resolve whose startsAt moved earlier than the one Herald holds (an HA
pair of Prometheus replicas, merged by Alertmanager keeping the earliest) or that was
ended by hand in the past (``amtool alert add … --end``) resolves the incident; a late
firing copy of an episode that has already ended (the other Alertmanager of an HA pair
delivering late) pages nobody, while a new episode after the end does page.

Times are taken on our clock (``now()``) and the harness sends them on Alertmanager's
(under ``make test-future`` ours moves and its does not); what Herald then holds is on
Alertmanager's clock (``am.clock_offset`` later). amtool gets ``am.now()``, its clock."""
from __future__ import annotations

import re
import subprocess
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.alertmanager_harness import alertmanager_binary, start_alertmanager
from tests.herald_env import AM_TOKEN
from tests.processes import incident, incidents, module_stack, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(alertmanager_binary() is None,
                       reason="prometheus-alertmanager is not installed (.ci/run installs it)"),
]
GROUP_INTERVAL = 2  # seconds (the harness's Alertmanager configuration)


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    with module_stack(tmp_path_factory.mktemp("episodes"), "1h") as shared:
        yield shared


@pytest.fixture
def stack(running):
    return running.begin()


def alert(name: str, **times: datetime) -> dict:
    return {"labels": {"alertname": name, "service": "db", "instance": "db1:9100", "severity": "critical"},
            "annotations": {"summary": f"{name} on db1"}, **{f"{k}At": v for k, v in times.items()}}


def starts_at(url: str, incident_id: str) -> datetime:
    [held] = incident(url, incident_id)["alerts"].values()
    return datetime.fromisoformat(held["starts_at"].replace("Z", "+00:00"))


def webhooks_sent(am) -> float:
    """How many notifications this Alertmanager's webhook has delivered and had answered
    (its /metrics: the latency of a send is observed once the answer is in)."""
    text = httpx.get(f"{am.url}/metrics", timeout=5).text
    match = re.search(r'^alertmanager_notification_latency_seconds_count\{integration="webhook"\} (\S+)$', text, re.M)
    assert match, "alertmanager_notification_latency_seconds_count{integration=\"webhook\"} not in /metrics"
    return float(match.group(1))


def now() -> datetime:
    return datetime.now(timezone.utc)


def opened_by(am, url: str, api_proc, name: str, started: datetime) -> dict:
    am.post_alerts([alert(name, starts=started)])
    [opened] = wait_for(lambda: incidents(url), 20, "the firing notification", api_proc)
    assert abs(starts_at(url, opened["id"]) - (started + am.clock_offset)) < timedelta(seconds=1)
    return opened


def earliest_start(am) -> datetime:
    return min(datetime.fromisoformat(a["startsAt"].replace("Z", "+00:00")) for a in am.get_alerts())


def test_resolve_whose_starts_at_moved_earlier_resolves(stack, tmp_path):
    with start_alertmanager(tmp_path / "am", f"{stack.url}/api/v1/alertmanager", bearer=AM_TOKEN) as am:
        replica_a = now() - timedelta(minutes=1)
        replica_b = now() - timedelta(minutes=3)
        opened = opened_by(am, stack.url, stack.worker, "HAMerge", replica_a)
        am.post_alerts([alert("HAMerge", starts=replica_b)])  # replica B saw it fire earlier
        wait_for(lambda: earliest_start(am) < replica_a + am.clock_offset, 10,
                 "Alertmanager to keep the earlier startsAt")
        ended = now() - timedelta(seconds=1)
        am.post_alerts([alert("HAMerge", starts=replica_a, ends=ended), alert("HAMerge", starts=replica_b, ends=ended)])
        done = wait_for(lambda: (i := incident(stack.url, opened["id"]))["status"] == "resolved" and i, 20,
                        "the incident to resolve", stack.worker)
        assert done["resolved_by"] == "alertmanager"
        assert abs(starts_at(stack.url, opened["id"]) - (replica_b + am.clock_offset)) < timedelta(seconds=1)
        assert len(incidents(stack.url)) == 1


@pytest.mark.parametrize("end_before", [timedelta(seconds=30), timedelta(minutes=5)],
                         ids=["after-its-start", "before-its-start"])


def test_alert_ended_by_hand_in_the_past_with_amtool_resolves(stack, tmp_path, end_before):
    with start_alertmanager(tmp_path / "am", f"{stack.url}/api/v1/alertmanager", bearer=AM_TOKEN) as am:
        opened = opened_by(am, stack.url, stack.worker, "EndedByHand", now() - timedelta(minutes=1))
        end = (am.now() - end_before).replace(microsecond=0).isoformat()
        labels = [f"{k}={v}" for k, v in alert("EndedByHand")["labels"].items()]
        done = subprocess.run(["amtool", f"--alertmanager.url={am.url}", "alert", "add", *labels, f"--end={end}"],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        wait_for(lambda: incident(stack.url, opened["id"])["status"] == "resolved", 20,
                 "the incident to resolve", stack.worker)


def test_late_firing_copy_from_the_other_alertmanager_pages_nobody(stack, tmp_path):
    webhook = f"{stack.url}/api/v1/alertmanager"
    with start_alertmanager(tmp_path / "am1", webhook, bearer=AM_TOKEN) as am1, \
            start_alertmanager(tmp_path / "am2", webhook, bearer=AM_TOKEN) as am2:
        earliest = now() - timedelta(minutes=3)
        opened = opened_by(am1, stack.url, stack.worker, "LateCopy", earliest)
        am1.post_alerts([alert("LateCopy", starts=earliest, ends=now() - timedelta(seconds=1))])
        wait_for(lambda: incident(stack.url, opened["id"])["status"] == "resolved", 20, "the resolve", stack.worker)
        timeline = len(incident(stack.url, opened["id"])["timeline"])

        # The other Alertmanager delivers its copy late: its replica's startsAt, before the end.
        sent = webhooks_sent(am2)
        am2.post_alerts([alert("LateCopy", starts=now() - timedelta(minutes=1))])
        wait_for(lambda: webhooks_sent(am2) > sent, 20, "the second Alertmanager's notification")
        [still] = incidents(stack.url)
        assert still["id"] == opened["id"] and still["status"] == "resolved"
        late = incident(stack.url, opened["id"])
        assert len(late["timeline"]) == timeline and not [e for e in late["timeline"][timeline:] if e["kind"] == "page"]

        # A new episode, begun after the end, is news: it opens an incident that pages.
        am1.post_alerts([alert("LateCopy", starts=now())])
        fresh = wait_for(lambda: [i for i in incidents(stack.url) if i["id"] != opened["id"]], 20,
                         "the new episode's incident", stack.worker)
        assert fresh[0]["status"] == "triggered"
        paging = [p for p in incident(stack.url, fresh[0]["id"])["pages"] if p["tier"] == "L1"]
        assert paging and {p["person"] for p in paging} == {"alice"}  # sent once her SMS window allows
