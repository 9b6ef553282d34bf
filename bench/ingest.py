"""1. Ingest: Alertmanager webhooks per second into ``POST /api/v1/alertmanager``.

``herald serve`` (no worker: the API side alone; jobs queue up in Redis) against the bare
endpoint of ``bench.bare_app`` — same uvicorn settings, same payload, parsed with the
same pydantic model, nothing else. Both are driven by ``bench.loadgen`` (raw asyncio
HTTP/1.1, keep-alive) at the same concurrency. 1-alert and 50-alert payloads; new groups
(every request a new groupKey, so a new incident) and re-sends (the same groups again).
The bare endpoint is measured before and after Herald; its mean is the baseline.

Also counted: Redis round trips and commands per request over the whole HTTP run,
server side (``INFO stats`` ``total_writes_processed`` — Redis answers one round trip,
pipeline or MULTI…EXEC included, with one write — and ``INFO commandstats`` deltas;
RQ's and the metrics' included), the round trips of ``service.engine.ingest.ingest`` alone
(in-process, counting redis-py's socket sends on the calling thread), and the CPU
time the server process spent per request (a figure that suffers less from a noisy
neighbour than throughput does).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import profiling
from bench.report import row
from bench.roundtrips import measure
from bench.stack import AM_HEADERS, Stack, cpu_seconds, loadgen, payload, stats_delta, unique_body, url_port

NAME = "ingest"
FULL = {"duration": 8.0, "max_requests": 200_000, "concurrency": 8, "warmup": 1.5, "groups": 200,
        "profile_seconds": 8.0}
QUICK = {"duration": 0.15, "max_requests": 40, "concurrency": 4, "warmup": 0.1, "groups": 4,
         "profile_seconds": 0.0}
GOAL_RESEND, GOAL_NEW = 0.60, 0.35


def _spec(url: str, body: str, size: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"port": url_port(url), "path": "/api/v1/alertmanager", "headers": AM_HEADERS, "bodies": [body],
            "concurrency": size["concurrency"], "duration": size["duration"],
            "max_requests": size["max_requests"], **extra}


def _summary(result: dict[str, Any], cpu: float) -> dict[str, Any]:
    out = {k: result[k] for k in ("ok", "sent", "errors", "elapsed_s", "rps", "p50_ms", "p99_ms", "max_ms")}
    out["statuses"] = result["statuses"]
    out["cpu_ms_per_request"] = cpu * 1000 / result["ok"] if result["ok"] else None
    return out


def _drive(stack: Stack, pid: int, spec: dict[str, Any], count_commands: bool = False) -> dict[str, Any]:
    before_cpu = cpu_seconds(pid)
    writes = stack.reply_writes() if count_commands else 0
    before = stack.commandstats() if count_commands else {}
    result = loadgen(spec)
    out = _summary(result, cpu_seconds(pid) - before_cpu)
    if count_commands:
        delta = stats_delta(before, stack.commandstats())
        # Our own three INFO calls between the two readings answered in three writes.
        writes = stack.reply_writes() - writes - 3
        delta.pop("info", None)
        ok = max(1, result["ok"])
        out["redis_round_trips_per_request"] = writes / ok
        out["redis_commands_per_request"] = sum(delta.values()) / ok
        out["redis_commands_by_name"] = {k: round(v / ok, 2) for k, v in delta.items()}
    return out


def _round_trips(stack: Stack, alerts: int) -> dict[str, Any]:
    """Round trips of ``service.engine.ingest.ingest`` itself, called in this process."""
    from routing.alertmanager import WebhookPayload
    from service.engine.ingest import ingest
    from service.engine.runtime import Herald
    from service.settings import Settings

    settings = Settings(config=stack.env["HERALD_CONFIG"], redis_url=stack.env["HERALD_REDIS_URL"],
                        alertmanager_token="x", api_token="y")
    herald = Herald.from_settings(settings, notifiers={})
    try:
        counter = iter(range(10**9))
        fresh = lambda: ingest(herald, WebhookPayload.model_validate(  # noqa: E731
            payload(alerts, f"rt-{alerts}-{next(counter)}")))
        fresh()  # connections open, caches warm
        new = measure(fresh, 5)
        same = WebhookPayload.model_validate(payload(alerts, f"rt-resend-{alerts}"))
        ingest(herald, same)
        resend = measure(lambda: ingest(herald, same), 5)
    finally:
        herald.calendars.close()
    return {"new_group": new, "resend": resend}


def run(quick: bool, workdir: Path, profile: bool | None = None) -> dict[str, Any]:
    size = QUICK if quick else FULL
    profile = (not quick) if profile is None else profile
    out: dict[str, Any] = {"config": {**size, "load_generator": "bench.loadgen (raw asyncio HTTP/1.1, keep-alive)",
                                      "uvicorn": "uvicorn.run(app, log_level='warning', proxy_headers=False, "
                                                 "**service.api.server.uvicorn_options(settings))"}}
    rows = []
    with Stack(workdir / NAME) as stack:
        (bare, bare_url), (api, api_url) = stack.start_bare_and_api()
        warm = {**size, "duration": size["warmup"], "max_requests": size["max_requests"]}
        loadgen(_spec(bare_url, unique_body(1), warm, seq_start=90_000_000))
        loadgen(_spec(api_url, unique_body(1), warm, seq_start=90_000_000))
        seq = 0
        for alerts in (1, 50):
            new_body = unique_body(alerts, alertname=f"Bench{alerts}")
            runs: dict[str, Any] = {}
            runs["bare_before"] = _drive(stack, bare.pid, _spec(bare_url, new_body, size, seq_start=seq))
            runs["new_groups"] = _drive(stack, api.pid, _spec(api_url, new_body, size, seq_start=seq),
                                        count_commands=True)
            seq += size["max_requests"]
            # The groups to re-send: created once, then sent again and again.
            groups = size["groups"]
            created = loadgen(_spec(api_url, new_body, {**size, "duration": 60, "max_requests": groups},
                                    seq_start=50_000_000 + alerts * 1000))
            runs["groups_created"] = created["ok"]
            resend = _spec(api_url, new_body, size, seq_start=50_000_000 + alerts * 1000, seq_mod=groups)
            runs["resends"] = _drive(stack, api.pid, resend, count_commands=True)
            runs["bare_after"] = _drive(stack, bare.pid, _spec(bare_url, new_body, size, seq_start=seq))
            base = (runs["bare_before"]["rps"] + runs["bare_after"]["rps"]) / 2
            base_cpu = [r["cpu_ms_per_request"] for r in (runs["bare_before"], runs["bare_after"])
                        if r["cpu_ms_per_request"]]
            runs["bare_rps"] = base
            runs["bare_cpu_ms_per_request"] = sum(base_cpu) / len(base_cpu) if base_cpu else None
            runs["bare_p50_ms"] = (runs["bare_before"]["p50_ms"] + runs["bare_after"]["p50_ms"]) / 2
            runs["bare_p99_ms"] = (runs["bare_before"]["p99_ms"] + runs["bare_after"]["p99_ms"]) / 2
            out[f"alerts_{alerts}"] = runs
            for kind, goal in (("resends", GOAL_RESEND), ("new_groups", GOAL_NEW)):
                r = runs[kind]
                label = "re-sends" if kind == "resends" else "new groups"
                ratio = r["rps"] / base if base else None
                rows.append(row(NAME, f"{label}, {alerts}-alert payload: webhooks/s", r["rps"], "req/s",
                                baseline=base, baseline_name="bare FastAPI+pydantic", ratio=ratio,
                                goal=f"≥ {goal:.0%} of bare", met=(ratio is not None and ratio >= goal),
                                note=f"concurrency {size['concurrency']}"))
                rows.append(row(NAME, f"{label}, {alerts}-alert: p50 / p99 latency",
                                r["p50_ms"], f"ms (p99 {r['p99_ms']:.1f} ms)" if r["p99_ms"] else "ms",
                                baseline=runs["bare_p50_ms"],
                                baseline_name=f"bare p50; bare p99 {runs['bare_p99_ms']:.1f} ms"))
                if r["cpu_ms_per_request"] and runs["bare_cpu_ms_per_request"]:
                    rows.append(row(NAME, f"{label}, {alerts}-alert: server CPU per request",
                                    r["cpu_ms_per_request"], "ms", baseline=runs["bare_cpu_ms_per_request"],
                                    baseline_name="bare"))
                rows.append(row(NAME, f"{label}, {alerts}-alert: Redis round trips / commands per webhook",
                                r["redis_round_trips_per_request"], "round trips",
                                note=f"{r['redis_commands_per_request']:.1f} commands; server side: INFO stats "
                                     "total_writes_processed and commandstats deltas, whole run"))
        out["round_trips"] = {f"alerts_{n}": _round_trips(stack, n) for n in (1, 50)}
        for n in (1, 50):
            for kind in ("new_group", "resend"):
                rt = out["round_trips"][f"alerts_{n}"][kind]
                label = "new group" if kind == "new_group" else "re-send"
                rows.append(row(NAME, f"{label}, {n}-alert: Redis round trips in ingest() itself",
                                rt["round_trips"], "round trips",
                                note=f"{rt['commands']:.0f} commands; in-process, counted at redis-py's socket"))
        if profile and size["profile_seconds"]:
            spec = _spec(api_url, unique_body(1, alertname="Profiled"),
                         {**size, "duration": size["profile_seconds"] + 2}, seq_start=70_000_000)
            out["profile"] = profiling.profile_during(api.pid, spec, size["profile_seconds"], workdir / NAME,
                                                      "ingest-new-groups")
    out["rows"] = rows
    return out


if __name__ == "__main__":  # python -m bench.ingest [--quick]
    import sys
    import tempfile

    print(json.dumps(run("--quick" in sys.argv, Path(tempfile.mkdtemp())), indent=2, default=str))
