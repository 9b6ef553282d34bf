"""An acknowledgement racing the escalation job, many times over (bounded): the job
and the ack start together on two threads against a real Redis, with the real Twilio
SDK sending to the simulator. Whoever wins, nothing is claimed for sending after the
ack has committed, every message the provider got is on the incident's timeline, and
the person paged at most once."""
from __future__ import annotations

import random
import threading
import time

from routing.incident import Acknowledge
from service.worker import due
from service.engine.delivery import deliver
from tests.faults.harness import BOB
from tests.faults.inprocess import local_herald

ITERATIONS = 40


def test_ack_racing_escalation_never_pages_after_the_ack(tmp_path, redis_url):
    with local_herald(tmp_path, redis_url, delay="10s", HERALD_RATE_LIMIT_SMS="0") as local:
        herald, rng = local.herald, random.Random(6)
        claims: list[tuple[float, str, str, str]] = []  # (monotonic time before the claim, incident, person, result)
        original_claim = herald.store.claim_send

        def claim_send(incident_id, round_, person, channel, holder, lease_seconds=120):
            asked = time.monotonic()  # the claim ran in Redis after this
            result = original_claim(incident_id, round_, person, channel, holder, lease_seconds)
            claims.append((asked, incident_id, person, result))
            return result

        herald.store.claim_send = claim_send  # type: ignore[method-assign]
        acked_at: dict[str, float] = {}
        won = {"ack": 0, "escalation": 0}
        try:
            for n in range(ITERATIONS):
                incident_id = local.fire(f"race-{n}")
                deliver(herald, incident_id)  # alice's page (L1) goes out first
                local.clock.advance(11)  # the L1 window has passed: the escalation job is due
                go = threading.Barrier(2)

                pauses = (rng.random() * 0.01, rng.random() * 0.03)  # the ack lands anywhere in the job's run

                def escalate(incident_id=incident_id, go=go, pause=pauses[0]) -> None:
                    go.wait()
                    time.sleep(pause)
                    due.run_incident(herald, incident_id)  # what the incident's due job does

                def acknowledge(incident_id=incident_id, go=go, pause=pauses[1]) -> None:
                    go.wait()
                    time.sleep(pause)
                    herald.act(incident_id, Acknowledge(by="alice", via="link"))
                    acked_at[incident_id] = time.monotonic()  # the commit happened before this

                threads = [threading.Thread(target=escalate), threading.Thread(target=acknowledge)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(timeout=30)
                    assert not thread.is_alive()
                incident = herald.store.get(incident_id)
                assert incident is not None and incident.status == "acknowledged"
                won["escalation" if incident.round == 2 else "ack"] += 1
        finally:
            herald.store.claim_send = original_claim  # type: ignore[method-assign]
        late = [(i, p) for t, i, p, r in claims if r == "ok" and t > acked_at[i]]
        assert late == [], "send-log claims granted after the ack committed"

        by_incident: dict[str, int] = {}
        for message in local.sent(BOB):
            for incident_id in acked_at:
                if f"#{incident_id} " in message.body:
                    by_incident[incident_id] = by_incident.get(incident_id, 0) + 1
        for incident_id, count in by_incident.items():
            incident = herald.store.get(incident_id)
            assert count == 1
            recorded = [e for e in incident.timeline if e.kind == "page" and e.details["person"] == "bob"]
            assert len(recorded) == 1, f"incident {incident_id}: bob was paged but the timeline does not say so"
        assert won["ack"] and won["escalation"], f"the race was not exercised both ways: {won}"
