"""The one decision function: ``decide(incident, command, policy, roster, now, hold)``.

Every way an incident changes — webhook, timer, ack link, SMS reply, keypress, UI,
API — comes here and leaves with the new incident and the effects to carry out. It is
pure: no clock, no I/O; ``roster`` says who is on call for each tier at ``now`` and
``hold`` whether a maintenance window holds the incident's pages.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from routing.errors import Invalid
from routing.decision import Decision
from routing.escalation import page_next, reassign_person, retrigger, start, stop_paging
from routing.incident import (
    Acknowledge,
    AddNote,
    AlertsReceived,
    AlertState,
    Command,
    DeliveryFailed,
    Escalate,
    EscalateAt,
    EscalateNow,
    Hold,
    Incident,
    PageOutcome,
    PageOutcomes,
    Reassign,
    Release,
    Reroute,
    Resolve,
    Snooze,
)
from routing.personal_rules import NO_RULES, Rulebook
from routing.page_outcomes import delivery_failed, page_outcome, page_outcomes, reroute
from routing.policy import Policy, Roster
from routing.severity import most_severe
from routing.tracked import Notes, Tracked

__all__ = ["Decision", "decide"]


def decide(incident: Incident | None, command: Command, policy: Policy, roster: Roster, now: datetime,
           hold: Hold | None = None, rules: Rulebook = NO_RULES) -> Decision:
    """``rules``: the personal notification rules of the people ``roster`` names (and of a
    person a ``Reassign`` names); whoever has none for the incident's urgency is paged on
    the policy's channels (``routing.personal_rules``)."""
    if isinstance(command, AlertsReceived):
        return _alerts(incident, command, policy, roster, now, hold, rules)
    if incident is None:
        return Decision(None)
    current = _own(incident)
    if isinstance(command, PageOutcome):
        return page_outcome(current, command, now, policy)
    if isinstance(command, PageOutcomes):
        return page_outcomes(current, command, now, policy)
    if isinstance(command, DeliveryFailed):
        return delivery_failed(current, command, now, policy.fallback)
    if isinstance(command, Reroute):
        return reroute(current, command, policy, roster, now)
    if current.status == "resolved":
        return Decision(current)  # nothing changes a resolved incident but a new firing
    if isinstance(command, Escalate):
        return _escalate(current, command, policy, roster, now, hold, rules)
    if isinstance(command, Acknowledge):
        return _acknowledge(current, command, policy, now)
    if isinstance(command, Resolve):
        return _resolve(current, command, now)
    if isinstance(command, AddNote):
        current.note(now, "note", **command.who(), text=command.text)
        return Decision(current, changed=True)
    return _manual(current, command, policy, roster, now, hold, rules)


def _own(incident: Incident) -> Incident:
    """A copy of ``incident`` for the decision to change, the input left as it was: deep
    but for the alert snapshots and episode spans, which nothing changes in place (an
    alert's new state is a new ``AlertState``) and so are shared. Copying an incident of
    1,000 alerts whole cost the webhook milliseconds on the API's event loop."""
    current = incident.model_copy(update={"alerts": {}, "ended": {}}).model_copy(deep=True)
    current.alerts, current.ended = dict(incident.alerts), dict(incident.ended)
    return current


def _alerts(incident: Incident | None, cmd: AlertsReceived, policy: Policy, roster: Roster, now: datetime,
            hold: Hold | None, rules: Rulebook = NO_RULES) -> Decision:
    if incident is not None and not incident.is_open:
        if _is_stale_refire(incident, cmd.alerts):
            return _remember_resolved(incident, cmd, now)
        incident = None
    if incident is None:
        if all(a.status == "resolved" for a in cmd.alerts):
            return _resolved_unseen(cmd, policy, now)
        opened = Incident(
            id=cmd.new_id, receiver=cmd.receiver, group_key=cmd.group_key, policy=policy.name,
            severity=cmd.severity, title=cmd.title, created_at=now, drill=cmd.drill,
        )
        book = Tracked(opened, cmd.max_alerts)
        waiting = [a for a in cmd.alerts if a.status == "firing"]
        for alert in cmd.alerts:
            if alert.status == "resolved":
                book.put(alert)
        book.compact()
        admitted = waiting[:cmd.max_alerts]
        for alert in admitted:
            book.put(alert)
        source = {} if cmd.via == "alertmanager" else {"by": cmd.by, "via": cmd.via}
        opened.note(now, "triggered", severity=cmd.severity, policy=policy.name, drill=cmd.drill,
                    alerts=len(admitted), **source)
        _count_untracked(opened, cmd, len(waiting) - len(admitted), now)
        decision = start(opened, policy, roster, now, hold, rules)
        decision.archive = book.archive
        return decision

    current = _own(incident)
    book, notes = Tracked(current, cmd.max_alerts), Notes()
    changed = False
    waiting: list[tuple[AlertState, AlertState | None]] = []  # firing alerts that need room under the cap
    for alert in cmd.alerts:
        known = book.known(alert.fingerprint)
        if known is not None and _stale_copy(known, alert):
            continue  # a copy of an episode that has already ended, delivered late
        if alert.status == "firing" and (known is None or known.status == "resolved"):
            waiting.append((alert, known))
            continue
        if known is not None and known.status != alert.status:
            notes.add(f"alert_{alert.status}", alert)
        if not book.holds(alert):
            book.put(alert)
            changed = True
    room = max(0, cmd.max_alerts - book.firing())  # resolves first: what they free, new alerts take
    for alert, known in waiting[:room]:
        notes.add("alert_added" if known is None else "alert_firing", alert)
        book.put(alert)
        changed = True
    changed = book.compact() or changed
    changed = _count_untracked(current, cmd, max(0, len(waiting) - room), now) or changed
    notes.write(current, now)
    if (current.alerts or current.ended) and not book.firing() and not current.untracked_alerts \
            and not cmd.more_firing:
        decision = _resolve(current, Resolve(by=cmd.by, via=cmd.via), now)
        decision.archive = book.archive
        return decision
    if cmd.severity != current.severity and most_severe([cmd.severity, current.severity]) == cmd.severity:
        current.note(now, "severity_raised", old=current.severity, new=cmd.severity)
        current.severity = cmd.severity
        if current.held_until is not None and current.hold_reason == "outside business hours" \
                and not policy.rule(cmd.severity).business_hours_only:
            decision = start(current, policy, roster, now, hold, rules)  # raised out of a business-hours hold
            decision.archive = book.archive
            return decision
        changed = True
    return Decision(current, changed=changed, archive=book.archive)


def _count_untracked(current: Incident, cmd: AlertsReceived, untracked: int, now: datetime) -> bool:
    """Record how many firing alerts of this notification the cap left out; the first
    time it does, say so on the timeline (once per incident, not per webhook)."""
    if untracked and current.cap_reached_at is None:
        current.cap_reached_at = now
        current.note(now, "alert_cap_reached", max_alerts=cmd.max_alerts, untracked=untracked)
    if untracked == current.untracked_alerts:
        return False
    current.untracked_alerts = untracked
    return True


def _resolved_unseen(cmd: AlertsReceived, policy: Policy, now: datetime) -> Decision:
    """A resolve for a group never seen firing (its firing notification is late, or was
    lost): kept as a resolved incident, so the firing copy, when it comes, pages nobody."""
    if not cmd.new_id:
        return Decision(None)
    closed = Incident(
        id=cmd.new_id, receiver=cmd.receiver, group_key=cmd.group_key, policy=policy.name,
        severity=cmd.severity, title=cmd.title, created_at=now, drill=cmd.drill,
        status="resolved", resolved_at=now, resolved_by=cmd.by,
    )
    book = Tracked(closed, cmd.max_alerts)
    for alert in cmd.alerts:
        book.put(alert)
    book.compact()
    closed.note(now, "resolved_unseen", alerts=len(cmd.alerts), policy=policy.name)
    return Decision(closed, changed=True, archive=book.archive)


def _remember_resolved(closed: Incident, cmd: AlertsReceived, now: datetime) -> Decision:
    """Resolves that reach a closed incident are remembered on it, so that firing copies
    delivered late are recognised as stale: episodes it never saw firing, and the end of
    an alert that was still firing when someone resolved the incident by hand."""
    seen = Tracked(closed, cmd.max_alerts)
    unseen, ended = [], []
    for alert in cmd.alerts:
        known = seen.known(alert.fingerprint)
        if alert.status != "resolved":
            continue
        if known is None or _later_episode(known, alert):
            unseen.append(alert)
        elif known.status == "firing" and not _stale_copy(known, alert):
            ended.append(alert)
    if not unseen and not ended:
        return Decision(closed)
    current = _own(closed)
    book, notes = Tracked(current, cmd.max_alerts), Notes()
    for alert in unseen + ended:
        book.put(alert)
    for alert in ended:
        notes.add("alert_resolved", alert)
    book.compact()
    notes.write(current, now)
    if unseen:
        current.note(now, "resolved_unseen", alerts=len(unseen))
    return Decision(current, changed=True, archive=book.archive)


def _is_stale_refire(resolved: Incident, alerts: list[AlertState]) -> bool:
    """A firing re-send of alerts this incident already saw resolve (delivered late)."""
    firing = [a for a in alerts if a.status == "firing"]
    if not firing:
        return True
    seen = Tracked(resolved, 1)
    for alert in firing:
        known = seen.known(alert.fingerprint)
        if known is None or _later_episode(known, alert):
            return False
    return True


# The episode rule (docs/alertmanager.md, "Episodes"). An alert (one fingerprint) fires in
# episodes; Alertmanager merges the copies of one episode keeping the earliest startsAt
# (an HA pair of Prometheus replicas each report their own), so startsAt may move earlier
# between notifications and is not an episode's identity. What orders episodes is time:
# an episode that ended did so before the next one started.

def _later_episode(known: AlertState, incoming: AlertState) -> bool:
    """``incoming`` belongs to an episode that began after the one ``known`` records:
    after its end when that episode has ended, else after its start."""
    if known.status == "resolved" and known.ends_at is not None:
        return incoming.starts_at >= known.ends_at
    return incoming.starts_at > known.starts_at


def _stale_copy(known: AlertState, incoming: AlertState) -> bool:
    """``incoming`` is a late copy of an episode that has ended, which must change nothing:
    a firing copy of the ended episode ``known`` records (or of an earlier one), or the
    resolve of an episode that ended before the one ``known`` records began. Any other
    copy is the current episode's news: a resolve with an earlier startsAt than the one
    Herald holds is the same episode merged earlier, and ends it; so does a resolve of no
    length (``amtool alert add … --end=<past>`` with no start: Alertmanager starts it at
    its end, and no Prometheus ever sends such an episode)."""
    if incoming.status == "firing":
        return known.status == "resolved" and not _later_episode(known, incoming)
    if incoming.ends_at is None or incoming.ends_at == incoming.starts_at:
        return False  # an end given by hand without a start (Alertmanager starts it then): it ends what is open
    return incoming.ends_at < known.starts_at


def _escalate(current: Incident, cmd: Escalate, policy: Policy, roster: Roster, now: datetime,
              hold: Hold | None, rules: Rulebook = NO_RULES) -> Decision:
    if cmd.round != current.round or current.next_escalation_at is None:
        return Decision(current)
    if now < current.next_escalation_at:
        return Decision(current, early=True)
    if current.held_until is not None:
        return start(current, policy, roster, now, hold, rules)
    if current.status == "acknowledged":
        last = next((e.kind for e in reversed(current.timeline) if e.kind in ("snoozed", "acknowledged")), "")
        retrigger(current, "snooze ended" if last == "snoozed" else "acknowledgement timed out", now)
        current.next_tier_index = max(current.tier_index, 0)  # page the tier that acknowledged again
    return page_next(current, policy, roster, now, rules=rules)


def _acknowledge(current: Incident, cmd: Acknowledge, policy: Policy, now: datetime) -> Decision:
    if current.status != "triggered":
        if cmd.note:  # acknowledging twice is harmless; what the second one says is kept
            current.note(now, "note", **cmd.who(), text=cmd.note)
            return Decision(current, changed=True)
        return Decision(current)
    current.status = "acknowledged"
    current.acknowledged_at = now
    current.acknowledged_by = cmd.by
    stop_paging(current)
    current.note(now, "acknowledged", **cmd.who(), **({"note": cmd.note} if cmd.note else {}))
    timeout = policy.rule(current.severity).ack_timeout
    if timeout is None:
        return Decision(current, changed=True)
    current.next_escalation_at = now + timeout
    return Decision(current, [EscalateAt(incident_id=current.id, round=current.round, at=current.next_escalation_at)],
                    changed=True)


def _resolve(current: Incident, cmd: Resolve, now: datetime) -> Decision:
    if current.status == "resolved":
        return Decision(current)
    current.status = "resolved"
    current.resolved_at = now
    current.resolved_by = cmd.by
    current.held_until, current.hold_reason = None, ""
    stop_paging(current)
    current.note(now, "resolved", **cmd.who(), **({"note": cmd.note} if cmd.note else {}))
    return Decision(current, changed=True)


def _manual(current: Incident, cmd: Command, policy: Policy, roster: Roster, now: datetime,
            hold: Hold | None, rules: Rulebook = NO_RULES) -> Decision:
    if isinstance(cmd, Release):
        if current.held_until is None:
            return Decision(current)
        return start(current, policy, roster, now, hold, rules)  # another window may still hold it
    if isinstance(cmd, Snooze):
        if current.status == "triggered":
            current.status, current.acknowledged_at, current.acknowledged_by = "acknowledged", now, cmd.by
        stop_paging(current)
        current.next_escalation_at = now + timedelta(minutes=cmd.minutes)
        current.note(now, "snoozed", **cmd.who(), minutes=cmd.minutes,
                     until=current.next_escalation_at.isoformat())
        return Decision(current, [EscalateAt(incident_id=current.id, round=current.round,
                                             at=current.next_escalation_at)], changed=True)
    current.held_until, current.hold_reason = None, ""  # a person acting overrides any hold
    stop_paging(current)
    if isinstance(cmd, EscalateNow):
        if current.status == "acknowledged":
            retrigger(current, f"escalated by {cmd.by}", now)
        current.note(now, "escalate_requested", **cmd.who())
        if current.next_tier_index >= len(policy.tiers) and current.repeats >= policy.rule(current.severity).repeat:
            current.next_tier_index = len(policy.tiers) - 1  # nobody above: page the top tier again
        return page_next(current, policy, roster, now, rules=rules)
    if isinstance(cmd, Reassign):
        if current.status == "acknowledged":
            retrigger(current, f"reassigned by {cmd.by}", now)
        current.note(now, "reassigned", **cmd.who(), person=cmd.person, tier=cmd.tier)
        if cmd.person:
            return reassign_person(current, policy, cmd.person, now, rules)
        names = [t.name for t in policy.tiers]
        if cmd.tier not in names:
            raise Invalid(f"tier: policy {policy.name!r} has no tier {cmd.tier!r}", field="tier")
        current.next_tier_index = names.index(cmd.tier)
        return page_next(current, policy, roster, now, rules=rules)
    raise TypeError(f"unknown command {cmd!r}")  # a bug of the caller's, never an input: stays a 500
