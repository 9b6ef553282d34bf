"""8. One incident that keeps growing (issue 16.1): ten webhooks of 4,000 new alerts each
to one group, one after another, against ``herald serve`` and ``herald worker``.

Figures: the time of the first and of the tenth webhook (the first is the baseline: work
per webhook must follow the payload, not the incident's history; goal ≤ 2.5×), the
slowest ``GET /healthz`` while they run (a probe every 20 ms in a thread of its own;
goal ≤ 0.5 s), the incident's size in Redis (``MEMORY USAGE`` of its record and of its
hash of resolved alerts), and the worker's peak RSS while it escalates the incident
(sampled every 0.2 s; goal: within the 512 MiB limit of ``deploy/kubernetes/worker.yaml``).
"""
from __future__ import annotations

import json
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from bench.report import row
from bench.stack import AM_HEADERS, API_HEADERS, ROOT, Stack, free_port, rss_kb

NAME = "incident_growth"
FULL = {"webhooks": 10, "alerts": 4000, "escalate_wait": 8.0}
QUICK = {"webhooks": 3, "alerts": 30, "escalate_wait": 2.0}
GROUP = '{}:{alertname="PodCrashLooping"}'


def manifest_limit_mib() -> float:
    """The worker's memory limit in ``deploy/kubernetes/worker.yaml`` (MiB)."""
    text = (ROOT / "deploy" / "kubernetes" / "worker.yaml").read_text()
    found = re.search(r"limits:\s*\{[^}]*memory:\s*(\d+)Mi", text)
    return float(found.group(1)) if found else 512.0


def body(wave: int, alerts: int) -> bytes:
    """A webhook carrying the group's ``alerts`` newest firing alerts (all new this wave)."""
    starts = (datetime.now(timezone.utc) - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    items = [{"status": "firing", "fingerprint": f"{wave:03d}{n:07d}",
              "labels": {"alertname": "PodCrashLooping", "pod": f"api-{wave}-{n}", "namespace": "prod",
                         "service": "api", "severity": "critical"},
              "annotations": {"summary": f"api-{wave}-{n} is crash looping"},
              "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus.example/g"}
             for n in range(alerts)]
    return json.dumps({"version": "4", "groupKey": GROUP, "truncatedAlerts": 0, "status": "firing",
                       "receiver": "herald", "groupLabels": {"alertname": "PodCrashLooping"},
                       "commonLabels": {"alertname": "PodCrashLooping", "service": "api", "severity": "critical"},
                       "commonAnnotations": {}, "externalURL": "http://am.example", "alerts": items}).encode()


def run(quick: bool, workdir: Path) -> dict[str, Any]:
    size = QUICK if quick else FULL
    out: dict[str, Any] = {"config": dict(size)}
    with Stack(workdir / NAME, delay="2s", repeat=1,
               env={"HERALD_MAX_BODY_BYTES": str(64 * 1024 * 1024), "HERALD_RATE_LIMIT_SMS": "0"}) as stack:
        port = free_port()
        stack.start_simulator(f"http://127.0.0.1:{port}")
        api, url, worker = stack.start_api_and_worker(port=port)
        bodies = [body(w, size["alerts"]) for w in range(size["webhooks"])]
        probe: list[float] = []
        rss: list[int] = []
        stop = threading.Event()

        def probing() -> None:
            with httpx.Client(base_url=url, timeout=30) as c:
                while not stop.wait(0.02):
                    t = time.perf_counter()
                    c.get("/healthz")
                    probe.append(time.perf_counter() - t)

        def sampling() -> None:
            while not stop.wait(0.2):
                rss.append(rss_kb(worker.pid, children=True))

        threads = [threading.Thread(target=probing, daemon=True), threading.Thread(target=sampling, daemon=True)]
        for t in threads:
            t.start()
        took, incident_id = [], ""
        deadline = time.monotonic() + 5
        while not probe and time.monotonic() < deadline:  # the probe is running before the first webhook
            time.sleep(0.01)
        started = len(probe)
        with httpx.Client(base_url=url, timeout=120) as client:
            for payload in bodies:
                t = time.perf_counter()
                r = client.post("/api/v1/alertmanager", content=payload, headers=AM_HEADERS)
                took.append(time.perf_counter() - t)
                r.raise_for_status()
                incident_id = r.json()["incidents"][0]["id"]
            deadline = time.monotonic() + 2
            while len(probe) <= started and time.monotonic() < deadline:  # at least one probe overlapping them
                time.sleep(0.01)
            healthz_during = probe[started:]
            # the worker escalates it (timer: 2 s a tier) and is asked to once more now
            client.post(f"/api/v1/incidents/{incident_id}/escalate", headers=API_HEADERS).raise_for_status()
            time.sleep(size["escalate_wait"])
            stop.set()
            for t in threads:
                t.join(timeout=5)
            whole = client.get(f"/api/v1/incidents/{incident_id}", headers=API_HEADERS).json()
            first_page = client.get(f"/api/v1/incidents/{incident_id}/alerts", params={"limit": 100},
                                    headers=API_HEADERS).json()
        from integrations import keys

        incident_bytes = int(stack.redis.memory_usage(keys.incident(incident_id)) or 0)
        moved_out = getattr(keys, "incident_alerts", None)  # absent before issue 16.1: to measure the old code
        hash_bytes = int(stack.redis.memory_usage(moved_out(incident_id)) or 0) if moved_out else 0
        escalated = [e for e in whole["timeline"] if e["kind"] in ("escalated", "paging")]
    limit = manifest_limit_mib()
    out.update({
        "first_s": took[0], "tenth_s": took[-1], "webhooks_s": took, "ratio": took[-1] / took[0] if took[0] else None,
        "healthz_max_s": max(healthz_during, default=None), "healthz_probes": len(healthz_during),
        "incident_bytes": incident_bytes, "alert_hash_bytes": hash_bytes,
        "tracked": whole.get("alerts_total", len(whole["alerts"])), "untracked_alerts": whole.get("untracked_alerts", 0),
        "alerts_page_total": first_page.get("total"), "escalations": len(escalated),
        "worker_peak_mib": max(rss, default=0) / 1024, "worker_limit_mib": limit,
    })
    n = size["webhooks"]
    ratio_ok = out["ratio"] is not None and out["ratio"] <= 2.5
    rows = [
        row(NAME, f"webhook {n} of {n} ({size['alerts']:,} new alerts each, one group)", took[-1], "s",
            baseline=took[0], baseline_name="webhook 1", goal="≤ 2.5× the first", met=ratio_ok),
        row(NAME, "GET /healthz slowest during the webhooks", out["healthz_max_s"], "s",
            note=f"{len(healthz_during)} probes, one every 20 ms", goal="≤ 0.5 s",
            met=out["healthz_max_s"] is not None and out["healthz_max_s"] <= 0.5),
        row(NAME, "the incident in Redis (MEMORY USAGE of its record)", incident_bytes / 1024, "KiB",
            note=f"its hash of resolved alerts {hash_bytes / 1024:.0f} KiB; {out['tracked']:,} alerts tracked, "
                 f"{out['untracked_alerts']:,} untracked"),
        row(NAME, "herald worker RSS peak while escalating it (with work horses)", out["worker_peak_mib"], "MiB",
            baseline=limit, baseline_name="limit in deploy/kubernetes/worker.yaml", goal="within the limit",
            met=0 < out["worker_peak_mib"] <= limit, note=f"{len(escalated)} paging/escalated entries"),
    ]
    out["rows"] = rows
    return out


if __name__ == "__main__":  # python -m bench.incident_growth [--quick]
    import sys
    import tempfile

    print(json.dumps(run("--quick" in sys.argv, Path(tempfile.mkdtemp())), indent=2, default=str))
