"""RQ job entry points and the sweep.

Timers are hints: ``escalate`` runs at the due time RQ's scheduler gives it (which can
be up to a second early — it then waits, never escalates early), and ``sweep`` re-derives
every overdue piece of work from stored state, so a lost timer or a worker killed
mid-job delays a page by at most one sweep and never drops it.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from routing.incident import Escalate
from service import heartbeats
from service import metrics
from service import retention
from service.delivery import deliver as deliver_pages
from service.runtime import Herald
from service.settings import Settings

log = logging.getLogger("herald.jobs")

#: A timer that fires early by less than this waits in the job; more, and it re-schedules.
MAX_EARLY_WAIT = 2.0

_herald: Herald | None = None


def set_context(herald: Herald) -> None:
    global _herald
    _herald = herald


def context() -> Herald:
    global _herald
    if _herald is None:
        _herald = Herald.from_settings(Settings())
    return _herald


def deliver(incident_id: str) -> int:
    return deliver_pages(context(), incident_id)


def notice(ref: str, person_id: str, title: str, text: str, link: str = "") -> str:
    from service.notices import send_notice

    return send_notice(context(), ref, person_id, title, text, link)


def escalate(incident_id: str, round_: int) -> str:
    """Escalate the incident if it is still waiting on round ``round_``; never early."""
    herald = context()
    incident = herald.store.get(incident_id)
    if incident is None or incident.status == "resolved" or incident.round != round_:
        return "stale"
    due = incident.next_escalation_at
    if due is None:
        return "nothing due"
    early = (due - herald.clock()).total_seconds()
    if early > MAX_EARLY_WAIT:
        herald.queue.enqueue_at(due, escalate, incident_id, round_,
                                job_id=f"herald-escalate-{incident_id}-{round_}-at{int(due.timestamp())}")
        return "rescheduled"
    if early > 0:
        time.sleep(early)
    decision = herald.act(incident_id, Escalate(round=round_), deliver_here=True)
    if decision.early:  # clock skew between hosts: try again shortly
        herald.queue.enqueue_in(timedelta(seconds=1), escalate, incident_id, round_)
        return "early"
    if decision.changed:
        metrics.observe_escalation_lateness(due, herald.clock())
        deliver_pages(herald, incident_id)
        return "escalated"
    return "no change"


def run_due(herald: Herald, escalations_by: datetime, pages_by: datetime, *, overdue: bool) -> int:
    """Escalate what is due by ``escalations_by`` and deliver pages due by ``pages_by``,
    straight from the stored due times. ``overdue``: this is the sweep catching up."""
    done = 0
    for incident_id in herald.store.due(max(escalations_by, pages_by).timestamp()):
        incident = herald.store.get(incident_id)
        if incident is None or incident.status == "resolved":
            continue
        try:
            if incident.next_escalation_at and incident.next_escalation_at <= escalations_by:
                if overdue:
                    log.warning("sweep: escalation of incident %s overdue since %s", incident_id,
                                incident.next_escalation_at.isoformat())
                escalate(incident_id, incident.round)
                done += 1
            if any(p.at <= pages_by for p in incident.pending_pages()):
                if overdue:
                    log.warning("sweep: incident %s has pages overdue", incident_id)
                done += deliver_pages(herald, incident_id) or 1
        except Exception:  # one bad incident must not stop the others
            log.exception("incident %s failed", incident_id)
    return done


#: How long a fresh page is left to its delivery job before the ticker takes it.
TICK_PAGE_GRACE = timedelta(seconds=1)


def tick(herald: Herald) -> int:
    """The precise path, run a few times a second by each worker: escalations the moment
    they are due (RQ's scheduler keeps whole seconds and polls once a second)."""
    now = herald.clock()
    return run_due(herald, now, now - TICK_PAGE_GRACE, overdue=False)


def sweep(herald: Herald) -> int:
    """Run every piece of work that is overdue by more than the grace period."""
    now = herald.clock()
    cutoff = now - timedelta(seconds=herald.settings.sweep_grace)
    done = run_due(herald, cutoff, cutoff, overdue=True)
    try:  # before anything that writes: when Redis is full, the purge is what frees it
        done += retention.purge(herald, now)
    except Exception:
        log.exception("sweep: retention purge failed")
    done += heartbeats.check(herald)  # heartbeats past their deadline open (and resolve) their incidents
    try:
        from service.shift_digest import send_digests

        done += send_digests(herald, now)  # the incoming on-call learns what is open
    except Exception:
        log.exception("sweep: shift-start digests failed")
    return done
