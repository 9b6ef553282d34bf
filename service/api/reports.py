"""``GET /api/v1/reports/sla?from=&to=[&format=csv]`` — response against the SLAs.

Incidents created in [from, to) (ISO 8601; a time without a zone is UTC; ``from``
before ``to``; at most 366 days — 400 naming the field otherwise). Without either, the
last 30 days up to now; with only one, the other is 30 days away (``to`` never past
now). Per severity and per policy: the count, MTTA (created → first acknowledgement;
never-acknowledged incidents are counted but left out of the mean), MTTR (created →
resolved), the share acknowledged within the SLA (the policy's first-tier window for
the severity; see ``routing/reports.py`` for what counts), and escalations per tier
(``paging``/``escalated`` timeline entries). Drills are reported in their own section
(``drills``) and never in the real numbers. ``format=csv``: a header row, then one row
per (kind, severity, policy). API token.

Incidents removed after their retention (``HERALD_RETENTION_DAYS``) are counted from their
month's totals, kept when they were removed: a month the range covers whole reports the
same after the purge as before it, and ``purged.included`` names it; a month the range
cuts has only its still stored incidents counted, and ``purged.left_out`` names it.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from integrations.report_store import ReportStore
from routing.incident import Incident
from routing.reports import CSV_HEADER, Key, Totals, collect, months_between, parse_archive, parse_range, sla_report, \
    sla_rows
from service.api.incidents import reader
from service.api.auth import Caller

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


def incidents_between(store: ReportStore, start: datetime, end: datetime) -> list[Incident]:
    """Every incident created in [start, end), from the creation-time index."""
    return store.created_between(start, end)


def purged_between(store: ReportStore, start: datetime, end: datetime
                   ) -> tuple[dict[Key, Totals], list[str], list[str]]:
    """The totals of purged incidents of the months [start, end) covers whole, those
    months, and the months it cuts that have purged incidents (left out)."""
    whole, cut = months_between(start, end)
    found = store.archived(whole + cut)
    included = [(month, fields) for month, fields in zip(whole, found) if fields]
    left_out = [month for month, fields in zip(cut, found[len(whole):]) if fields]
    return parse_archive(fields for _, fields in included), [month for month, _ in included], left_out


@router.get("/sla")
def sla(request: Request,
        start: str | None = Query(None, alias="from", description="ISO 8601, e.g. 2026-01-01T00:00:00Z; "
                                                                   "default: 30 days before to"),
        end: str | None = Query(None, alias="to", description="ISO 8601, after from, at most 366 days later; "
                                                               "default: 30 days after from, at most now"),
        fmt: Literal["json", "csv"] = Query("json", alias="format"), _caller: Caller = Depends(reader)) -> Any:
    """MTTA, MTTR, share within SLA and escalations per tier, per severity and per policy."""
    herald = request.app.state.herald
    now = herald.clock()
    first, last = parse_range(start, end, now)  # Invalid naming the field: 400 (service/api/errors.py)
    items = collect(incidents_between(herald.reports, first, last), first, last, herald.config.policies, now)
    archived, included, left_out = purged_between(herald.reports, first, last)
    if fmt == "json":
        return sla_report(items, first, last, archived, included, left_out)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(["" if cell is None else cell for cell in row] for row in sla_rows(items, archived))
    name = f"herald-sla-{first:%Y%m%d}-{last:%Y%m%d}.csv"
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
