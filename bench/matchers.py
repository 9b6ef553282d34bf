"""7. Regex matchers: the pattern of issue 16, ``instance=~"(a+)+"``, against label values
that almost match (``aaa…a!``).

Herald's matchers run on RE2 (``routing.matchers``), as Alertmanager's do: the time to
answer grows with the value's length, never with the pattern's ways to backtrack. The
baseline is Python's ``re`` (what Herald used before) with the same anchored pattern, at
lengths small enough to finish: each character more doubles its time. Pure CPU, no
Redis, no server.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from bench.report import row

NAME = "matchers"
PATTERN = "(a+)+"
FULL = {"re2_lengths": (20, 1_000, 100_000), "re_lengths": (16, 18, 20, 22), "repeat": 200}
QUICK = {"re2_lengths": (20, 1_000), "re_lengths": (10, 12), "repeat": 5}
GOAL_RE2_MS = 10.0  # the longest value, one match: far under a webhook's budget


def _best_ms(match: Any, value: str, repeat: int) -> float:
    """The fastest of ``repeat`` runs, in ms: the least disturbed by the shared machine."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        match(value)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def run(quick: bool, scratch: Path) -> dict[str, Any]:
    from routing.matchers import parse_matcher

    sizes = QUICK if quick else FULL
    matcher = parse_matcher(f'instance=~"{PATTERN}"')
    herald = lambda value: matcher.matches({"instance": value})  # noqa: E731
    backtracking = re.compile(f"(?:{PATTERN})").fullmatch
    out: dict[str, Any] = {"re2": {}, "python_re": {}, "rows": []}
    for n in sizes["re_lengths"]:
        value = "a" * n + "!"
        assert herald(value) is False and backtracking(value) is None
        out["python_re"][f"len_{n}"] = {"ms": _best_ms(backtracking, value, max(1, sizes["repeat"] // 50))}
    for n in sizes["re2_lengths"]:
        value = "a" * n + "!"
        out["re2"][f"len_{n}"] = {"ms": _best_ms(herald, value, sizes["repeat"])}
    first_re = sizes["re_lengths"][0]
    base = out["python_re"][f"len_{first_re}"]["ms"]
    for n in sizes["re_lengths"]:
        ms = out["python_re"][f"len_{n}"]["ms"]
        out["rows"].append(row(NAME, f"python re, {n} + 1 characters", ms, "ms", baseline=base,
                               baseline_name=f"python re, {first_re} + 1", note="before: doubles per character"))
    shortest, longest = sizes["re2_lengths"][0], sizes["re2_lengths"][-1]
    re2_base = out["re2"][f"len_{shortest}"]["ms"]
    for n in sizes["re2_lengths"]:
        ms = out["re2"][f"len_{n}"]["ms"]
        goal = f"≤ {GOAL_RE2_MS:g} ms" if n == longest else ""
        out["rows"].append(row(NAME, f"Herald (RE2), {n:,} + 1 characters", ms, "ms", baseline=re2_base,
                               baseline_name=f"RE2, {shortest} + 1", goal=goal,
                               met=(ms <= GOAL_RE2_MS) if goal else None))
    out["re2_longest_ms"] = out["re2"][f"len_{longest}"]["ms"]
    return out
