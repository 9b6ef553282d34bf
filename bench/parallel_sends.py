"""Parallel sends: one incident paging a 40-person tier, with the provider simulator
answering each API call after 300 ms (as Twilio does), and the time until the last
page reached the provider.

Herald's own delivery (``service.engine.delivery.deliver``, what a worker's job runs) in this
process — one worker process — with the real Twilio SDK pointed at the simulator.
Sequential (``HERALD_SEND_CONCURRENCY=1``, what Herald did before issue 17) is the
baseline, measured in the same run beside the parallel default (16). Each figure is
the median of ``runs`` incidents.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench.report import row
from bench.stack import everyone_tier_config

NAME = "parallel_sends"
FULL = {"people": 40, "latency_ms": 300.0, "runs": 3, "concurrency": 16}
QUICK = {"people": 6, "latency_ms": 20.0, "runs": 1, "concurrency": 4}
GOAL_S = 1.5


def phone(n: int) -> str:
    return f"+1555030{n:04d}"


def open_incident(herald: Any, n: int) -> str:
    """An incident paging the whole tier, committed as a webhook would commit it."""
    from routing.decide import decide
    from routing.incident import AlertsReceived, AlertState

    now = herald.clock()
    policy = herald.config.policies["default"]
    alert = AlertState(fingerprint=f"fp{n}", status="firing", labels={"alertname": "DiskFull", "run": str(n)},
                       starts_at=now)
    command = AlertsReceived(new_id=herald.store.next_incident_id(), receiver="herald", group_key=f"group-{n}",
                             severity="P1", title="DiskFull", alerts=[alert])
    decision = decide(None, command, policy, herald.calendars.roster(policy, now), now)
    assert decision.incident is not None and herald.store.commit(decision, None)
    return decision.incident.id


def measure(herald: Any, sim: Any, runs: int, people: int, first: int) -> dict[str, Any]:
    from service.engine.delivery import deliver

    lasts, firsts, totals, overlap = [], [], [], []
    for n in range(first, first + runs):
        sim.reset()
        incident_id = open_incident(herald, n)
        started_wall, started = time.time(), time.monotonic()
        sent = deliver(herald, incident_id)
        totals.append(time.monotonic() - started)
        times = [m.time for m in sim.messages_for(channel="sms") if m.direction == "outbound"]
        assert sent == people == len(times), (sent, people, len(times))
        lasts.append(max(times) - started_wall)
        firsts.append(min(times) - started_wall)
        overlap.append(sim.max_in_flight)
    return {"last_page_s": statistics.median(lasts), "first_page_s": statistics.median(firsts),
            "deliver_s": statistics.median(totals), "max_in_flight": max(overlap), "runs": runs}


def run(quick: bool, workdir: Path) -> dict[str, Any]:
    from service.dev.local_redis import start_redis
    from service.dev.simulator.app import create_simulator_app
    from service.dev.simulator.server import ServerThread
    from service.dev.simulator.state import SimulatorState
    from service.dev.run import simulator_env
    from service.engine.runtime import Herald
    from service.settings import Settings

    size = QUICK if quick else FULL
    out: dict[str, Any] = {"config": dict(size)}
    base = workdir / NAME
    config = everyone_tier_config(base / "conf", [phone(n) for n in range(size["people"])])
    redis_server = start_redis(base / "redis", appendonly=False)
    sim_state = SimulatorState()
    server = None
    heralds = []
    try:
        from service.dev.local_redis import free_port

        port = free_port()
        sim_url = f"http://127.0.0.1:{port}"
        env = simulator_env(sim_url, base / "sg-key.pem")
        app = create_simulator_app(sim_state, herald_url="http://127.0.0.1:9",
                                   twilio_auth_token=env["HERALD_TWILIO_AUTH_TOKEN"],
                                   sendgrid_private_key_pem=(base / "sg-key.pem").read_text(),
                                   latency_ms=size["latency_ms"])
        server = ServerThread(app, port=port).start()
        common = {key.removeprefix("HERALD_").lower(): value for key, value in env.items()}
        common.update(config=str(config), redis_url=redis_server.url, public_url="http://127.0.0.1:9",
                      rate_limit_sms=0)
        for label, concurrency in (("sequential", 1), ("parallel", size["concurrency"])):
            herald = Herald.from_settings(Settings(**common, send_concurrency=concurrency))
            heralds.append(herald)
            measure(herald, sim_state, 1, size["people"], 90_000 + concurrency)  # connections, imports
            out[label] = measure(herald, sim_state, size["runs"], size["people"], 1000 * concurrency)
    finally:
        for herald in heralds:
            herald.close()
        if server is not None:
            server.stop()
        redis_server.stop()
    seq, par = out["sequential"]["last_page_s"], out["parallel"]["last_page_s"]
    people, latency = size["people"], size["latency_ms"]
    out["speedup"] = seq / par if par else None
    out["rows"] = [
        row(NAME, f"last of {people} pages at the provider, sequential (concurrency 1, {latency:g} ms a call)",
            seq, "s"),
        row(NAME, f"last of {people} pages at the provider, parallel (concurrency {size['concurrency']})", par, "s",
            baseline=seq, baseline_name="sequential", goal=f"≤ {GOAL_S:g} s", met=par <= GOAL_S,
            note=f"at most {out['parallel']['max_in_flight']} provider calls at once"),
        row(NAME, "first page at the provider, parallel", out["parallel"]["first_page_s"], "s",
            baseline=out["sequential"]["first_page_s"], baseline_name="sequential"),
        row(NAME, "deliver() returned (outcomes committed), parallel", out["parallel"]["deliver_s"], "s",
            baseline=out["sequential"]["deliver_s"], baseline_name="sequential"),
    ]
    return out


if __name__ == "__main__":  # python -m bench.parallel_sends [--quick]
    import sys
    import tempfile

    print(json.dumps(run("--quick" in sys.argv, Path(tempfile.mkdtemp())), indent=2, default=str))
