"""Result rows shared by every benchmark, and the Markdown table they make."""
from __future__ import annotations

import math
from typing import Any


def row(bench: str, metric: str, value: float | int | None, unit: str = "", *, baseline: float | None = None,
        baseline_name: str = "", ratio: float | None = None, goal: str = "", met: bool | None = None,
        note: str = "") -> dict[str, Any]:
    """One figure. ``ratio`` is value / baseline unless given."""
    if ratio is None and baseline is not None and baseline > 0 and value is not None and value >= 0:
        ratio = value / baseline  # no ratio to a zero or negative baseline (lateness can be < 0)
    return {"bench": bench, "metric": metric, "value": value, "unit": unit, "baseline": baseline,
            "baseline_name": baseline_name, "ratio": ratio, "goal": goal, "met": met, "note": note}


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        magnitude = abs(value)
        if magnitude >= 1000:
            return f"{value:,.0f}"
        if magnitude >= 100:
            return f"{value:.0f}"
        if magnitude >= 10:
            return f"{value:.1f}"
        if magnitude >= 0.1:
            return f"{value:.2f}"
        if magnitude == 0:
            return "0"
        return f"{value:.3g}"
    return str(value)


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| benchmark | figure | value | baseline (same run) | ratio | goal | met |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        value = f"{fmt(r['value'])} {r['unit']}".strip()
        base = f"{fmt(r['baseline'])} ({r['baseline_name']})" if r["baseline"] is not None else "—"
        ratio = f"{fmt(r['ratio'])}×" if r["ratio"] is not None else "—"
        met = {True: "✅", False: "❌", None: ""}[r["met"]]
        metric = r["metric"] + (f" — {r['note']}" if r["note"] else "")
        lines.append(f"| {r['bench']} | {metric} | {value} | {base} | {ratio} | {r['goal']} | {met} |")
    return "\n".join(lines) + "\n"


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[k]
