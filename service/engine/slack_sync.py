"""The Slack message of every incident, kept in step with it: a follower sink named "slack"
(``integrations.followers``: every incident change hands the sink the new timeline entries,
in order, at least once, from a worker, never in a page's path).

* The first entry the sink sees of an incident posts the incident to its channel
  (``slack.policies.<policy>`` or ``slack.channel``; none: not posted) and keeps the
  message's channel and ts in Redis (``SlackStore``).
* Each entry that matters (paged, acknowledged by, escalated to, resolved: see
  ``integrations.slack_text.THREAD_KINDS``) adds a reply in the message's thread.
* The last entry of a run updates the message (``chat.update``) from the incident as it is
  now — rendered whole every time, so the message never drifts from the state, whichever
  path (SMS, voice, link, console, API, Alertmanager, Slack itself) changed it. A message
  someone deleted is posted again.

A Slack failure that may pass (429, 5xx, a timeout) answers "not done": the mechanism hands
the same entry again after its backoff, and the entries after it wait (order holds). A
permanent one (a channel that does not exist, a revoked token) is logged and the entry is
given up, so one bad channel does not stall the incident's later changes. Nothing here
touches an incident or a page: Slack being down never blocks or delays paging.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from integrations.followers import DONE, Step
from integrations.slack_client import SlackFailure
from integrations.slack_text import incident_message, thread_line
from routing.incident import Incident, TimelineEntry

log = logging.getLogger("herald.slack")
SINK = "slack"
#: What Slack answers about a message someone deleted.
GONE = ("slack: message_not_found", "slack: thread_not_found")


class SlackSink:
    """Follows every incident into its Slack channel (see the module)."""

    name = SINK

    def __init__(self, herald: Any) -> None:
        # The running Herald (service.engine.runtime, which registers this sink: not imported back).
        self.herald = herald

    def _names(self) -> dict[str, str]:
        return {pid: person.name for pid, person in self.herald.config.people.items()}

    def _url(self, incident: Incident) -> str:
        return f"{self.herald.settings.public_url.rstrip('/')}/ui/incidents/{incident.id}"

    def _post(self, incident: Incident, channel: str, names: dict[str, str]) -> tuple[str, str]:
        """Post the incident as it is now and remember where: (channel id, ts)."""
        text, blocks = incident_message(incident, names, self._url(incident))
        message = self.herald.slack_api.post(channel, text, blocks)
        self.herald.slack.remember_message(incident.id, message.channel, message.ts)
        return message.channel, message.ts

    def handle(self, incident: Incident, index: int, entry: TimelineEntry, now: datetime) -> Step:
        herald, slack = self.herald, self.herald.config.slack
        api = herald.slack_api
        channel = slack.channel_for(incident.policy) if slack is not None else None
        if api is None or channel is None:
            return DONE
        names = self._names()
        try:
            posted = herald.slack.message(incident.id)
            fresh = posted is None
            if posted is None:
                posted = self._post(incident, channel, names)
            line = thread_line(entry, names)
            if line:
                try:
                    api.post(posted[0], line, thread_ts=posted[1])
                except SlackFailure as failure:
                    if failure.detail not in GONE:
                        raise
                    posted, fresh = self._post(incident, channel, names), True  # deleted: post it again
                    api.post(posted[0], line, thread_ts=posted[1])
            if not fresh and index == len(incident.timeline) - 1:
                text, blocks = incident_message(incident, names, self._url(incident))
                try:
                    api.update(posted[0], posted[1], text, blocks)
                except SlackFailure as failure:
                    if failure.detail not in GONE:
                        raise
                    self._post(incident, channel, names)  # deleted: post it again, as it is now
        except SlackFailure as failure:
            if failure.retry:
                log.warning("slack: incident %s entry %d not synced yet (%s): retried", incident.id, index,
                            failure.detail)
                return Step(False)
            log.error("slack: incident %s entry %d given up: %s", incident.id, index, failure.detail)
            return DONE
        return DONE


def follow_slack(herald: Any) -> None:
    """Register the Slack sink when Slack is configured and some incidents have a channel."""
    slack = herald.config.slack
    if herald.slack_api is not None and slack is not None and (slack.channel or slack.policies):
        herald.add_follower(SlackSink(herald))
