"""A provider outage: the simulator answers 5xx, or hangs past the client's timeout.
Pages are retried with exponential backoff (5 s, 10 s, 20 s, 40 s), move to the next
channel once the attempts are used up, and after recovery each (round, person,
channel) is delivered exactly once — however many duplicate jobs run."""
from __future__ import annotations

import pytest

from routing.page_outcomes import MAX_ATTEMPTS, backoff
from service.engine.delivery import deliver
from tests.faults.harness import ALICE
from tests.faults.inprocess import local_herald


def _kinds(local, incident_id: str, kind: str) -> list[dict]:
    incident = local.herald.store.get(incident_id)
    return [e.details for e in incident.timeline if e.kind == kind]


def test_outage_retries_with_backoff_then_falls_back_to_the_next_channel(tmp_path, redis_url):
    with local_herald(tmp_path, redis_url) as local:
        local.sim.inject("sms", "5xx", count=MAX_ATTEMPTS)
        incident_id = local.fire()
        opened = local.clock.now
        waited = []
        for attempt in range(1, MAX_ATTEMPTS + 1):
            deliver(local.herald, incident_id)
            page = local.herald.store.get(incident_id).pages[0]
            assert page.attempts == attempt
            if attempt < MAX_ATTEMPTS:
                assert page.state == "pending" and page.at == local.clock.now + backoff(attempt)
                local.clock.advance(1)  # a job a second early sends nothing ...
                assert deliver(local.herald, incident_id) == 0
                waited.append((page.at - local.clock.now).total_seconds() + 1)
                local.clock.now = page.at  # ... the one on time tries again
        assert waited == [5, 10, 20, 40]
        assert [p.state for p in local.herald.store.get(incident_id).pages] == ["failed", "pending"]
        assert _kinds(local, incident_id, "channel_fallback")[0]["next"] == "voice"
        for _ in range(3):  # the fallback's job, and two duplicates of it
            deliver(local.herald, incident_id)
        assert local.sent(ALICE, "sms") == [] and len(local.sent(ALICE, "voice")) == 1
        assert [(p["channel"], p["round"]) for p in _kinds(local, incident_id, "page")] == [("voice", 1)]
        assert (local.clock.now - opened).total_seconds() == 75


@pytest.mark.parametrize("mode", ["5xx", "timeout"])
def test_recovery_delivers_exactly_once(tmp_path, redis_url, mode):
    with local_herald(tmp_path, redis_url, HERALD_PROVIDER_TIMEOUT="1") as local:
        local.sim.inject("sms", mode, count=2, seconds=30)  # "timeout": hang (until reset) past a 1 s timeout
        incident_id = local.fire()
        deliver(local.herald, incident_id)
        # The client gave up after its own timeout, while the provider still hung (it would
        # have answered 504 at the end of the hang): the retry records the client's timeout.
        [first_try] = _kinds(local, incident_id, "page_retry")
        assert first_try["detail"] == "twilio: timeout" if mode == "timeout" else "HTTP 500" in first_try["detail"]
        for _ in range(2):
            local.clock.now = local.herald.store.get(incident_id).pages[0].at
            deliver(local.herald, incident_id)
        for _ in range(3):  # duplicated and retried jobs after recovery
            deliver(local.herald, incident_id)
        local.sim.reset()  # end the simulated hangs, keep nothing but what is asserted below
        [page] = local.herald.store.get(incident_id).pages
        assert (page.state, page.attempts) == ("sent", 3)
        assert len(_kinds(local, incident_id, "page_retry")) == 2 and len(_kinds(local, incident_id, "page")) == 1
        sent = _kinds(local, incident_id, "page")[0]["provider_id"]
        assert local.herald.store.redis.get(f"herald:sendlog:{incident_id}:1:alice:sms") == f"sent:{sent}"
