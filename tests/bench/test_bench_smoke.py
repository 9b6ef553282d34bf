"""The benchmarks run end to end at tiny sizes (``python -m bench.run --quick``) and
write every figure they promise. No timing is asserted: these machines are shared and
noisy, and the figures at these sizes mean nothing. ``make bench`` measures. One test
per benchmark (``--only``), so parallel test workers can run them side by side."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

EXPECTED = {
    "ingest": [("alerts_1", "resends", "rps"), ("alerts_1", "new_groups", "rps"), ("alerts_50", "resends", "rps"),
               ("alerts_50", "new_groups", "p99_ms"), ("alerts_1", "bare_rps"),
               ("alerts_1", "new_groups", "redis_commands_per_request"),
               ("alerts_1", "new_groups", "redis_round_trips_per_request"),
               ("round_trips", "alerts_1", "new_group", "round_trips"),
               ("round_trips", "alerts_50", "resend", "round_trips")],
    "time_to_page": [("p50_ms",), ("p99_ms",), ("max_ms",), ("paged",), ("webhook_p99_ms",)],
    "escalation": [("escalation_paged", "p99_s"), ("escalation_paged", "early"), ("escalation_decided", "early"),
                   ("rq_baseline", "p99_s")],
    "oncall": [("rotation", "p99_ms"), ("naive", "p50_ms"), ("answers_differ",), ("http", "oncall", "p99_ms"),
               ("http", "healthz", "p99_ms")],
    "storm": [("alerts_lost",), ("gaps_under_window",), ("probe_during", "p99_ms"), ("probe_idle", "p99_ms")],
    "memory": [("idle", "api_kb"), ("loaded", "api_kb"), ("loaded", "worker_peak_kb"), ("loaded", "open_incidents")],
    "worker_stop": [("rq_baseline", "max_s"), ("redis_up", "max_s"), ("redis_down_rq_retrying", "max_s"),
                    ("redis_down_from_start", "max_s")],
    "matchers": [("re2", "len_20", "ms"), ("python_re", "len_10", "ms"), ("re2_longest_ms",)],
    "incident_growth": [("first_s",), ("tenth_s",), ("ratio",), ("healthz_max_s",), ("incident_bytes",),
                        ("worker_peak_mib",), ("worker_limit_mib",), ("tracked",)],
    "retention": [("used_memory_per_incident",), ("record_memory_usage",), ("kept_per_incident",),
                  ("kept_per_extra_alert",), ("ttl_bytes_per_incident",), ("after_purge_used_memory",),
                  ("purge_ms_per_incident",)],
    "slow_clients": [("idle", "healthz", "p99_ms"), ("during", "healthz", "p99_ms"), ("during", "webhook", "p99_ms"),
                     ("refused",), ("api_open_files_peak",)],
    "parallel_sends": [("sequential", "last_page_s"), ("parallel", "last_page_s"), ("parallel", "max_in_flight"),
                       ("parallel", "deliver_s"), ("speedup",)],
    "scaleout": [("alerts_lost",), ("alerts_acked",), ("pages_sent",), ("duplicate_pages",), ("lost_pages",),
                 ("promoted_s",), ("first_2xx_after_kill_s",), ("last_page_after_kill_s",), ("alerts_per_s",)],
    "sources": [("baseline_rps", "new"), ("baseline_rps", "repeats"), ("pagerduty", "new", "rps"),
                ("pagerduty", "repeats", "rps"), ("pagerduty", "new_ratio"), ("pagerduty", "repeats_ratio"),
                *[(source, phase) for source in ("opsgenie", "grafana", "generic")
                  for phase in ("new_ratio", "repeats_ratio")]],
}


def test_every_benchmark_is_smoke_tested() -> None:
    from bench.run import BENCHMARKS

    assert sorted(EXPECTED) == sorted(BENCHMARKS)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_benchmark_runs_and_reports(tmp_path: Path, name: str) -> None:
    done = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--no-profile", "--only", name,
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert (tmp_path / "latest.json").exists(), done.stderr[-3000:]
    results = json.loads((tmp_path / "latest.json").read_text())
    assert results["quick"] is True and results["order"] == [name]
    errors = {n: b["error"] for n, b in results["benchmarks"].items() if "error" in b}
    assert not errors, "\n\n".join(f"{n}:\n{text}" for n, text in errors.items())
    assert done.returncode == 0, done.stderr[-3000:]
    bench = results["benchmarks"][name]
    assert bench["rows"], f"{name} reported no figures"
    for path in EXPECTED[name]:
        value = bench
        for key in path:
            assert key in value, f"{name}: missing {'.'.join(path)}"
            value = value[key]
        assert value is not None, f"{name}: {'.'.join(path)} is empty"
    table = (tmp_path / "latest.md").read_text()
    assert table.count("\n| ") >= len(bench["rows"])
    assert results["machine"]["nproc"] and results["machine"]["python"]
