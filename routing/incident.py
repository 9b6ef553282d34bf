"""The incident record and the commands and effects of its state machine.

An incident is one open (receiver, groupKey, policy) alert group. Its ``pages`` list
holds every page the decision function wants sent, written atomically with the state
change that asked for it (and the incident's entry in the due index), and marked once
delivered: a page that is due can never be lost between a decision and its sending.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Status = Literal["triggered", "acknowledged", "resolved"]
PageState = Literal["pending", "sent", "failed", "cancelled"]


class AlertState(BaseModel):
    fingerprint: str
    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime
    ends_at: datetime | None = None
    generator_url: str = ""


class PageIntent(BaseModel):
    """One page to one person on one channel in one escalation round."""

    round: int
    tier: str
    person: str
    channel: str
    at: datetime  # when the page was decided
    state: PageState = "pending"
    attempts: int = 0
    detail: str = ""
    provider_id: str = ""
    fallback_from: str = ""  # the channel whose failure this page replaces
    waited: bool = False  # held by a rate window or waiting for a retry: who is on call is asked again

    @property
    def key(self) -> str:
        return f"{self.round}:{self.person}:{self.channel}"


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    details: dict[str, Any] = Field(default_factory=dict)


class Incident(BaseModel):
    id: str
    receiver: str
    group_key: str
    policy: str
    status: Status = "triggered"
    severity: str
    title: str
    created_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    # Firing alerts (at most ``AlertsReceived.max_alerts``) and the most recently resolved
    # ones (``routing.tracked.KEEP_RESOLVED``), whole; older resolved alerts leave the hot
    # record: ``ended`` keeps what the episode rule needs of them (start, end), bounded too,
    # and the whole alert goes to the incident's alert hash (``Decision.archive``).
    alerts: dict[str, AlertState] = Field(default_factory=dict)
    ended: dict[str, tuple[datetime, datetime | None]] = Field(default_factory=dict)
    untracked_alerts: int = 0  # firing alerts of the group's last notification beyond the cap
    cap_reached_at: datetime | None = None  # when the cap first left alerts untracked
    round: int = 0  # escalation rounds started so far (the first page is round 1)
    tier_index: int = -1  # index of the tier paged last
    next_tier_index: int = 0  # the tier the next escalation pages
    next_escalation_at: datetime | None = None
    repeats: int = 0  # times the whole chain has started over
    held_until: datetime | None = None  # maintenance window or business hours: not paging yet
    hold_reason: str = ""
    drill: bool = False
    pages: list[PageIntent] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    version: int = 0

    @property
    def is_open(self) -> bool:
        return self.status != "resolved"

    def pending_pages(self) -> list[PageIntent]:
        return [p for p in self.pages if p.state == "pending"]

    def note(self, at: datetime, kind: str, **details: Any) -> None:
        self.timeline.append(TimelineEntry(at=at, kind=kind, details=details))

    def due_at(self) -> datetime | None:
        """When this incident next needs a worker, derived from its state alone."""
        if self.status == "resolved":
            return None
        if self.status == "acknowledged":
            return self.next_escalation_at  # an ack timeout or a snooze running out
        pending = [p.at for p in self.pages if p.state == "pending"]
        if self.next_escalation_at is not None:
            pending.append(self.next_escalation_at)
        return min(pending) if pending else None


# -- commands ---------------------------------------------------------------------------


class Hold(BaseModel):
    """Why an incident may not page yet, and until when (computed by the caller)."""

    reason: str
    until: datetime


class AlertsReceived(BaseModel):
    kind: Literal["alerts"] = "alerts"
    drill: bool = False
    new_id: str  # id for the incident this opens, if it opens one
    receiver: str
    group_key: str
    severity: str
    title: str
    alerts: list[AlertState]
    #: Firing alerts an incident tracks at most (``HERALD_MAX_ALERTS_PER_INCIDENT``); the
    #: rest are counted, and the resolved episodes it remembers are bounded by it too.
    max_alerts: int = Field(1000, ge=1)
    #: The group fires alerts this notification does not carry (Alertmanager truncated it:
    #: ``truncatedAlerts`` > 0 with status ``firing``): not a resolve, whatever it lists.
    more_firing: bool = False
    #: Who sent the alerts, for the timeline: Alertmanager, or an integration (``by``: its
    #: name, ``via``: its kind, see ``routing.integration``).
    by: str = "alertmanager"
    via: str = "alertmanager"


class Escalate(BaseModel):
    kind: Literal["escalate"] = "escalate"
    round: int  # the round this timer was set for; a stale timer does nothing


class Actor(BaseModel):
    """Who acts on an incident: ``by`` (a person id, or an API token's name), ``via`` (the
    channel: sms, voice, link, api, web …) and ``token``: the API token's name when the
    call named the person ``by`` it was done for (empty otherwise)."""

    by: str
    via: str
    token: str = ""

    def who(self) -> dict[str, str]:
        """The actor as timeline details: ``by``, ``via`` and, when set, ``token``."""
        return {"by": self.by, "via": self.via, **({"token": self.token} if self.token else {})}


class EscalateNow(Actor):
    """A person asks for the next tier now."""

    kind: Literal["escalate_now"] = "escalate_now"


class Reassign(Actor):
    """Page one person, or one tier of the policy, now."""

    kind: Literal["reassign"] = "reassign"
    person: str | None = None
    tier: str | None = None


class Snooze(Actor):
    """Quiet for ``minutes``, then page again."""

    kind: Literal["snooze"] = "snooze"
    minutes: int = Field(ge=1, le=24 * 60)


class AddNote(Actor):
    kind: Literal["note"] = "note"
    text: str = Field(min_length=1, max_length=2000)


class Release(BaseModel):
    """A hold ended early (a maintenance window closed): page now if still firing."""

    kind: Literal["release"] = "release"
    reason: str


class Reroute(BaseModel):
    """Pages that waited (a rate window, a retry) are about to go out: each goes to whoever
    is on call for its tier now; a person who went off call meanwhile is not paged."""

    kind: Literal["reroute"] = "reroute"
    pages: list[tuple[int, str, str]] = Field(default_factory=list)  # (round, person, channel) about to be sent


class Acknowledge(Actor):
    """``note``: kept on the timeline with the acknowledgement."""

    kind: Literal["ack"] = "ack"
    note: str = Field("", max_length=2000)


class Resolve(Actor):
    """``note``: kept on the timeline with the resolution."""

    kind: Literal["resolve"] = "resolve"
    note: str = Field("", max_length=2000)


class PageOutcome(BaseModel):
    """What happened when the pipeline tried one page. ``retry`` and ``deferred`` (a
    rate limit) keep it pending until ``until``."""

    kind: Literal["page_outcome"] = "page_outcome"
    round: int
    person: str
    channel: str
    outcome: Literal["sent", "retry", "failed", "deferred"]
    detail: str = ""
    provider_id: str = ""
    until: datetime | None = None
    bundled: int = 1  # how many incidents the message carried


class PageOutcomes(BaseModel):
    """The outcomes of every page of one incident that one delivery tried, recorded in
    one write: each folded in order, as ``PageOutcome`` one after another would be."""

    kind: Literal["page_outcomes"] = "page_outcomes"
    outcomes: list[PageOutcome] = Field(default_factory=list)


class DeliveryFailed(BaseModel):
    """The provider reported later that a sent page never arrived (undelivered SMS,
    unanswered or machine-answered call, bounced email)."""

    kind: Literal["delivery_failed"] = "delivery_failed"
    round: int
    person: str
    channel: str
    detail: str = ""


Command = (AlertsReceived | Escalate | Acknowledge | Resolve | PageOutcome | PageOutcomes | DeliveryFailed
           | EscalateNow | Reassign | Snooze | AddNote | Release | Reroute)


# -- effects ----------------------------------------------------------------------------


class DeliverPages(BaseModel):
    """Send the incident's pending pages now."""

    incident_id: str


class EscalateAt(BaseModel):
    """Run ``Escalate(round)`` at ``at`` (an RQ timer; the sweep backs it up)."""

    incident_id: str
    round: int
    at: datetime


class DeliverAt(BaseModel):
    """Try the incident's pending pages again at ``at`` (retry backoff, rate limit)."""

    incident_id: str
    at: datetime


Effect = DeliverPages | EscalateAt | DeliverAt
