"""Sources: each integration endpoint's events per second as a ratio to Alertmanager's
webhook (``POST /api/v1/alertmanager``), measured in the same run, on the same
``herald serve``, at the same concurrency (goal ≥ 0.8×).

``ENDPOINTS`` is the table of what is measured: name -> (path, headers, body factory).
A body factory answers a request body whose ``__SEQ__`` the load generator
(``bench.loadgen``) fills in with the request number, so every request names its own
incident (dedup key, alias, group key). Adding a source is one entry (and, if it needs a
key, one integration in ``INTEGRATIONS``).

Two phases per endpoint, as in ``bench.ingest``:

- *new*: every event a distinct key — a new incident each (route, read, decide, commit);
- *repeats*: ``GROUPS`` keys opened once, then sent again and again (PagerDuty's repeated
  trigger, Alertmanager's re-send): the same incident, nobody paged again.

In each phase Alertmanager's endpoint is measured just before and just after the others;
the mean of the two is the baseline of each ratio (the machine is shared and noisy). Every event is one alert
(Alertmanager: a 1-alert payload). The integrations' rate is set out of the way
(``rate_per_minute`` 1,000,000): the limit is tested elsewhere, the throughput here.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench.report import row
from bench.stack import AM_HEADERS, Stack, cpu_seconds, loadgen, unique_body, url_port
from integrations.config.model import key_digest

NAME = "sources"
FULL = {"duration": 6.0, "max_requests": 200_000, "concurrency": 8, "warmup": 1.0, "groups": 200}
QUICK = {"duration": 0.15, "max_requests": 40, "concurrency": 4, "warmup": 0.1, "groups": 4}
GOAL = 0.8
BASELINE = "alertmanager"
JSON = {"Content-Type": "application/json"}
PAGERDUTY_KEY = "0123456789abcdef0123456789abcdef"
GRAFANA_KEY = "bench-grafana-key-0123456789abcdef"
GENERIC_KEY = "bench-generic-key-0123456789abcdef"
OPSGENIE_KEY = "bench-opsgenie-key-0123456789abcdef"
#: An Opsgenie create alert, its alias carrying ``__SEQ__``.
OPSGENIE_BODY = json.dumps({"message": "DiskFull on db", "alias": "bench/db/__SEQ__", "priority": "P1",
                            "description": "Instance db is in trouble.", "tags": ["service:db", "job:node"],
                            "details": {"instance": "db-0:9100"}, "entity": "db-0", "source": "bench"})


def pagerduty_body() -> str:
    """A PagerDuty Events API v2 trigger whose dedup key carries ``__SEQ__``."""
    return json.dumps({
        "routing_key": PAGERDUTY_KEY, "event_action": "trigger", "dedup_key": "bench/db-__SEQ__",
        "payload": {"summary": "DiskFull on db", "source": "db-1.example", "severity": "critical",
                    "component": "disk", "group": "db", "class": "DiskFull",
                    "custom_details": {"description": "Instance db-1 is in trouble.", "free": "1%"}},
        "links": [{"href": "http://prometheus.example:9090/graph?g0.expr=up%3D%3D0", "text": "Prometheus"}],
        "client": "Prometheus", "client_url": "http://prometheus.example:9090"})


def grafana_body() -> str:
    """Grafana Alerting's webhook (version "1", one alert), its group key carrying ``__SEQ__``;
    the shape of ``tests/fixtures/grafana/firing.json`` (Grafana's documented example)."""
    labels = {"alertname": "DiskFull", "instance": "db-1", "grafana_folder": "db", "severity": "critical",
              "bench": "__SEQ__"}
    alert = {"status": "firing", "labels": labels, "annotations": {"summary": "DiskFull on db-1"},
             "startsAt": (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat(),
             "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "http://grafana.example/alerting/grafana/abc/view", "fingerprint": "fp__SEQ__",
             "silenceURL": "http://grafana.example/alerting/silence/new", "dashboardURL": "http://grafana.example/d/1",
             "panelURL": "http://grafana.example/d/1?viewPanel=2", "values": {"B": 99.0}}
    return json.dumps({
        "receiver": "herald", "status": "firing", "orgId": 1, "alerts": [alert], "groupLabels": {"bench": "__SEQ__"},
        "commonLabels": labels, "commonAnnotations": {"summary": "DiskFull on db-1"},
        "externalURL": "http://grafana.example/", "version": "1", "groupKey": '{}/{}:{bench="__SEQ__"}',
        "truncatedAlerts": 0, "title": "[FIRING:1] DiskFull", "state": "alerting",
        "message": "**Firing**\n\nDiskFull on db-1"})


def generic_body() -> str:
    """A generic integration's JSON (read by ``INTEGRATIONS``' mapping), its id carrying ``__SEQ__``."""
    return json.dumps({"check": {"name": "DiskFull on db-1", "id": "bench/__SEQ__", "level": "critical"},
                       "detail": {"free": "1%"}})


#: name -> (path, headers, body factory). The baseline first.
ENDPOINTS: dict[str, tuple[str, dict[str, str], Callable[[], str]]] = {
    BASELINE: ("/api/v1/alertmanager", AM_HEADERS, lambda: unique_body(1)),
    "pagerduty": ("/v2/enqueue", JSON, pagerduty_body),
    "opsgenie": ("/v2/alerts", {**JSON, "Authorization": f"GenieKey {OPSGENIE_KEY}"}, lambda: OPSGENIE_BODY),
    "grafana": ("/api/v1/grafana", {**JSON, "Authorization": f"Bearer {GRAFANA_KEY}"}, grafana_body),
    "generic": ("/api/v1/integrations/bench-generic/events", {**JSON, "Authorization": f"Bearer {GENERIC_KEY}"},
                generic_body),
}
#: The integrations the endpoints' keys open (appended to the bench configuration).
INTEGRATIONS = f"""
integrations:
  - name: bench-pagerduty
    kind: pagerduty
    key_sha256: {key_digest(PAGERDUTY_KEY)}
    rate_per_minute: 1000000
  - name: bench-opsgenie
    kind: opsgenie
    key_sha256: {key_digest(OPSGENIE_KEY)}
    rate_per_minute: 1000000
  - name: bench-grafana
    kind: grafana
    key_sha256: {key_digest(GRAFANA_KEY)}
    rate_per_minute: 1000000
  - name: bench-generic
    kind: generic
    key_sha256: {key_digest(GENERIC_KEY)}
    rate_per_minute: 1000000
    mapping: {{title: check.name, dedup_key: check.id, severity: check.level, details: detail}}
"""


def _spec(url: str, endpoint: str, size: dict[str, Any], **extra: Any) -> dict[str, Any]:
    path, headers, body = ENDPOINTS[endpoint]
    return {"port": url_port(url), "path": path, "headers": headers, "bodies": [body()],
            "concurrency": size["concurrency"], "duration": size["duration"], "max_requests": size["max_requests"],
            **extra}


def _drive(pid: int, spec: dict[str, Any]) -> dict[str, Any]:
    before = cpu_seconds(pid)
    result = loadgen(spec)
    cpu = cpu_seconds(pid) - before
    out = {k: result[k] for k in ("ok", "sent", "errors", "elapsed_s", "rps", "p50_ms", "p99_ms", "statuses")}
    out["cpu_ms_per_request"] = cpu * 1000 / result["ok"] if result["ok"] else None
    refused = {status: n for status, n in result["statuses"].items() if not str(status).startswith("2")}
    if refused or not result["ok"]:  # a figure of refusals measures nothing: say so, loudly
        raise RuntimeError(f"{spec['path']}: answers other than 2xx {refused}, {result['errors']} errors")
    return out


def run(quick: bool, workdir: Path) -> dict[str, Any]:
    size = QUICK if quick else FULL
    out: dict[str, Any] = {"config": {**size, "endpoints": {n: p for n, (p, _, _) in ENDPOINTS.items()},
                                      "load_generator": "bench.loadgen (raw asyncio HTTP/1.1, keep-alive)"}}
    rows = []
    others = [n for n in ENDPOINTS if n != BASELINE]
    with Stack(workdir / NAME) as stack:
        with open(stack.config, "a") as config:
            config.write(INTEGRATIONS)
        api, url = stack.start_api()
        base_seq = {name: i * 100_000_000 for i, name in enumerate(ENDPOINTS)}  # each its own keys
        for name in ENDPOINTS:  # warm: connections, caches, the interpreter
            loadgen(_spec(url, name, {**size, "duration": size["warmup"]}, seq_start=base_seq[name] + 90_000_000))
        runs: dict[str, dict[str, Any]] = {name: {} for name in [*ENDPOINTS, f"{BASELINE}_after"]}
        # Each phase: Alertmanager, every other endpoint, Alertmanager again, back to back, so
        # the baseline of a ratio is measured within seconds of what it is the baseline of.
        for name in ENDPOINTS:  # new incidents
            runs[name]["new"] = _drive(api.pid, _spec(url, name, size, seq_start=base_seq[name]))
        runs[f"{BASELINE}_after"]["new"] = _drive(api.pid, _spec(url, BASELINE, size,
                                                                 seq_start=base_seq[BASELINE] + 10_000_000))
        groups = size["groups"]
        for name in ENDPOINTS:  # the keys the repeats send again, opened once
            opened = loadgen(_spec(url, name, {**size, "duration": 60, "max_requests": groups},
                                   seq_start=base_seq[name] + 50_000_000))
            runs[name]["opened"] = opened["ok"]
        for name in [*ENDPOINTS, BASELINE]:
            key = f"{BASELINE}_after" if name == BASELINE and "repeats" in runs[BASELINE] else name
            runs[key]["repeats"] = _drive(api.pid, _spec(url, name, size, seq_start=base_seq[name] + 50_000_000,
                                                         seq_mod=groups))
        base = {phase: (runs[BASELINE][phase]["rps"] + runs[f"{BASELINE}_after"][phase]["rps"]) / 2
                for phase in ("new", "repeats")}
        out["baseline_rps"] = base
        for endpoint in others:
            result = runs[endpoint]
            for phase, label in (("new", "distinct keys (a new incident each)"), ("repeats", "repeats (same incidents)")):
                r = result[phase]
                ratio = r["rps"] / base[phase] if base[phase] else None
                result[f"{phase}_ratio"] = ratio
                rows.append(row(NAME, f"{endpoint} {ENDPOINTS[endpoint][0]}, {label}: events/s", r["rps"], "req/s",
                                baseline=base[phase], baseline_name=f"Alertmanager webhook, {phase}", ratio=ratio,
                                goal=f"≥ {GOAL:.0%} of Alertmanager", met=ratio is not None and ratio >= GOAL,
                                note=f"concurrency {size['concurrency']}; p99 {r['p99_ms'] or 0:.1f} ms"))
                base_cpu = [runs[b][phase]["cpu_ms_per_request"] for b in (BASELINE, f"{BASELINE}_after")
                            if runs[b][phase]["cpu_ms_per_request"]]
                if r["cpu_ms_per_request"] and base_cpu:
                    rows.append(row(NAME, f"{endpoint}, {phase}: server CPU per event", r["cpu_ms_per_request"], "ms",
                                    baseline=sum(base_cpu) / len(base_cpu), baseline_name="Alertmanager webhook"))
        out.update(runs)
    out["rows"] = rows
    return out


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as scratch:
        print(json.dumps(run(args.quick, Path(scratch)), indent=2, default=str))
