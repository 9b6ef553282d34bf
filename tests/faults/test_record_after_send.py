"""Redis goes away between the provider taking a page and Herald recording it — as in a
Sentinel failover, when there is no master for the seconds until a replica is promoted.
The sender keeps trying to record the send while its claim still keeps every other
sender off the page (two thirds of the send lease): a record given up on would be the
page sent a second time once the claim runs out. Redis here is stopped and started again
on the same port and files, from the simulator's side, the moment it accepts the SMS."""
from __future__ import annotations

import threading

import pytest
import redis

from service.dev.local_redis import start_redis
from service.engine.delivery import deliver
from tests.faults.harness import ALICE
from tests.faults.inprocess import local_herald


def _away_on_send(local, server, seconds: float) -> list:
    """From the next SMS the provider accepts: Redis stopped, back after ``seconds``."""
    record, back = local.sim.record, []

    def away(message):
        kept = record(message)
        if message.direction == "outbound" and not back:
            server.stop()
            timer = threading.Timer(seconds, lambda: back.append(start_redis(server.directory, server.port)))
            timer.start()
            back.append(timer)
        return kept

    local.sim.record = away  # the provider simulator's inbox, not Redis: Redis is real
    return back


def test_a_send_is_recorded_once_redis_is_back_and_never_sent_again(tmp_path):
    server = start_redis(tmp_path / "redis", appendonly=True)
    try:
        with local_herald(tmp_path, server.url, HERALD_SEND_LEASE="15") as local:
            incident_id = local.fire()
            back = _away_on_send(local, server, 1.0)
            deliver(local.herald, incident_id)  # returns once the send is recorded
            back[0].join()
            [message] = local.sent(ALICE)
            sendlog = f"herald:sendlog:{incident_id}:1:alice:sms"
            assert local.herald.store.redis.get(sendlog) == f"sent:{message.provider_id}"
            local.clock.advance(60)  # long past the claim's lease: the record, not the lease, holds it
            for _ in range(2):
                deliver(local.herald, incident_id)
            assert len(local.sent(ALICE)) == 1
            [page] = local.herald.store.get(incident_id).pages
            assert page.state == "sent" and page.provider_id == message.provider_id
    finally:
        server.stop()


def test_a_short_absence_is_ridden_out_within_a_short_lease(tmp_path):
    server = start_redis(tmp_path / "redis", appendonly=True)
    try:
        with local_herald(tmp_path, server.url, HERALD_SEND_LEASE="3") as local:
            incident_id = local.fire()
            back = _away_on_send(local, server, 0.1)
            deliver(local.herald, incident_id)
            back[0].join()
            [message] = local.sent(ALICE)
            assert local.herald.store.get(incident_id).pages[0].provider_id == message.provider_id
    finally:
        server.stop()


def test_redis_away_longer_than_the_claim_gives_up_and_leaves_the_page_to_the_lease(tmp_path):
    """Past two thirds of the lease the claim may run out under another sender: the
    sender stops trying and fails, as before (at least once: the sweep sends it again)."""
    server = start_redis(tmp_path / "redis", appendonly=True)
    try:
        with local_herald(tmp_path, server.url, HERALD_SEND_LEASE="1") as local:
            incident_id = local.fire()
            back = _away_on_send(local, server, 3.0)
            with pytest.raises(redis.ConnectionError):
                deliver(local.herald, incident_id)
            back[0].join()
            assert len(local.sent(ALICE)) == 1
            client = local.herald.store.redis
            assert not client.get(f"herald:sendlog:{incident_id}:1:alice:sms")  # claim run out: not recorded
    finally:
        server.stop()
