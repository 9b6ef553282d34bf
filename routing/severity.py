"""Severity P0–P3 from alert labels.

Default: the ``severity`` label maps critical → P1, warning → P2, info → P3; a
``priority`` label holding P0–P3 wins when present; anything unknown → P2.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

SEVERITIES = ("P0", "P1", "P2", "P3")


def _default_map() -> dict[str, str]:
    return {"critical": "P1", "warning": "P2", "info": "P3"}


@dataclass(frozen=True)
class SeverityMapping:
    label: str = "severity"
    values: Mapping[str, str] = field(default_factory=_default_map)
    priority_label: str = "priority"
    default: str = "P2"

    def __post_init__(self) -> None:
        bad = [v for v in (*self.values.values(), self.default) if v not in SEVERITIES]
        if bad:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {bad[0]!r}")

    def of(self, labels: Mapping[str, str]) -> str:
        priority = labels.get(self.priority_label, "").strip().upper()
        if priority in SEVERITIES:
            return priority
        value = labels.get(self.label, "").strip().lower()
        return self.values.get(value, self.default)


def most_severe(severities: Iterable[str]) -> str:
    """P0 beats P1 beats P2 beats P3."""
    ordered = sorted(severities, key=SEVERITIES.index)
    if not ordered:
        raise ValueError("no severities given")
    return ordered[0]
