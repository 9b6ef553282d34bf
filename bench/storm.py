"""5. Alert storm: 10,000 distinct alerts in 60 s across 50 services.

1,000 alert groups (50 services × 20 alert names) of 10 alerts each. Like Alertmanager,
each group is sent first with 5 firing alerts and later again with all 10 (the 5 new
ones join the open incident): 2,000 webhooks at a steady pace over 60 s. Then:

* lost: every webhook answered 2xx, and every one of the 10,000 alert fingerprints is
  in a stored incident (read straight from Redis);
* rate limit: per person and channel, the gaps between consecutive messages the
  provider simulator received, against ``HERALD_RATE_LIMIT_SMS`` (default 60 s);
* responsiveness: ``GET /api/v1/oncall`` probed 5 times a second during the storm,
  against the same probe on the idle server just before (the baseline).
"""
from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.report import row
from bench.stack import API_HEADERS, AM_HEADERS, Stack, free_port, incident_ids, incidents, loadgen, payload, url_port

NAME = "storm"
FULL = {"services": 50, "names": 20, "alerts_per_group": 10, "seconds": 60.0, "drain": 150.0, "rate_limit": 60.0,
        "warmup_probe": 1.0, "idle_probe": 10.0, "poll": 1.0}
QUICK = {"services": 4, "names": 3, "alerts_per_group": 10, "seconds": 1.0, "drain": 10.0, "rate_limit": 1.0,
         "warmup_probe": 0.2, "idle_probe": 0.5, "poll": 0.2}
PROBE_RATE = 5.0


def _bodies(size: dict[str, Any]) -> tuple[list[str], int]:
    groups = [(f"svc{s:02d}", f"Storm{n:02d}") for s in range(size["services"]) for n in range(size["names"])]
    half = size["alerts_per_group"] // 2
    first, full = [], []
    for service, name in groups:
        key = "{}/{service=~\".*\"}:{alertname=\"" + name + "\", service=\"" + service + "\"}"
        body = payload(size["alerts_per_group"], key, service, name)
        full.append(json.dumps(body))
        body["alerts"] = body["alerts"][:half]
        first.append(json.dumps(body))
    return first + full, len(groups) * size["alerts_per_group"]


def run(quick: bool, workdir: Path, profile: bool | None = None) -> dict[str, Any]:
    size = QUICK if quick else FULL
    bodies, alerts = _bodies(size)
    window = size["rate_limit"]
    env = {"HERALD_RATE_LIMIT_SMS": f"{window:g}", "HERALD_RATE_LIMIT_VOICE": f"{window:g}",
           "HERALD_SWEEP_INTERVAL": "5"}
    out: dict[str, Any] = {"config": {**size, "webhooks": len(bodies), "alerts": alerts, "channels": "sms"}}
    with Stack(workdir / NAME, env=env) as stack:
        port = free_port()
        stack.start_simulator(f"http://127.0.0.1:{port}")
        api, url, _worker = stack.start_api_and_worker(port=port)
        probe = {"port": url_port(url), "method": "GET", "path": "/api/v1/oncall", "headers": API_HEADERS,
                 "mode": "rate", "rate": PROBE_RATE, "concurrency": 4}
        loadgen({**probe, "duration": size["warmup_probe"],
                 "max_requests": max(1, int(PROBE_RATE * size["warmup_probe"]))})
        idle = loadgen({**probe, "duration": size["idle_probe"], "max_requests": int(PROBE_RATE * size["idle_probe"])})
        during: dict[str, Any] = {}
        prober = threading.Thread(target=lambda: during.update(loadgen(
            {**probe, "duration": size["seconds"], "max_requests": int(PROBE_RATE * size["seconds"])})), daemon=True)
        started = time.time()
        prober.start()
        storm = loadgen({"port": url_port(url), "path": "/api/v1/alertmanager", "headers": AM_HEADERS,
                         "bodies": bodies, "mode": "rate", "rate": len(bodies) / size["seconds"],
                         "duration": size["seconds"] + 1, "max_requests": len(bodies), "concurrency": 16,
                         "record": True, "timeout": 30.0})
        storm_seconds = time.time() - started
        prober.join(timeout=size["seconds"] + 60)
        ids = sorted(set(incident_ids(storm["records"]).values()))
        # Wait (bounded) until every incident has its first page out, then count.
        deadline = time.monotonic() + size["drain"]
        found: dict[str, Any] = {}
        while time.monotonic() < deadline:
            found = incidents(stack.redis, ids)
            if len(found) == len(ids) and all(any(e.kind == "page" for e in i.timeline) for i in found.values()):
                break
            time.sleep(size["poll"])
        all_paged_after = time.time() - started
        found = incidents(stack.redis, ids)
        assert stack.sim is not None
        messages = [m for m in list(stack.sim.messages) if m.direction == "outbound"]
    stored = {fp for i in found.values() for fp in i.alerts}
    paged = sum(1 for i in found.values() if any(e.kind == "page" for e in i.timeline))
    by_target: dict[tuple[str, str], list[float]] = defaultdict(list)
    for m in messages:
        by_target[(m.to, m.channel)].append(m.time)
    targets = {}
    worst_gap, over = None, 0
    for (to, channel), times in sorted(by_target.items()):
        times.sort()
        gaps = [b - a for a, b in zip(times, times[1:])]
        span = times[-1] - times[0]
        allowed = int(span // window) + 1
        tight = sum(1 for g in gaps if g < window - 0.5)  # 0.5 s: clocks of two processes, one host
        over += tight
        if gaps:
            worst_gap = min(gaps) if worst_gap is None else min(worst_gap, min(gaps))
        targets[f"{to} {channel}"] = {"messages": len(times), "allowed_over_span": allowed,
                                      "min_gap_s": min(gaps) if gaps else None, "gaps_under_window": tight}
    out.update({
        "webhooks_ok": storm["ok"], "webhooks_sent": storm["sent"], "webhook_errors": storm["errors"],
        "webhook_statuses": storm["statuses"], "webhook_p50_ms": storm["p50_ms"], "webhook_p99_ms": storm["p99_ms"],
        "storm_seconds": storm_seconds, "incidents": len(ids), "incidents_stored": len(found),
        "alerts_stored": len(stored), "alerts_sent": alerts, "alerts_lost": alerts - len(stored),
        "incidents_paged": paged, "seconds_until_all_paged_or_drain": all_paged_after,
        "messages_total": len(messages), "per_person_channel": targets, "gaps_under_window": over,
        "probe_idle": {k: idle[k] for k in ("ok", "p50_ms", "p99_ms", "max_ms")},
        "probe_during": {k: during.get(k) for k in ("ok", "sent", "p50_ms", "p99_ms", "max_ms", "errors")},
    })
    idle_p99, storm_p99 = out["probe_idle"]["p99_ms"], out["probe_during"]["p99_ms"]
    rows = [row(NAME, f"alerts stored ({len(bodies)} webhooks in {size['seconds']:g} s)", len(stored),
                f"of {alerts}", goal="0 lost", met=out["alerts_lost"] == 0 and storm["ok"] == len(bodies),
                note=f"{storm['ok']} webhooks 2xx"),
            row(NAME, f"SMS per person (rate limit one per {window:g} s)",
                max((t["messages"] for t in targets.values()), default=0), "max per person",
                goal="no two within the window", met=over == 0,
                note=f"{len(messages)} messages for {paged} of {len(ids)} incidents paged "
                     f"within {all_paged_after:.0f} s"),
            row(NAME, "GET /api/v1/oncall p99 during the storm", storm_p99, "ms", baseline=idle_p99,
                baseline_name="same probe, idle server", note=f"p50 {out['probe_during']['p50_ms'] or 0:.1f} ms"),
            row(NAME, "webhook p99 during the storm", storm["p99_ms"], "ms")]
    out["rows"] = rows
    return out


if __name__ == "__main__":  # python -m bench.storm [--quick]
    import sys
    import tempfile

    print(json.dumps(run("--quick" in sys.argv, Path(tempfile.mkdtemp())), indent=2, default=str))
