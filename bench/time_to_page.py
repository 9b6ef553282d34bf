"""2. Time to page: from the webhook leaving the load generator to the provider API call
(Twilio's Messages.json, made by the real SDK) reaching the provider simulator.

``herald serve`` + ``herald worker`` + the simulator in this process; a steady 50 new
alert groups per second for 30 s (open loop: the schedule does not wait for answers).
Each webhook's send time is matched to its incident's ``page`` timeline entry and, by
provider id, to the moment the simulator received that SMS. The SMS rate limit is off
(``HERALD_RATE_LIMIT_SMS=0``): with it on, pages inside the window are bundled on
purpose (benchmark 5 measures that). The webhook's own answer time is the same-run
reference.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench import profiling
from bench.report import pct, row
from bench.stack import (AM_HEADERS, Stack, free_port, incident_ids, incidents, loadgen, page_entries,
                         unique_body, url_port)

NAME = "time_to_page"
FULL = {"rate": 50.0, "duration": 30.0, "drain": 60.0, "profile_seconds": 10.0, "poll": 0.5}
QUICK = {"rate": 20.0, "duration": 0.5, "drain": 20.0, "profile_seconds": 0.0, "poll": 0.1}
GOAL_P99_MS = 250.0


def measure(stack: Stack, api_url: str, rate: float, duration: float, drain: float, seq_start: int,
            alertname: str, poll: float = 0.5) -> dict[str, Any]:
    spec = {"port": url_port(api_url), "path": "/api/v1/alertmanager", "headers": AM_HEADERS,
            "bodies": [unique_body(1, alertname=alertname)], "mode": "rate", "rate": rate, "duration": duration,
            "max_requests": int(rate * duration) + 1, "concurrency": 16, "record": True, "seq_start": seq_start}
    load = loadgen(spec)
    sent_at = {seq: wall for seq, wall, _l, status, _b in load["records"] if 200 <= status < 300}
    by_seq = incident_ids(load["records"])
    ids = sorted(set(by_seq.values()))
    assert stack.sim is not None
    deadline = time.monotonic() + drain
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:
        found = incidents(stack.redis, ids)
        if all(page_entries(i) for i in found.values()) and len(found) == len(ids):
            break
        time.sleep(poll)
    received = {m.provider_id: m.time for m in list(stack.sim.messages) if m.direction == "outbound"}
    delays, missing = [], 0
    for seq, incident_id in by_seq.items():
        incident = found.get(incident_id)
        entries = page_entries(incident) if incident else []
        times = [received[e.details["provider_id"]] for e in entries if e.details["provider_id"] in received]
        if not times:
            missing += 1
            continue
        delays.append((min(times) - sent_at[seq]) * 1000)
    bundled = [e.details.get("bundled", 1) for i in found.values() for e in page_entries(i)]
    return {
        "webhooks_sent": load["sent"], "webhooks_ok": load["ok"], "webhook_errors": load["errors"],
        "webhook_p50_ms": load["p50_ms"], "webhook_p99_ms": load["p99_ms"], "incidents": len(ids),
        "paged": len(delays), "not_paged_within_drain": missing,
        "p50_ms": pct(delays, 50), "p90_ms": pct(delays, 90), "p99_ms": pct(delays, 99),
        "max_ms": max(delays) if delays else None,
        "messages_bundling_more_than_one_page": sum(1 for b in bundled if b > 1),
    }


def run(quick: bool, workdir: Path, profile: bool | None = None) -> dict[str, Any]:
    size = QUICK if quick else FULL
    profile = (not quick) if profile is None else profile
    out: dict[str, Any] = {"config": {**size, "rate_limit_sms": 0, "channels": "sms", "people_paged": "alice (L1)"}}
    env = {"HERALD_RATE_LIMIT_SMS": "0", "HERALD_RATE_LIMIT_VOICE": "0", "HERALD_SWEEP_INTERVAL": "5"}
    with Stack(workdir / NAME, env=env) as stack:
        port = free_port()
        stack.start_simulator(f"http://127.0.0.1:{port}")
        api, url, worker = stack.start_api_and_worker(port=port)
        if not quick:
            measure(stack, url, size["rate"], 1.0, 15.0, 80_000_000, "Warmup")  # imports, connections
        result = measure(stack, url, size["rate"], size["duration"], size["drain"], 0, "Paged", size["poll"])
        out.update(result)
        if profile and size["profile_seconds"]:
            spec_rate = size["rate"]
            body = unique_body(1, alertname="Profiled")
            spec = {"port": url_port(url), "path": "/api/v1/alertmanager", "headers": AM_HEADERS, "bodies": [body],
                    "mode": "rate", "rate": spec_rate, "duration": size["profile_seconds"] + 1,
                    "max_requests": int(spec_rate * (size["profile_seconds"] + 1)), "concurrency": 16,
                    "seq_start": 60_000_000}
            out["profile_worker"] = profiling.profile_during(worker.pid, spec, size["profile_seconds"],
                                                             workdir / NAME, "worker", subprocesses=True)
    p99 = out["p99_ms"]
    rows = [row(NAME, f"webhook → SMS at the provider, p50 (at {size['rate']:g} alerts/s for {size['duration']:g} s)",
                out["p50_ms"], "ms", baseline=out["webhook_p50_ms"], baseline_name="webhook answer p50"),
            row(NAME, "webhook → SMS at the provider, p99", p99, "ms", baseline=out["webhook_p99_ms"],
                baseline_name="webhook answer p99", goal=f"< {GOAL_P99_MS:g} ms",
                met=(p99 is not None and p99 < GOAL_P99_MS and out["not_paged_within_drain"] == 0)),
            row(NAME, "webhook → SMS at the provider, max", out["max_ms"], "ms"),
            row(NAME, "incidents paged / opened", out["paged"], f"of {out['incidents']}",
                note=f"{out['messages_bundling_more_than_one_page']} SMS carried more than one incident")]
    out["rows"] = rows
    return out


if __name__ == "__main__":  # python -m bench.time_to_page [--quick]
    import sys
    import tempfile

    print(json.dumps(run("--quick" in sys.argv, Path(tempfile.mkdtemp())), indent=2, default=str))
