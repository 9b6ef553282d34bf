"""Response times from incident timelines: drill results and the SLA report. Pure.

Definitions (the API documents them too):

- **paging started**: the first ``paging`` entry (held incidents start when released);
  **first page**: the first ``page`` entry, a page a provider accepted.
- **acknowledged**: the first ``acknowledged`` (or ``snoozed``) entry — a later
  re-acknowledgement after a re-trigger does not move it.
- **SLA**: the acknowledgement SLA of a severity is the policy's first-tier window for
  it (``escalate_after``; defaults P0/P1 5 min, P2 15 min, P3 1 h). P0 "immediate" means
  L1 and L2 are paged together at once; it is met when someone acknowledges before
  that first window runs out, i.e. before anything escalates.
- **met**: acknowledged within the SLA after paging started. Not acknowledged: missed
  once the SLA has run out (before the resolve, or by ``now``). Not counted (``None``):
  never paged, resolved inside the window without an acknowledgement, or still inside it.
- **MTTA** / **MTTR**: mean of created → acknowledged / created → resolved, over the
  incidents that were; the others still count in ``incidents``.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from routing.errors import Invalid
from routing.incident import Incident, TimelineEntry
from routing.policy import DEFAULT_ESCALATE_AFTER, Policy

ACK_KINDS = ("acknowledged", "snoozed")
PAGING_KINDS = ("paging", "escalated")
MAX_RANGE = timedelta(days=366)
CSV_HEADER = ("kind", "severity", "policy", "incidents", "acknowledged", "resolved", "mtta_seconds",
              "mttr_seconds", "sla_counted", "acknowledged_within_sla", "share_within_sla", "escalations_per_tier")


def sla_for(policy: Policy | None, severity: str) -> timedelta:
    """The acknowledgement SLA: the first tier's window for ``severity``."""
    return policy.tiers[0].delay(severity) if policy is not None else DEFAULT_ESCALATE_AFTER[severity]


def _first(timeline: list[TimelineEntry], kinds: tuple[str, ...]) -> TimelineEntry | None:
    return next((e for e in timeline if e.kind in kinds), None)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else round((end - start).total_seconds(), 3)


@dataclass(frozen=True)
class Facts:
    """What one incident's timeline says about the response to it."""

    incident_id: str
    drill: bool
    severity: str
    policy: str
    created_at: datetime
    sla: timedelta
    paging_started: datetime | None = None
    first_page: datetime | None = None
    acknowledged: datetime | None = None
    acknowledged_by: str | None = None
    resolved: datetime | None = None
    met: bool | None = None
    escalations: Mapping[str, int] = field(default_factory=dict)


def facts(incident: Incident, policy: Policy | None, now: datetime) -> Facts:
    timeline = sorted(incident.timeline, key=lambda e: e.at)
    paging, page, ack = _first(timeline, ("paging",)), _first(timeline, ("page",)), _first(timeline, ACK_KINDS)
    sla = sla_for(policy, incident.severity)
    started, acked = paging.at if paging else None, ack.at if ack else None
    met: bool | None = None
    if started is not None:
        if acked is not None:
            met = acked - started <= sla
        elif (incident.resolved_at or now) - started > sla:
            met = False
    return Facts(
        incident_id=incident.id, drill=incident.drill, severity=incident.severity, policy=incident.policy,
        created_at=incident.created_at, sla=sla, paging_started=started, first_page=page.at if page else None,
        acknowledged=acked, acknowledged_by=(str(ack.details.get("by") or "") or None) if ack else None,
        resolved=incident.resolved_at if incident.status == "resolved" else None, met=met,
        escalations=dict(Counter(str(e.details.get("tier", "")) for e in timeline if e.kind in PAGING_KINDS)))


# -- one drill ------------------------------------------------------------------------------


def _acking_entry(rounds: list[TimelineEntry], f: Facts) -> TimelineEntry | None:
    """The tier page the acknowledgement answered: the last one before it that paged
    the person who acknowledged, else the last one before it (an API acknowledgement)."""
    before = [e for e in rounds if f.acknowledged is not None and e.at <= f.acknowledged]
    mine = [e for e in before if f.acknowledged_by in e.details.get("people", ())]
    return (mine or before or [None])[-1]


def drill_result(incident: Incident, policy: Policy | None, now: datetime) -> dict:
    """Time to first page, to acknowledge (which tier, after how long), to resolve,
    and whether the SLA and each tier's window were met."""
    f = facts(incident, policy, now)
    rounds = sorted((e for e in incident.timeline if e.kind in PAGING_KINDS), key=lambda e: e.at)
    acking = _acking_entry(rounds, f)
    windows = {t.name: t.delay(incident.severity) for t in policy.tiers} if policy else {}
    left: dict[int, datetime] = {}  # each round's first page out: when its tier's window began
    for e in incident.timeline:
        if e.kind == "page":
            left.setdefault(e.details.get("round", 0), e.at)
    tiers = []
    for entry in rounds:
        later = [e.at for e in rounds if e.details.get("round", 0) > entry.details.get("round", 0)]
        nxt = min(later) if later else None
        window = windows.get(str(entry.details.get("tier")))
        if entry is acking:
            outcome, until = "acknowledged", f.acknowledged
        elif nxt is not None and (f.acknowledged is None or nxt <= f.acknowledged):
            outcome, until = "escalated", nxt
        elif f.acknowledged is not None:
            outcome, until = "acknowledged by another tier", f.acknowledged
        elif f.resolved is not None:
            outcome, until = "resolved", f.resolved
        else:
            outcome, until = "waiting", None
        after = _seconds(entry.at, until)
        within = None  # an escalated tier let its window run out; an acknowledging one may have
        if outcome == "escalated":
            within = False
        elif outcome == "acknowledged" and window is not None and after is not None:
            within = _seconds(left.get(entry.details.get("round", 0), entry.at), until) <= window.total_seconds()
        tiers.append({"round": entry.details.get("round"), "tier": entry.details.get("tier"),
                      "people": entry.details.get("people", []), "paged_after_seconds": _seconds(f.created_at, entry.at),
                      "outcome": outcome, "after_seconds": after,
                      "window_seconds": window.total_seconds() if window is not None else None,
                      "within_window": within})
    return {
        "incident_id": incident.id, "drill": incident.drill, "policy": incident.policy, "severity": incident.severity,
        "status": incident.status, "created_at": incident.created_at.isoformat(),
        "time_to_first_page_seconds": _seconds(f.created_at, f.first_page),
        "time_to_acknowledge_seconds": _seconds(f.created_at, f.acknowledged),
        "time_to_resolve_seconds": _seconds(f.created_at, f.resolved),
        "acknowledged_by": f.acknowledged_by, "acknowledged_tier": acking.details.get("tier") if acking else None,
        "sla": {"acknowledge_within_seconds": f.sla.total_seconds(), "met": f.met}, "tiers": tiers,
    }


# -- the SLA report ---------------------------------------------------------------------------


DEFAULT_RANGE = timedelta(days=30)


def _moment(field: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{field}: not an ISO 8601 time: {value[:40]!r} (e.g. 2026-01-01T00:00:00Z)", field=field) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def parse_range(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    """``from``/``to`` as ISO 8601 (no zone: UTC); from < to, at most 366 days apart.
    Neither given: the last ``DEFAULT_RANGE`` (30 days) up to ``now``. Only ``from``: 30
    days from it, but not past ``now`` (so ``from`` must be before ``now``). Only ``to``:
    the 30 days before it. Errors name the field."""
    start, end = (start or "").strip(), (end or "").strip()
    first = _moment("from", start) if start else None
    last = _moment("to", end) if end else None
    if first is None:
        return (now - DEFAULT_RANGE, now) if last is None else (last - DEFAULT_RANGE, last)
    if last is None:
        if first >= now:
            raise Invalid("from: is not before now; give to as well", field="from")
        return first, min(first + DEFAULT_RANGE, now)
    if first >= last:
        raise Invalid("to: must be after from", field="to")
    if last - first > MAX_RANGE:
        raise Invalid(f"to: at most {MAX_RANGE.days} days after from", field="to")
    return first, last


@dataclass
class Totals:
    """Sums behind the report's figures for some incidents: what the retention purge keeps
    of each incident it removes (per month, kind, severity and policy), so that totals of
    purged and of stored incidents add up to what the incidents themselves gave. Times are
    whole milliseconds (the report shows seconds to three decimals)."""

    incidents: int = 0
    acknowledged: int = 0
    resolved: int = 0
    ack_ms: int = 0  # created -> acknowledged, summed over the acknowledged
    resolve_ms: int = 0  # created -> resolved, summed over the resolved
    sla_counted: int = 0
    met: int = 0
    escalations: Counter[str] = field(default_factory=Counter)

    def __add__(self, other: "Totals") -> "Totals":
        return Totals(*(getattr(self, n) + getattr(other, n) for n in FIGURES),
                      escalations=self.escalations + other.escalations)


FIGURES = ("incidents", "acknowledged", "resolved", "ack_ms", "resolve_ms", "sla_counted", "met")
#: Which incidents a figure is about: (drill, severity, policy).
Key = tuple[bool, str, str]
SEP = "\x1f"


def _ms(start: datetime, end: datetime | None) -> int | None:
    return None if end is None else round((end - start) / timedelta(milliseconds=1))


def totals_of(f: Facts) -> Totals:
    acked, resolved = _ms(f.created_at, f.acknowledged), _ms(f.created_at, f.resolved)
    return Totals(1, int(acked is not None), int(resolved is not None), acked or 0, resolved or 0,
                  int(f.met is not None), int(bool(f.met)), Counter(f.escalations))


def summary(t: Totals) -> dict:
    """The report's figures from totals."""
    return {
        "incidents": t.incidents, "acknowledged": t.acknowledged, "resolved": t.resolved,
        "mtta_seconds": round(t.ack_ms / t.acknowledged / 1000, 3) if t.acknowledged else None,
        "mttr_seconds": round(t.resolve_ms / t.resolved / 1000, 3) if t.resolved else None,
        "sla_counted": t.sla_counted, "acknowledged_within_sla": t.met,
        "share_within_sla": round(t.met / t.sla_counted, 4) if t.sla_counted else None,
        "escalations_per_tier": dict(sorted((k, n) for k, n in t.escalations.items() if n)),
    }


def stats(items: list[Facts]) -> dict:
    return summary(sum((totals_of(f) for f in items), Totals()))


def archive_fields(f: Facts) -> list[tuple[str, int]]:
    """What one purged incident adds to its month's totals: (hash field, amount) pairs,
    the field "<kind>\\x1f<severity>\\x1f<policy>\\x1f<figure>", the figure one of ``FIGURES``
    or "esc:<tier>"."""
    t, prefix = totals_of(f), SEP.join(("drill" if f.drill else "incident", f.severity, f.policy, ""))
    out = [(prefix + name, getattr(t, name)) for name in FIGURES if getattr(t, name) or name == "incidents"]
    return out + [(f"{prefix}esc:{tier}", n) for tier, n in sorted(t.escalations.items())]


def parse_archive(months: Iterable[Mapping[str, str]]) -> dict[Key, Totals]:
    """Month hashes written from ``archive_fields``, summed per (drill, severity, policy);
    a field that is not one of them is skipped."""
    out: dict[Key, Totals] = {}
    for fields in months:
        for name, value in fields.items():
            parts = name.split(SEP)
            if len(parts) != 4 or parts[0] not in ("drill", "incident") or not str(value).lstrip("-").isdigit():
                continue
            kind, severity, policy, figure = parts
            one = Totals()
            if figure.startswith("esc:"):
                one.escalations[figure[4:]] = int(value)
            elif figure in FIGURES:
                setattr(one, figure, int(value))
            else:
                continue
            key = (kind == "drill", severity, policy)
            out[key] = out.get(key, Totals()) + one
    return out


def _month(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def months_between(start: datetime, end: datetime) -> tuple[list[str], list[str]]:
    """The UTC months ("2026-03") that [start, end) covers whole, and those it cuts."""
    whole, cut = [], []
    month = _month(start)
    while month < end:
        following = _month(month + timedelta(days=32))
        (whole if start <= month and following <= end else cut).append(f"{month:%Y-%m}")
        month = following
    return whole, cut


def collect(incidents: Iterable[Incident], start: datetime, end: datetime, policies: Mapping[str, Policy],
            now: datetime) -> list[Facts]:
    """The facts of every incident created in [start, end)."""
    return [facts(i, policies.get(i.policy), now) for i in incidents if start <= i.created_at < end]


def _groups(items: Iterable[Facts], archived: Mapping[Key, Totals] | None) -> dict[Key, Totals]:
    groups: dict[Key, Totals] = {}
    for f in items:
        key = (f.drill, f.severity, f.policy)
        groups[key] = groups.get(key, Totals()) + totals_of(f)
    for key, t in (archived or {}).items():
        groups[key] = groups.get(key, Totals()) + t
    return groups


def _section(groups: Mapping[Key, Totals], drill: bool) -> dict:
    mine = {k: t for k, t in groups.items() if k[0] == drill}

    def by(at: int) -> dict:
        return {name: summary(sum((t for k, t in mine.items() if k[at] == name), Totals()))
                for name in sorted({k[at] for k in mine})}

    return {"total": summary(sum(mine.values(), Totals())), "by_severity": by(1), "by_policy": by(2)}


def sla_report(items: list[Facts], start: datetime, end: datetime, archived: Mapping[Key, Totals] | None = None,
               included: Iterable[str] = (), left_out: Iterable[str] = ()) -> dict:
    """Per severity and per policy; drills in their own section, never in the real numbers.
    ``archived``: totals of purged incidents of the months ``included`` (whole months in
    range); ``left_out``: months the range cuts that have purged incidents, not counted."""
    groups = _groups(items, archived)
    return {"from": start.isoformat(), "to": end.isoformat(),
            "incidents": _section(groups, False), "drills": _section(groups, True),
            "purged": {"included": list(included), "left_out": list(left_out)}}


def sla_rows(items: list[Facts], archived: Mapping[Key, Totals] | None = None) -> list[tuple]:
    """One CSV row per (kind, severity, policy) under ``CSV_HEADER``."""
    rows = []
    groups = _groups(items, archived)
    for kind, severity, policy in sorted(("drill" if d else "incident", sev, pol) for d, sev, pol in groups):
        s = summary(groups[(kind == "drill", severity, policy)])
        rows.append((kind, severity, policy, s["incidents"], s["acknowledged"], s["resolved"], s["mtta_seconds"],
                     s["mttr_seconds"], s["sla_counted"], s["acknowledged_within_sla"], s["share_within_sla"],
                     ";".join(f"{t}={n}" for t, n in s["escalations_per_tier"].items())))
    return rows
