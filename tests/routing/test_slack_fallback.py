"""The fallback order with Slack DMs as a paging channel: between voice and email, only
when the configuration makes Slack a paging channel (``Policy.fallback``)."""
from __future__ import annotations

from datetime import datetime, timezone

from routing.incident import Incident, PageIntent
from routing.page_outcomes import next_channel
from routing.policy import FALLBACK_ORDER, FALLBACK_WITH_SLACK

NOW = datetime.now(timezone.utc)


def _incident(*tried: str) -> Incident:
    return Incident(id="1", receiver="r", group_key="g", policy="p", severity="P1", title="t", created_at=NOW,
                    round=1, pages=[PageIntent(round=1, tier="L1", person="alice", channel=c, at=NOW) for c in tried])


def test_slack_comes_after_voice_and_before_email_when_configured():
    incident = _incident("sms", "voice")
    assert next_channel(incident, incident.pages[1], FALLBACK_WITH_SLACK) == "slack"
    tried = _incident("sms", "voice", "slack")
    assert next_channel(tried, tried.pages[2], FALLBACK_WITH_SLACK) == "email"


def test_without_slack_the_order_skips_it_and_a_failed_slack_page_wraps_around():
    incident = _incident("sms", "voice")
    assert next_channel(incident, incident.pages[1], FALLBACK_ORDER) == "email"
    only_slack = _incident("slack")
    assert next_channel(only_slack, only_slack.pages[0], FALLBACK_WITH_SLACK) == "email"


def test_a_channel_outside_the_order_has_no_fallback():
    incident = _incident("slack")
    assert next_channel(incident, incident.pages[0], FALLBACK_ORDER) is None
