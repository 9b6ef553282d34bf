"""Slack's button clicks and ``/herald`` commands -> the same commands every other path uses.

A Slack user acts as the Herald person whose email is their Slack profile's email (asked
of Slack once, ``users.info``, then cached in Redis through ``SlackStore``); an unlinked
user is told how to link, and nothing changes. Acting follows the SMS rule
(``service.engine.replies``, ``routing.responders``): only people paged for the incident,
on call for its policy or named as its responders. "Page me instead" is ``Reassign`` to the
person who clicked: Herald pages them now, with the current tier's channels.

Grammar of the slash command (``/herald <text>``)::

    oncall [schedule]     who is on call now (every schedule, or one)
    ack N | resolve N     acknowledge / resolve incident N
    escalate N            page the next tier now
    help (or anything else)
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from integrations.slack_client import SlackFailure
from integrations.slack_text import ACTIONS
from routing.errors import Conflict, Invalid
from routing.incident import Reassign
from routing.reply_grammar import normalise
from routing.text import clean_text
from schedules.model import Person
from service.engine import people
from service.engine.replies import _apply, _involvement
from service.engine.runtime import Herald
from service.telemetry import metrics

log = logging.getLogger("herald.slack")
VIA = "slack"
HELP = ("Herald: /herald oncall [schedule] shows who is on call; /herald ack N, /herald resolve N and "
        "/herald escalate N act on incident N.")


@dataclass(frozen=True, slots=True)
class Who:
    """The Herald person a Slack user is (``person`` None: unlinked; ``error``: Slack did not say)."""

    person: Person | None
    error: str = ""


def unlinked_text(herald: Herald) -> str:
    return ("Herald does not know you: your Slack account's email must be the email Herald has for you "
            f"(people in {herald.config.path.name}). Ask an admin to add it there, then try again in a minute.")


def person_for(herald: Herald, user_id: str) -> Who:
    """Who Slack user ``user_id`` is in Herald: from the cache, else from their Slack profile's
    email (one ``users.info`` call, cached for a day; an unlinked user for a minute)."""
    cached = herald.slack.person_of(user_id)
    if cached is not None:
        return Who(herald.config.people.get(cached) if cached else None)
    if herald.slack_api is None:
        return Who(None, "Slack is not configured")
    try:
        email = herald.slack_api.user_email(user_id, quick=True)
    except SlackFailure as failure:
        log.warning("slack users.info for %s failed: %s", clean_text(user_id, 32), failure.detail)
        return Who(None, "could not ask Slack who you are just now; try again")
    match = next((p for p in people.directory(herald).values()  # their paged (verified) email
                  if email and p.email and p.email.casefold() == email.casefold()), None)
    herald.slack.link(user_id, match.id if match else None)
    return Who(match)


def act(herald: Herald, person: Person, action: str, incident_id: str) -> str:
    """One button's action on one incident, as ``person``; the line to show them."""
    if action in ("ack", "resolve", "escalate"):
        return "; ".join(_apply(herald, [incident_id], action, person.id, VIA))
    if action != "take":
        raise Invalid(f"actions.0.action_id: unknown action {action!r}", field="actions")
    incident = herald.store.get(incident_id)
    if incident is None:
        return f"#{incident_id} not found"
    if not _involvement(herald, incident, person.id).allowed:
        metrics.REPLIES_REFUSED.labels(channel=VIA).inc()
        return f"you were not paged for #{incident_id}"
    if not incident.is_open:
        return f"#{incident_id} already resolved"
    try:
        herald.act(incident_id, Reassign(by=person.id, via=VIA, person=person.id))
    except Conflict:
        return f"#{incident_id} not changed: its policy is no longer configured"
    return f"#{incident_id} is yours: Herald pages you now"


def oncall_text(herald: Herald, schedule: str | None) -> str:
    """"primary L1: Alice Adams (until …)" for every tier of every schedule, or of one."""
    names = [schedule] if schedule else list(herald.config.schedules)
    if schedule and schedule not in herald.config.schedules:
        return f"Herald: no schedule named {clean_text(schedule, 40)!r}; schedules: " + ", ".join(herald.config.schedules)
    now = herald.clock()
    lines = []
    for name in names:
        rotation = herald.calendars.rotation(name)
        tiers = sorted({*herald.calendars.tiers(name), *(rotation.tiers() if rotation else ())})
        for tier in tiers:
            shifts = rotation.oncall(tier, now) if rotation else ()
            people = ", ".join(
                f"{herald.config.people[s.person].name if s.person in herald.config.people else s.person}"
                f" (until {s.end.strftime('%a %H:%M UTC')})" for s in shifts)
            lines.append(f"{name} {tier}: {people or 'nobody'}")
    return "Herald: on call now\n" + ("\n".join(lines) if lines else "no schedules")


def command(herald: Herald, user_id: str, text: str) -> str:
    """The answer to ``/herald <text>`` from Slack user ``user_id`` (shown only to them)."""
    words = normalise(text).split()
    if words and words[0] == "oncall" and len(words) <= 2:
        return oncall_text(herald, words[1] if len(words) == 2 else None)
    actions = {"ack": "ack", "acknowledge": "ack", "resolve": "resolve", "escalate": "escalate", "esc": "escalate"}
    if len(words) != 2 or words[0] not in actions:
        return HELP
    code = words[1].lstrip("#")
    if not code or len(code) > 16 or not all(c.isalnum() or c == "-" for c in code):
        return HELP
    who = person_for(herald, user_id)
    if who.error:
        return f"Herald: {who.error}."
    if who.person is None:
        return unlinked_text(herald)
    return "Herald: " + "; ".join(_apply(herald, [code], actions[words[0]], who.person.id, VIA))


def interaction(herald: Herald, payload: dict[str, Any]) -> str:
    """The answer to a ``block_actions`` payload (a button click): what was done, for the clicker."""
    user_id = str((payload.get("user") or {}).get("id") or "")
    clicked = (payload.get("actions") or [{}])[0]
    action = ACTIONS.get(str(clicked.get("action_id") or ""))
    incident_id = clean_text(clicked.get("value"), 16)
    if not user_id or action is None or not incident_id:
        raise Invalid("payload: a block_actions payload with a user and one of Herald's buttons is needed",
                      field="payload")
    who = person_for(herald, user_id)
    if who.error:
        return f"Herald: {who.error}."
    if who.person is None:
        return unlinked_text(herald)
    return "Herald: " + act(herald, who.person, action, incident_id)
