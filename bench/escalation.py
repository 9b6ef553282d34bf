"""3. Escalation precision: how late (or early) escalation steps happen.

Incidents are opened at a steady pace over a minute with a short ``escalate_after``
(every tier, every severity) and no repeats, so each climbs L1 → L2 → engineering →
executive: three timed steps each. A step's due time is what ``next_escalation_at``
held: the previous round's first page's send time plus the delay (the ``escalates_at``
of that page's timeline entry), else the round's time plus the delay; its actual times are the
``escalated`` timeline entry (the decision) and the SMS reaching the provider simulator
(the page). The SMS rate limit is off so pages are not bundled.

Baseline, same run and same Redis: as many no-op RQ jobs (``bench.rq_probe``) scheduled
with ``enqueue_at`` over the same span, run by a plain ``rq worker --with-scheduler``:
RQ's own timer precision, early runs included. Herald itself uses no RQ timer: its
escalations are entries of the due index, handed to RQ by the workers' clock loops the
moment they are due (service/worker/due.py).
"""
from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.report import pct, row
from bench.stack import (AM_HEADERS, Proc, Stack, free_port, incident_ids, incidents, loadgen, page_entries,
                         unique_body, url_port, wait_for)

NAME = "escalation"
FULL = {"incidents": 70, "spread": 60.0, "delay": 5}
QUICK = {"incidents": 2, "spread": 0.5, "delay": 1}
STEPS = 3  # L1 -> L2 -> engineering -> executive
GOAL_P99_S = 0.1  # issue 17: the due index's clock loop (it was 1 s with the RQ timer and the ticker)


def _stats(values: list[float]) -> dict[str, Any]:
    return {"count": len(values), "p50_s": pct(values, 50), "p99_s": pct(values, 99),
            "max_s": max(values) if values else None, "min_s": min(values) if values else None,
            "early": sum(1 for v in values if v < 0)}


def _rq_baseline(stack: Stack, count: int, start: float, span: float) -> tuple[Proc, str]:
    """Schedule ``count`` probe jobs due over [start, start + span) for a plain RQ worker."""
    import redis as redis_lib
    from rq import Queue

    from bench.rq_probe import probe

    key = "bench:probe"
    rq_client = redis_lib.Redis.from_url(stack.redis_server.url)
    queue = Queue("bench-probe", connection=rq_client)
    for i in range(count):
        due = start + span * i / count
        queue.enqueue_at(datetime.fromtimestamp(due, timezone.utc), probe, due, key, result_ttl=60)
    rq_client.close()
    rq = str(Path(sys.executable).parent / "rq")
    proc = Proc("rq-baseline", [rq, "worker", "--with-scheduler", "--url", stack.redis_server.url, "--path",
                                str(Path(__file__).resolve().parent.parent), "bench-probe"], {}, stack.workdir)
    stack.procs.append(proc)
    return proc, key


def run(quick: bool, workdir: Path, profile: bool | None = None) -> dict[str, Any]:
    size = QUICK if quick else FULL
    delay = size["delay"]
    out: dict[str, Any] = {"config": {**size, "steps_per_incident": STEPS, "rate_limit_sms": 0}}
    env = {"HERALD_RATE_LIMIT_SMS": "0", "HERALD_RATE_LIMIT_VOICE": "0", "HERALD_SWEEP_INTERVAL": "5"}
    with Stack(workdir / NAME, delay=f"{delay}s", repeat=0, env=env) as stack:
        port = free_port()
        stack.start_simulator(f"http://127.0.0.1:{port}")
        api, url, _worker = stack.start_api_and_worker(port=port)
        timers = size["incidents"] * STEPS
        t0 = time.time() + delay + 1
        probe, key = _rq_baseline(stack, timers, t0, size["spread"] + delay * (STEPS - 1))
        rate = size["incidents"] / size["spread"]
        spec = {"port": url_port(url), "path": "/api/v1/alertmanager", "headers": AM_HEADERS,
                "bodies": [unique_body(1, alertname="Escalating")], "mode": "rate", "rate": rate,
                "duration": size["spread"] + 1, "max_requests": size["incidents"], "concurrency": 4,
                "record": True}
        load = loadgen(spec)
        ids = sorted(set(incident_ids(load["records"]).values()))
        horizon = delay * STEPS + 30

        def done() -> bool:
            found = incidents(stack.redis, ids)
            return len(found) == len(ids) and all(
                i.next_escalation_at is None and len(page_entries(i)) >= STEPS + 1 for i in found.values())

        try:
            wait_for(done, horizon, "every escalation step")
        except RuntimeError:
            out["incomplete"] = True
        found = incidents(stack.redis, ids)
        wait_for(lambda: stack.redis.llen(key) >= timers, 15, "the RQ baseline probes", probe) \
            if stack.redis.llen(key) < timers else None
        assert stack.sim is not None
        received = {m.provider_id: m.time for m in list(stack.sim.messages) if m.direction == "outbound"}
        decided, paged = [], []
        for incident in found.values():
            rounds = {e.details.get("round"): e.at.timestamp() for e in incident.timeline
                      if e.kind in ("paging", "escalated")}
            sms = {}
            for e in page_entries(incident):
                at = received.get(e.details["provider_id"])
                if at is not None:
                    sms.setdefault(e.details.get("round"), at)
            # The round's window runs from when its first page left (``escalates_at`` on
            # that page's entry: what ``next_escalation_at`` then held), else from the round.
            moved = {e.details.get("round"): datetime.fromisoformat(e.details["escalates_at"]).timestamp()
                     for e in page_entries(incident) if e.details.get("escalates_at")}
            for r in range(2, STEPS + 2):
                if r in rounds and r - 1 in rounds:
                    due = moved.get(r - 1, rounds[r - 1] + delay)
                    decided.append(rounds[r] - due)
                    if r in sms:
                        paged.append(sms[r] - due)
        baseline = []
        for item in stack.redis.lrange(key, 0, -1):
            due, ran = (float(x) for x in item.split())
            baseline.append(ran - due)
    out.update({"timers_expected": timers, "escalation_decided": _stats(decided), "escalation_paged": _stats(paged),
                "rq_baseline": _stats(baseline), "incidents": len(ids)})
    d, p, b = out["escalation_decided"], out["escalation_paged"], out["rq_baseline"]
    ok = (p["count"] >= timers and p["early"] == 0 and d["early"] == 0 and p["p99_s"] is not None
          and p["p99_s"] <= GOAL_P99_S)
    rows = [row(NAME, f"steps measured ({size['incidents']} incidents × {STEPS}, over {size['spread']:g} s)",
                p["count"], f"of {timers}", goal="" if quick else "≥ 200",
                met=None if quick else p["count"] >= 200),
            row(NAME, "page lateness (SMS at provider − due), p50", p["p50_s"], "s", baseline=b["p50_s"],
                baseline_name="bare RQ enqueue_at job"),
            row(NAME, "page lateness, p99", p["p99_s"], "s", baseline=b["p99_s"], baseline_name="bare RQ job",
                goal=f"≤ {GOAL_P99_S:g} s", met=ok),
            row(NAME, "page lateness, max", p["max_s"], "s", baseline=b["max_s"], baseline_name="bare RQ job"),
            row(NAME, "early steps (decision or page before due)", d["early"] + p["early"], "",
                baseline=float(b["early"]), baseline_name=f"bare RQ jobs early of {b['count']}",
                ratio=None, goal="0", met=(d["early"] + p["early"] == 0)),
            row(NAME, "decision lateness (escalated entry − due), p50 / p99", d["p50_s"], "s",
                note=f"p99 {d['p99_s']:.3f} s" if d["p99_s"] is not None else "")]
    out["rows"] = rows
    return out


if __name__ == "__main__":  # python -m bench.escalation [--quick]
    import tempfile

    print(json.dumps(run("--quick" in sys.argv, Path(tempfile.mkdtemp())), indent=2, default=str))
