"""What Herald says in Slack, as Block Kit: pure builders (data in, blocks out).

* ``incident_message``: an incident's channel message — severity, title, status, its
  alerts, who is being paged (or who acknowledged / resolved it), links, and, while it is
  open, the buttons Acknowledge, Resolve, Escalate and "Page me instead". Rendered from the
  incident as it is now every time, so an updated message never drifts from the state.
* ``page_message``: a page sent to a person's DM (the "slack" paging channel), with the
  same buttons.
* ``thread_line``: the thread reply for a timeline entry that matters (paged, acknowledged
  by, escalated to, resolved), or None for one that does not.

Every value from outside (alert labels, titles, names) is one clean line with Slack's
three control characters (``& < >``) escaped, so no alert can mention ``@channel`` or
forge a link; links are only http(s) URLs.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.notifier import OutboundPage
from routing.incident import Incident, TimelineEntry
from routing.text import clean_text

#: ``action_id`` of each button -> the action it asks for (the interactions webhook reads it back).
ACTIONS = {"herald_ack": "ack", "herald_resolve": "resolve", "herald_escalate": "escalate", "herald_take": "take"}
STATUS_MARK = {"triggered": ":red_circle: Triggered", "acknowledged": ":large_yellow_circle: Acknowledged",
               "resolved": ":white_check_mark: Resolved"}
ALERTS_LISTED = 5
#: Timeline kinds that get a thread reply.
THREAD_KINDS = ("paging", "escalated", "page", "acknowledged", "escalate_requested", "reassigned", "snoozed",
                "retriggered", "resolved")


def escape(text: object, limit: int = 300) -> str:
    """One line of ``text`` for mrkdwn: cleaned, cut to ``limit``, ``& < >`` escaped."""
    return clean_text(text, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, label: str) -> str | None:
    url = clean_text(url, 2000)
    if not url.startswith(("http://", "https://")) or any(c in url for c in "<>| "):
        return None
    return f"<{url}|{escape(label, 80)}>"


def _name(names: Mapping[str, str], person: str | None) -> str:
    return escape(names.get(person or "", person or "someone"), 80)


def paged_now(incident: Incident) -> list[str]:
    """Person ids with a page of the current round that is pending or sent."""
    return list(dict.fromkeys(p.person for p in incident.pages
                              if p.round == incident.round and p.state in ("pending", "sent")))


def buttons(incident_id: str, *, acknowledge: bool = True) -> dict[str, Any]:
    """The actions block; each button's ``value`` is the incident id."""
    elements = []
    for action_id, label, style in (("herald_ack", "Acknowledge", "primary"), ("herald_resolve", "Resolve", None),
                                    ("herald_escalate", "Escalate", "danger"), ("herald_take", "Page me instead", None)):
        if action_id == "herald_ack" and not acknowledge:
            continue
        button: dict[str, Any] = {"type": "button", "action_id": action_id, "value": incident_id,
                                  "text": {"type": "plain_text", "text": label}}
        if style:
            button["style"] = style
        elements.append(button)
    return {"type": "actions", "block_id": f"herald-{incident_id}", "elements": elements}


def incident_message(incident: Incident, names: Mapping[str, str], incident_url: str) -> tuple[str, list[dict]]:
    """(fallback text, blocks) of an incident's channel message, as it is now."""
    title = escape(incident.title, 150)
    drill = "DRILL " if incident.drill else ""
    status = STATUS_MARK.get(incident.status, escape(incident.status, 20))
    text = f"{drill}[{incident.severity}] #{incident.id} {clean_text(incident.title, 150)} ({incident.status})"
    if incident.status == "resolved":
        who = f"Resolved by {_name(names, incident.resolved_by)}" if incident.resolved_by else "Resolved"
    elif incident.status == "acknowledged":
        who = f"Acknowledged by {_name(names, incident.acknowledged_by)}"
    else:
        paged = paged_now(incident)
        who = ("Paging " + ", ".join(_name(names, p) for p in paged)) if paged else "Nobody is being paged yet"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{drill}[{incident.severity}] #{incident.id} {title}*"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Status*\n{status}"},
            {"type": "mrkdwn", "text": f"*Severity*\n{escape(incident.severity, 4)}"},
            {"type": "mrkdwn", "text": f"*Policy*\n{escape(incident.policy, 60)}"},
            {"type": "mrkdwn", "text": f"*Who*\n{who}"}]},
    ]
    firing = [a for a in incident.alerts.values() if a.status == "firing"] or list(incident.alerts.values())
    if firing:
        lines = []
        for alert in firing[:ALERTS_LISTED]:
            label = alert.labels.get("alertname") or alert.fingerprint
            summary = alert.annotations.get("summary") or alert.annotations.get("description") or ""
            where = alert.labels.get("instance") or ""
            line = f"• {escape(label, 80)}" + (f" `{escape(where, 80)}`" if where else "")
            line += f" {escape(summary, 200)}" if summary else ""
            source = _link(alert.generator_url, "source") if alert.generator_url else None
            lines.append(line + (f" ({source})" if source else ""))
        more = len(firing) - len(lines)
        if more:
            lines.append(f"… and {more} more")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Alerts*\n" + "\n".join(lines)}})
    links = [link for link in [_link(incident_url, "Open in Herald")] if link]
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    if incident.is_open:
        blocks.append(buttons(incident.id, acknowledge=incident.status == "triggered"))
    return text, blocks


def page_message(page: OutboundPage) -> tuple[str, list[dict]]:
    """(fallback text, blocks) of a page to a person's DM."""
    drill = "DRILL " if page.drill else ""
    head = f"{drill}[{page.severity}] " + (f"#{page.code} " if page.code else "") + clean_text(page.title, 150)
    text = f"Herald: {head}"
    if page.kind == "notice":
        return text, [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(page.title, 150)}*\n"
                                                    f"{escape(page.summary, 2500)}"}}]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(head, 200)}*"}}]
    summary = clean_text(page.summary, 1000)
    if summary and summary != clean_text(page.title, 150):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": escape(summary, 1000)}})
    links = [link for link in [_link(page.ack_url, "Acknowledge in Herald") if page.ack_url else None,
                               _link(page.generator_url, "source") if page.generator_url else None] if link]
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    if page.code:  # a single incident: its buttons (a bundle links to the console instead)
        blocks.append(buttons(page.code))
    return text, blocks


def thread_line(entry: TimelineEntry, names: Mapping[str, str]) -> str | None:
    """The thread reply for a timeline entry that matters; None for the others."""
    if entry.kind not in THREAD_KINDS:
        return None
    d = entry.details
    by = _name(names, d.get("by")) if d.get("by") else ""
    via = f" via {escape(d.get('via'), 20)}" if d.get("via") else ""
    if entry.kind in ("paging", "escalated"):
        people = ", ".join(_name(names, p) for p in d.get("people") or []) or "nobody"
        verb = "Paging" if entry.kind == "paging" else "Escalated to"
        return f"{verb} {escape(d.get('tier'), 40)}: {people}"
    if entry.kind == "page":
        return f"Paged {_name(names, d.get('person'))} by {escape(d.get('channel'), 20)}"
    if entry.kind == "acknowledged":
        return f"Acknowledged by {by}{via}" if by else "Acknowledged"
    if entry.kind == "escalate_requested":
        return f"Escalation requested by {by}{via}"
    if entry.kind == "reassigned":
        target = _name(names, d.get("person")) if d.get("person") else escape(d.get("tier"), 40)
        return f"Reassigned to {target} by {by}{via}"
    if entry.kind == "snoozed":
        return f"Snoozed {escape(d.get('minutes'), 6)} min by {by}{via}"
    if entry.kind == "retriggered":
        return f"Triggered again: {escape(d.get('reason'), 120)}" if d.get("reason") else "Triggered again"
    return f"Resolved by {by}{via}" if by else "Resolved"
