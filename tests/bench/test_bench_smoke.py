"""The benchmarks run end to end at tiny sizes (``python -m bench.run --quick``) and
write every figure they promise. No timing is asserted: these machines are shared and
noisy, and the figures at these sizes mean nothing. ``make bench`` measures."""
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
}


def test_every_benchmark_runs_and_reports(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--no-profile", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=110)
    results = json.loads((tmp_path / "latest.json").read_text())
    errors = {name: b["error"] for name, b in results["benchmarks"].items() if "error" in b}
    assert not errors, "\n\n".join(f"{name}:\n{text}" for name, text in errors.items())
    assert done.returncode == 0, done.stderr[-3000:]
    for name, paths in EXPECTED.items():
        bench = results["benchmarks"][name]
        assert bench["rows"], f"{name} reported no figures"
        for path in paths:
            value = bench
            for key in path:
                assert key in value, f"{name}: missing {'.'.join(path)}"
                value = value[key]
            assert value is not None, f"{name}: {'.'.join(path)} is empty"
    table = (tmp_path / "latest.md").read_text()
    assert table.count("\n| ") >= sum(len(b["rows"]) for b in results["benchmarks"].values())
    assert results["machine"]["nproc"] and results["machine"]["python"]
