"""Maintenance windows: while one covers an incident's alerts, nobody is paged.

Pure: which windows are active at ``now`` and whether they hold an incident. An
incident is held only when every firing alert is covered by an active window; it is
held until the first of those alerts stops being covered.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, Field, field_validator, model_validator

from routing.incident import AlertState, Hold
from routing.matchers import all_match, compiled, validated


class MaintenanceWindow(BaseModel):
    id: str = ""
    matchers: list[str] = Field(min_length=1, max_length=50)
    start: datetime
    end: datetime
    reason: str = Field(min_length=1, max_length=500)
    created_by: str = ""
    ended_early_at: datetime | None = None

    @field_validator("matchers")
    @classmethod
    def _parse(cls, value: list[str]) -> list[str]:
        return validated(value)

    @model_validator(mode="after")
    def _order(self) -> "MaintenanceWindow":
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a time zone (e.g. 2026-11-27T10:00:00Z)")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def active(self, now: datetime) -> bool:
        return self.start <= now < self.effective_end

    @property
    def effective_end(self) -> datetime:
        return min(self.end, self.ended_early_at) if self.ended_early_at else self.end

    def covers(self, labels: dict[str, str]) -> bool:
        return all_match(compiled(tuple(self.matchers)), labels)


def hold_for(alerts: Iterable[AlertState], windows: Iterable[MaintenanceWindow], now: datetime) -> Hold | None:
    active = [w for w in windows if w.active(now)]
    firing = [a for a in alerts if a.status == "firing"]
    if not active or not firing:
        return None
    ends = []
    for alert in firing:
        covering = [w for w in active if w.covers(alert.labels)]
        if not covering:
            return None
        ends.append(max(covering, key=lambda w: w.effective_end))
    first = min(ends, key=lambda w: w.effective_end)
    return Hold(reason=f"maintenance: {first.reason}", until=first.effective_end)
