"""What Herald remembers about Slack, in Redis: who a Slack user is, the Slack user id of
an email, where each incident's message is, and what each on-call user group was set to.

The two user caches spare the interactions webhook a Slack call (it must answer within
Slack's 3 s) and the notifier a lookup per page; they expire, so a person who changes
their Slack email is found again within a day (an unlinked user within a minute).
"""
from __future__ import annotations

from collections.abc import Sequence

import redis

from integrations import keys

USER_TTL_SECONDS = 86400
UNLINKED_TTL_SECONDS = 60  # a Slack user no person matches: asked again after this
MESSAGE_TTL_SECONDS = 400 * 86400  # longer than any retention


class SlackStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    # -- Slack user -> Herald person --------------------------------------------------------
    def person_of(self, user_id: str) -> str | None:
        """The person id cached for a Slack user: "" when no person matches, None when unknown."""
        return self.redis.get(keys.slack_user(user_id))

    def link(self, user_id: str, person: str | None) -> None:
        """Cache who a Slack user is (None: nobody, kept for a minute)."""
        self.redis.set(keys.slack_user(user_id), person or "",
                       ex=USER_TTL_SECONDS if person else UNLINKED_TTL_SECONDS)

    # -- email -> Slack user id --------------------------------------------------------------
    def user_id_of(self, email: str) -> str | None:
        return self.redis.get(keys.slack_email(email)) or None

    def remember_user_id(self, email: str, user_id: str) -> None:
        self.redis.set(keys.slack_email(email), user_id, ex=USER_TTL_SECONDS)

    # -- an incident's message ---------------------------------------------------------------
    def message(self, incident_id: str) -> tuple[str, str] | None:
        """(channel, ts) of the incident's Slack message, if it was posted."""
        data = self.redis.hgetall(keys.slack_message(incident_id))
        return (data["channel"], data["ts"]) if data.get("channel") and data.get("ts") else None

    def remember_message(self, incident_id: str, channel: str, ts: str) -> None:
        key = keys.slack_message(incident_id)
        with self.redis.pipeline() as pipe:
            pipe.hset(key, mapping={"channel": channel, "ts": ts})
            pipe.expire(key, MESSAGE_TTL_SECONDS)
            pipe.execute()

    # -- on-call user groups -----------------------------------------------------------------
    def group_members(self, usergroup: str) -> tuple[str, ...] | None:
        """The person ids the group was last set to (None: never set by Herald)."""
        value = self.redis.get(keys.slack_group(usergroup))
        return None if value is None else tuple(p for p in value.split(",") if p)

    def set_group_members(self, usergroup: str, people: Sequence[str]) -> None:
        self.redis.set(keys.slack_group(usergroup), ",".join(sorted(people)))
