"""Profile a running Herald process with py-spy while the load generator drives it, and
summarise the samples: where the time goes (inclusive, by function) and what runs on
the CPU itself (self time).

py-spy attaches from outside (``py-spy record --pid``), so the process profiled is the
real ``herald serve`` / ``herald worker``; ``--subprocesses`` follows RQ's forked work
horses. Without py-spy installed the profile is skipped and says so.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from bench.stack import loadgen

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_NOISE = ("threading.py", "concurrent/futures", "asyncio/", "selectors.py", "runpy.py", "<frozen",
          "site-packages/anyio", "site-packages/starlette", "site-packages/uvicorn", "site-packages/fastapi",
          "site-packages/h11")


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(pid: int, seconds: float, out: Path, subprocesses: bool = False, rate: int = 250,
           gil: bool = False) -> subprocess.Popen | None:
    """Start ``py-spy record``; ``gil`` samples only the thread holding the GIL (Python's
    own CPU time: a thread waiting for Redis is not in it)."""
    binary = py_spy()
    if binary is None:
        return None
    args = [binary, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))), "--rate", str(rate),
            "--format", "raw", "--output", str(out), "--nonblocking"]
    if subprocesses:
        args.append("--subprocesses")
    if gil:
        args.append("--gil")
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _label(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for root in ("/site-packages/", "/work/main/", "/lib/python3."):
        if root in path:
            path = path.split(root, 1)[1]
            break
    return f"{m.group('func')} ({path})"


def summarise(raw: Path, top: int = 15) -> dict[str, Any]:
    """Inclusive and self sample shares per function from py-spy's raw (collapsed) output."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    herald_own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_label(f) for f in stack.split(";")[1:]]  # the first is the process/thread
        if not frames:
            continue
        for label in set(frames):
            inclusive[label] += n
        own[frames[-1]] += n
        # The innermost frame of Herald's own code: which of our functions the time is "in".
        ours = [f for f in frames if f.split(" (")[-1].startswith(("service/", "routing/", "integrations/",
                                                                    "schedules/"))]
        if ours:
            herald_own[ours[-1]] += n
    if not total:
        return {"samples": 0}

    def share(counter: Counter[str], skip_noise: bool) -> list[dict[str, Any]]:
        items = [(k, v) for k, v in counter.most_common() if not (skip_noise and any(s in k for s in _NOISE))]
        return [{"function": k, "share": round(v / total, 4)} for k, v in items[:top]]

    return {"samples": total, "inclusive": share(inclusive, True), "self": share(own, False),
            "innermost_herald_frame": share(herald_own, False)}


def profile_during(pid: int, spec: dict[str, Any], seconds: float, workdir: Path, label: str,
                   subprocesses: bool = False, gil: bool = False) -> dict[str, Any]:
    """Run the load ``spec`` and record ``pid`` with py-spy for ``seconds`` meanwhile."""
    out = workdir / f"profile-{label}{'-gil' if gil else ''}.txt"
    spy = record(pid, seconds, out, subprocesses, gil=gil)
    if spy is None:
        return {"skipped": "py-spy is not installed (pip install py-spy)"}
    result: dict[str, Any] = {}
    load = threading.Thread(target=lambda: result.update(loadgen(spec)), daemon=True)
    load.start()
    try:
        _, err = spy.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        spy.kill()
        _, err = spy.communicate()
    load.join(timeout=spec.get("duration", 10) + 60)
    if not out.exists():
        return {"skipped": f"py-spy failed: {(err or '').strip()[-500:]}"}
    summary = summarise(out)
    summary["raw"] = str(out)
    summary["mode"] = "GIL holder only (CPU)" if gil else "all non-idle threads (wall, includes waiting on Redis)"
    summary["load"] = {k: result.get(k) for k in ("ok", "rps", "p50_ms", "p99_ms")}
    return summary
