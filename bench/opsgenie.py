"""Opsgenie's create alert (``POST /v2/alerts``) against Alertmanager's webhook, same run.

One ``herald serve`` (no worker: the API side alone), an ``opsgenie`` integration in its
file with a rate high enough never to refuse. Both endpoints are driven by
``bench.loadgen`` at the same concurrency, one alert per request: *new* (each request a
new alias / a new groupKey: a new incident) and *re-sends* (the same aliases / groups
again). The Alertmanager webhook is measured before and after the Opsgenie endpoint; its
mean is the baseline. Issue 18's goal: each source at least 0.8× the Alertmanager
endpoint's throughput.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.report import row
from bench.stack import AM_HEADERS, Stack, loadgen, unique_body, url_port
from integrations.config.model import key_digest

NAME = "opsgenie"
FULL = {"duration": 6.0, "max_requests": 200_000, "concurrency": 8, "warmup": 1.0, "groups": 200}
QUICK = {"duration": 0.15, "max_requests": 40, "concurrency": 4, "warmup": 0.1, "groups": 4}
GOAL = 0.8
KEY = "bench-opsgenie-key-0123456789abcdef"
OG_HEADERS = {"Authorization": f"GenieKey {KEY}", "Content-Type": "application/json"}
#: One create alert body, its alias carrying ``__SEQ__`` (the load generator's request number).
OG_BODY = json.dumps({"message": "DiskFull on db", "alias": "bench/db/__SEQ__", "priority": "P1",
                      "description": "Instance db is in trouble.", "tags": ["service:db", "job:node"],
                      "details": {"instance": "db-0:9100"}, "entity": "db-0", "source": "bench"})


def _spec(url: str, path: str, headers: dict[str, str], body: str, size: dict[str, Any], **extra: Any
          ) -> dict[str, Any]:
    return {"port": url_port(url), "path": path, "headers": headers, "bodies": [body],
            "concurrency": size["concurrency"], "duration": size["duration"], "max_requests": size["max_requests"],
            **extra}


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in ("ok", "sent", "errors", "elapsed_s", "rps", "p50_ms", "p99_ms", "max_ms",
                                   "statuses")}


def run(quick: bool, workdir: Path) -> dict[str, Any]:
    size = QUICK if quick else FULL
    out: dict[str, Any] = {"config": {**size, "load_generator": "bench.loadgen (raw asyncio HTTP/1.1, keep-alive)"}}
    rows = []
    with Stack(workdir / NAME) as stack:
        config = Path(stack.config)
        config.write_text(config.read_text() + "integrations:\n  - {name: bench, kind: opsgenie, "
                          f"key_sha256: {key_digest(KEY)}, rate_per_minute: 1000000}}\n")
        _api, url = stack.start_api()
        am = lambda body, s, **kw: _spec(url, "/api/v1/alertmanager", AM_HEADERS, body, s, **kw)  # noqa: E731
        og = lambda body, s, **kw: _spec(url, "/v2/alerts", OG_HEADERS, body, s, **kw)  # noqa: E731
        warm = {**size, "duration": size["warmup"]}
        loadgen(am(unique_body(1, alertname="Warm"), warm, seq_start=90_000_000))
        loadgen(og(OG_BODY, warm, seq_start=90_000_000))
        am_body = unique_body(1, alertname="BenchOg")
        runs: dict[str, Any] = {}
        runs["am_new_before"] = _summary(loadgen(am(am_body, size, seq_start=0)))
        runs["new"] = _summary(loadgen(og(OG_BODY, size, seq_start=0)))
        groups = size["groups"]
        for make in (am, og):  # the groups / aliases to re-send, made once
            loadgen(make(am_body if make is am else OG_BODY, {**size, "duration": 60, "max_requests": groups},
                         seq_start=50_000_000))
        runs["am_resends"] = _summary(loadgen(am(am_body, size, seq_start=50_000_000, seq_mod=groups)))
        runs["resends"] = _summary(loadgen(og(OG_BODY, size, seq_start=50_000_000, seq_mod=groups)))
        runs["am_new_after"] = _summary(loadgen(am(am_body, size, seq_start=10_000_000)))
        base_new = (runs["am_new_before"]["rps"] + runs["am_new_after"]["rps"]) / 2
        for kind, base, label in (("new", base_new, "new aliases"),
                                  ("resends", runs["am_resends"]["rps"], "re-sent aliases")):
            r = runs[kind]
            ratio = r["rps"] / base if base else None
            runs[f"{kind}_ratio"] = ratio
            rows.append(row(NAME, f"POST /v2/alerts, {label}: creates/s", r["rps"], "req/s", baseline=base,
                            baseline_name="Alertmanager webhook, same run", ratio=ratio, goal=f"≥ {GOAL:.0%}",
                            met=ratio is not None and ratio >= GOAL,
                            note=f"concurrency {size['concurrency']}; statuses {r['statuses']}"))
            rows.append(row(NAME, f"POST /v2/alerts, {label}: p50 / p99 latency", r["p50_ms"],
                            f"ms (p99 {r['p99_ms']:.1f} ms)" if r["p99_ms"] else "ms"))
        runs["am_new_rps"] = base_new
        out.update(runs)
    out["rows"] = rows
    return out


if __name__ == "__main__":  # python -m bench.opsgenie [--quick]
    import sys
    import tempfile

    print(json.dumps(run("--quick" in sys.argv, Path(tempfile.mkdtemp())), indent=2, default=str))
