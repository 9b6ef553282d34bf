"""Replicas and duplicates: two ``herald serve`` and two ``herald worker`` processes on
one Redis. Alertmanager's HA pair and its re-sends post the same webhook many times at
once, firing and resolved arrive out of order, and jobs run on either worker — still
one incident per group, the right final state, and no page twice (counted in the
simulator)."""
from __future__ import annotations

import json
import random
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from service.dev.local_redis import start_redis
from tests.faults.harness import ALICE, AM, API, Deployment, deploy
from tests.processes import wait_for, wait_idle, wait_sweep, wait_timer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("replicas")
    server = start_redis(tmp / "redis", appendonly=False)
    stack = deploy(tmp, server.url, apis=2, workers=2, delay="3s")
    yield stack
    stack.stop()
    server.stop()


def _post_all(stack: Deployment, payloads: list[dict]) -> list[httpx.Response]:
    urls = [url for _, url in stack.apis]
    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=50)) as client:
        def post(item: tuple[int, dict]) -> httpx.Response:
            n, payload = item
            return client.post(f"{urls[n % len(urls)]}/api/v1/alertmanager", content=json.dumps(payload), headers=AM)

        with ThreadPoolExecutor(max_workers=25) as pool:
            return list(pool.map(post, enumerate(payloads)))


def test_the_same_webhook_100_times_at_once_then_resolved_out_of_order(replicas):
    stack = replicas
    answers = _post_all(stack, [stack.payload("storm")] * 100)
    assert {r.status_code for r in answers} == {200}, [r.text for r in answers if r.status_code != 200][:3]
    ids = {i["id"] for r in answers for i in r.json()["incidents"]}
    assert len(ids) == 1
    [incident_id] = ids
    wait_for(lambda: len(stack.texts(ALICE)) >= 1, 10, "the page")

    # Re-sends and the resolve, shuffled and concurrent: late firing copies do not reopen it.
    mixed = [stack.payload("storm")] * 50 + [stack.payload("storm", status="resolved")] * 50
    random.Random(6).shuffle(mixed)
    answers = _post_all(stack, mixed)
    assert {r.status_code for r in answers} == {200}
    assert {i["id"] for r in answers for i in r.json()["incidents"]} == {incident_id}
    wait_for(lambda: stack.incident(incident_id)["status"] == "resolved", 10, "resolved")
    refire = stack.post(stack.payload("storm"))  # a stale re-fire
    assert refire.status_code == 200, refire.text
    assert refire.json()["incidents"][0]["id"] == incident_id
    resolved = stack.incident(incident_id)
    paged_at_resolve = sum(1 for e in resolved["timeline"] if e["kind"] == "page")
    # The timer of the round the resolve ended fires, and all it started is done: nobody
    # is paged after the resolve.
    wait_timer(stack.redis_url, incident_id, resolved["round"])
    wait_idle(stack.redis_url)
    after = stack.incident(incident_id)
    assert after["status"] == "resolved"
    assert sum(1 for e in after["timeline"] if e["kind"] == "page") == paged_at_resolve
    pages = _pages_exactly_once(stack, [incident_id])
    assert ("1", "alice") in {(str(r), p) for _, r, p, _ in pages}


def test_resolved_delivered_before_its_firing_pages_nobody(replicas):
    stack = replicas
    first = stack.post(stack.payload("late", status="resolved"))
    assert first.status_code == 200, first.text
    r = stack.post(stack.payload("late"))  # the firing notification, delayed and retried
    assert r.status_code == 200, r.text
    refs = r.json()["incidents"]
    # Whatever the webhooks left for the workers is done, and a whole sweep ran after.
    wait_idle(stack.redis_url)
    wait_sweep(stack.redis_url)
    for ref in refs:
        assert stack.incident(ref["id"])["status"] == "resolved"
        assert not [m for m in stack.sim.messages if f"#{ref['id']}" in m.body]


def test_two_apis_two_workers_no_duplicate_pages(replicas):
    stack = replicas
    groups = [f"many-{n}" for n in range(12)]
    answers = _post_all(stack, [stack.payload(g, alertname=f"A{g}") for g in groups] * 2)  # each twice
    assert {r.status_code for r in answers} == {200}, [r.text for r in answers if r.status_code != 200][:3]
    ids = sorted({i["id"] for r in answers for i in r.json()["incidents"]})
    assert len(ids) == len(groups)
    wait_for(lambda: all(_rounds_paged(stack, i) >= {1, 2} for i in ids), 30, "L1 and L2 paged for every group")

    pages = _pages_exactly_once(stack, ids)
    assert {(i, r) for i, r, *_ in pages} >= {(i, r) for i in ids for r in (1, 2)}
    listed = httpx.get(f"{stack.apis[1][1]}/api/v1/incidents?status=open", headers=API, timeout=10)
    assert listed.status_code == 200, listed.text


def _rounds_paged(stack: Deployment, incident_id: str) -> set[int]:
    return {e["details"]["round"] for e in stack.incident(incident_id)["timeline"] if e["kind"] == "page"}


def _timeline_pages(stack: Deployment, ids: list[str]) -> tuple[Counter, set[str]]:
    pages: Counter = Counter()
    recorded = set()
    for incident_id in ids:
        for entry in stack.incident(incident_id)["timeline"]:
            if entry["kind"] == "page":
                d = entry["details"]
                pages[(incident_id, d["round"], d["person"], d["channel"])] += 1
                recorded.add(d["provider_id"])
    return pages, recorded


def _pages_exactly_once(stack: Deployment, ids: list[str]) -> Counter:
    """Every (incident, round, person, channel) paged at most once, and every message the
    simulator got for these incidents is one an incident recorded (a duplicate send would
    be a message no timeline ever names: a page is recorded sent once)."""
    mention = re.compile("|".join(rf"#{i}\b" for i in ids))
    received = {m.provider_id for m in list(stack.sim.messages) if m.direction == "outbound" and mention.search(m.body)}
    # a message the provider has is recorded on its incidents a moment later (longer under load)
    wait_for(lambda: received <= _timeline_pages(stack, ids)[1], 15, "every delivered message on a timeline")
    pages, _ = _timeline_pages(stack, ids)
    assert pages and max(pages.values()) == 1, pages
    return pages
