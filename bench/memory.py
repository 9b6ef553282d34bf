"""6. Memory: resident set size of ``herald serve`` and ``herald worker`` with 10,000 open
incidents, against the same processes idle just after start (the baseline).

10,000 new alert groups go in through the webhook (closed loop); the worker runs
throughout (pages to the one on-call person are bundled by the default SMS rate limit).
The worker's RSS is sampled every half second, with and without the work horses RQ
forks per job; Redis's ``used_memory`` is reported per incident.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.report import row
from bench.stack import API_HEADERS, AM_HEADERS, Stack, free_port, loadgen, rss_kb, unique_body, url_port

NAME = "memory"
FULL = {"incidents": 10_000, "duration": 240.0, "settle": 20.0, "idle_wait": 3.0, "warm_wait": 1.0}
QUICK = {"incidents": 40, "duration": 20.0, "settle": 0.6, "idle_wait": 0.2, "warm_wait": 0.2}


def run(quick: bool, workdir: Path, profile: bool | None = None) -> dict[str, Any]:
    size = QUICK if quick else FULL
    out: dict[str, Any] = {"config": {**size, "rate_limit_sms": "default (60 s)"}}
    with Stack(workdir / NAME, env={"HERALD_SWEEP_INTERVAL": "5"}) as stack:
        port = free_port()
        stack.start_simulator(f"http://127.0.0.1:{port}")
        api, url, worker = stack.start_api_and_worker(port=port)
        time.sleep(size["idle_wait"])
        with httpx.Client(base_url=url, headers=API_HEADERS, timeout=30) as client:
            client.get("/api/v1/incidents")  # import and warm what a request needs
            client.get("/api/v1/oncall")
        time.sleep(size["warm_wait"])
        idle = {"api_kb": rss_kb(api.pid), "worker_kb": rss_kb(worker.pid),
                "worker_with_children_kb": rss_kb(worker.pid, children=True),
                "redis_used_memory": int(stack.redis.info("memory")["used_memory"])}
        samples: list[tuple[int, int]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.5):
                samples.append((rss_kb(worker.pid), rss_kb(worker.pid, children=True)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        load = loadgen({"port": url_port(url), "path": "/api/v1/alertmanager", "headers": AM_HEADERS,
                        "bodies": [unique_body(1, alertname="Memory")], "concurrency": 8,
                        "max_requests": size["incidents"], "duration": size["duration"]})
        with httpx.Client(base_url=url, headers=API_HEADERS, timeout=60) as client:
            listed = client.get("/api/v1/incidents", params={"status": "open"})
            client.get("/api/v1/oncall")
        time.sleep(size["settle"])
        stop.set()
        sampler.join(timeout=5)
        from integrations import keys

        loaded = {"api_kb": rss_kb(api.pid), "worker_kb": rss_kb(worker.pid),
                  "worker_peak_kb": max((s[0] for s in samples), default=0),
                  "worker_with_children_peak_kb": max((s[1] for s in samples), default=0),
                  "redis_used_memory": int(stack.redis.info("memory")["used_memory"]),
                  "open_incidents": int(stack.redis.zcard(keys.INCIDENTS_OPEN)),
                  "rq_queue_backlog": int(stack.redis.llen("rq:queue:herald"))}
    out.update({"idle": idle, "loaded": loaded, "webhooks_ok": load["ok"], "list_status": listed.status_code})
    n = max(1, loaded["open_incidents"])
    per_incident = (loaded["redis_used_memory"] - idle["redis_used_memory"]) / n
    mib = 1024.0
    rows = [row(NAME, f"herald serve RSS with {loaded['open_incidents']:,} open incidents", loaded["api_kb"] / mib,
                "MiB", baseline=idle["api_kb"] / mib, baseline_name="idle after start"),
            row(NAME, "herald worker RSS (peak while working)", loaded["worker_peak_kb"] / mib, "MiB",
                baseline=idle["worker_kb"] / mib, baseline_name="idle after start",
                note=f"with forked work horses: peak {loaded['worker_with_children_peak_kb'] / mib:.0f} MiB"),
            row(NAME, "Redis used_memory per open incident", per_incident / 1024, "KiB",
                note=f"{loaded['rq_queue_backlog']} RQ jobs still queued at the end")]
    out["rows"] = rows
    return out


if __name__ == "__main__":  # python -m bench.memory [--quick]
    import sys
    import tempfile

    print(json.dumps(run("--quick" in sys.argv, Path(tempfile.mkdtemp())), indent=2, default=str))
