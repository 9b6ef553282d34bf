"""On-call user groups in Slack: for each ``slack.user_groups`` entry, the Slack user group
whose members are whoever is on call for that schedule and tier (handoffs included), set with
``usergroups.users.update`` when that changes, and a line in the group's channel saying so.

A periodic task of the due index (service/worker/due.py, "slack-groups"): each pass computes
who is on call now per (schedule, tier), compares it with the set Herald last gave the group
(kept in Redis, ``SlackStore``) and calls Slack only on a change. The next pass comes at the
next shift change (or after ``HERALD_SWEEP_INTERVAL``, whichever is first). A failed Slack call
leaves the stored set as it was, so the next pass tries again.
"""
from __future__ import annotations

import logging
from datetime import datetime

from integrations.slack_client import SlackFailure
from integrations.slack_text import escape
from service.engine.people import directory
from service.engine.runtime import Herald

log = logging.getLogger("herald.slack")


def slack_user_id(herald: Herald, email: str) -> str | None:
    """The Slack user id of an email (``users.lookupByEmail``, cached in Redis)."""
    cached = herald.slack.user_id_of(email)
    if cached or herald.slack_api is None:
        return cached
    found = herald.slack_api.user_id_by_email(email)
    if found:
        herald.slack.remember_user_id(email, found)
    return found


def announcement(schedule: str, tier: str, names: list[tuple[str, str | None]]) -> str:
    """"On call for primary L1 is now Alice Adams (<@U1>)", or that nobody is."""
    if not names:
        return f"Nobody is on call for {escape(schedule, 60)} {escape(tier, 40)} now."
    who = ", ".join(f"{escape(name, 80)}" + (f" (<@{uid}>)" if uid else "") for name, uid in names)
    return f"On call for {escape(schedule, 60)} {escape(tier, 40)} is now {who}."


def sync_groups(herald: Herald, now: datetime) -> tuple[int, float]:
    """Bring every configured user group up to date; (groups changed, seconds until the next pass)."""
    wait = herald.settings.sweep_interval
    slack = herald.config.slack
    if slack is None or not slack.user_groups or herald.slack_api is None:
        return 0, wait
    changed = 0
    for group in slack.user_groups:
        spec = herald.config.schedules[group.schedule]
        tier = group.tier or spec.default_tier
        rotation = herald.calendars.rotation(group.schedule)
        if rotation is None:  # the calendar has not loaded: nothing to say yet
            continue
        people = sorted({shift.person for shift in rotation.oncall(tier, now)})
        following = rotation.next_change(tier, now)
        if following is not None:
            wait = min(wait, max((following - now).total_seconds(), 0.0) + 0.01)
        if herald.slack.group_members(group.usergroup) == tuple(people):
            continue
        try:
            names = []
            contacts = directory(herald)  # their paged (verified) email finds them in Slack
            for pid in people:
                person = contacts.get(pid)
                uid = slack_user_id(herald, person.email) if person is not None and person.email else None
                names.append((person.name if person is not None else pid, uid))
            users = [uid for _, uid in names if uid]
            if users:  # Slack keeps a group's members when nobody is on call (a group cannot be emptied)
                herald.slack_api.set_usergroup(group.usergroup, users)
            channel = group.channel or slack.channel
            if channel:
                herald.slack_api.post(channel, announcement(group.schedule, tier, names))
        except SlackFailure as failure:
            log.warning("slack user group %s for %s %s not updated: %s", group.usergroup, group.schedule, tier,
                        failure.detail)
            continue
        herald.slack.set_group_members(group.usergroup, people)
        log.info("slack user group %s: on call for %s %s is now %s", group.usergroup, group.schedule, tier,
                 ", ".join(people) or "nobody")
        changed += 1
    return changed, wait
