"""``GET /ui/reports``: the SLA report (``routing.reports``) for a date range as a table
per severity and per policy, and an inline-SVG chart of the mean time to acknowledge
against the SLA per severity. Drills are shown apart, never mixed into the numbers;
incidents removed after their retention count from their month's totals, as in the API
(``service/api/reports.py``)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from routing.reports import collect, parse_range, sla_for, sla_report
from service.api.reports import incidents_between, purged_between
from service.web.base import PREFIX, ConsoleRoute, logged_in
from service.web.render import page, span
from service.web.session import Viewer

router = APIRouter(prefix=PREFIX + "/reports", route_class=ConsoleRoute, include_in_schema=False)
WIDTH, ROW, LEFT = 600, 48, 44


@dataclass(frozen=True)
class Bar:
    severity: str
    y: int
    width: float  # px of the MTTA bar
    sla_x: float  # px where the SLA line sits
    over: bool
    label: str


def chart(section: dict, slas: dict[str, float]) -> tuple[list[Bar], int]:
    """Bars (mean time to acknowledge, one per severity) against each severity's SLA
    (``slas``: seconds, the longest of the policies reported for the severity)."""
    rows = []
    for severity, stats in section["by_severity"].items():
        if severity not in slas:
            continue
        rows.append((severity, stats["mtta_seconds"], slas[severity], stats["share_within_sla"]))
    scale = max([1.0, *(max(m or 0, s) for _, m, s, _ in rows)]) * 1.15
    usable = WIDTH - LEFT - 8
    bars = []
    for n, (severity, mtta, sla, share) in enumerate(rows):
        shown = f"{span(mtta)}" if mtta is not None else "no acks"
        within = f", {round(share * 100)}% within SLA" if share is not None else ""
        bars.append(Bar(severity, n * ROW + 6, usable * (mtta or 0) / scale, LEFT + usable * sla / scale,
                        bool(mtta is not None and mtta > sla), f"MTTA {shown} · SLA {span(sla)}{within}"))
    return bars, max(len(bars), 1) * ROW + 8


def _range(request: Request, start: str, end: str, days: str) -> tuple[datetime, datetime, str | None]:
    """Whole days: ``start`` and ``end`` (inclusive) as the API's from/to, one of them
    enough (30 days from or to it, not past today); else the last ``days`` days."""
    now = request.app.state.herald.clock()
    tomorrow = datetime.combine(now.date() + timedelta(days=1), time(0), timezone.utc)
    error = None
    if start or end:
        try:
            lo, hi = parse_range(start and f"{start}T00:00:00", end and f"{end}T00:00:00", tomorrow)
        except ValueError as exc:
            error = str(exc)
        else:
            if end:  # the end day is included (and, alone, 30 whole days up to it)
                hi += timedelta(days=1)
                lo += timedelta(days=0 if start else 1)
            return lo, hi, None
    count = int(days) if days.isdigit() and 1 <= int(days) <= 366 else 30
    return tomorrow - timedelta(days=count), tomorrow, error


@router.get("", response_class=HTMLResponse)
def reports_page(request: Request, start: str = "", end: str = "", days: str = "30",
                 _viewer: Viewer = Depends(logged_in)) -> Response:
    herald = request.app.state.herald
    first, last, error = _range(request, start, end, days)
    items = collect(incidents_between(herald.reports, first, last), first, last, herald.config.policies,
                    herald.clock())
    archived, included, left_out = purged_between(herald.reports, first, last)
    report = sla_report(items, first, last, archived, included, left_out)
    slas: dict[str, float] = {}
    for drill, severity, policy in [(f.drill, f.severity, f.policy) for f in items] + list(archived):
        if not drill:
            window = sla_for(herald.config.policies.get(policy), severity).total_seconds()
            slas[severity] = max(slas.get(severity, 0.0), window)
    bars, height = chart(report["incidents"], slas)
    return page(request, "reports.html", code=400 if error else 200, error=error, report=report,
                first=first, last=last - timedelta(days=1), bars=bars, height=height, width=WIDTH, left=LEFT,
                days=days, start=start, end=end, drills=[f for f in items if f.drill])
