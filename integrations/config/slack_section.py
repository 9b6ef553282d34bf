"""The ``slack:`` section of the configuration file: where incidents are posted, the
on-call user groups, and whether a person's Slack DM is a paging channel.

```yaml
slack:
  channel: "#incidents"            # every incident's channel, unless its policy has one
  policies: {database: "#db-oncall"}
  dm_paging: true                  # "slack" may appear in a tier's channels (and in the fallback)
  user_groups:
    - {schedule: primary, tier: L1, usergroup: S0123ABCD, channel: "#team"}
```

A channel is a Slack channel id (``C0123ABCD``) or a ``#name``. Checked here; the cross
references (a policy, a schedule that exists) in ``integrations.config.model`` so that an
error names the field, e.g. ``herald.yaml: slack.policies.dbs: no policy named 'dbs'``.
"""
from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: A Slack channel: its id (C…, G…, D…) or #name (lower case, digits, - and _).
CHANNEL = r"^(?:[CGD][A-Z0-9]{2,30}|#[a-z0-9][a-z0-9_.-]{0,79})$"
#: A user group's id (S…).
USERGROUP = r"^S[A-Z0-9]{2,30}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserGroupSpec(_Strict):
    """A Slack user group kept equal to whoever is on call for one tier of one schedule."""

    schedule: str = Field(min_length=1)
    tier: str | None = Field(None, min_length=1)  # default: the schedule's default_tier
    usergroup: str = Field(pattern=USERGROUP)
    channel: str | None = Field(None, pattern=CHANNEL)  # where each change is announced (default: slack.channel)


class SlackSpec(_Strict):
    channel: str | None = Field(None, pattern=CHANNEL)
    policies: dict[str, str] = Field(default_factory=dict)  # policy name -> channel
    dm_paging: bool = False
    user_groups: list[UserGroupSpec] = Field(default_factory=list)

    @field_validator("policies")
    @classmethod
    def _channels(cls, value: dict[str, str]) -> dict[str, str]:
        for policy, channel in value.items():
            if not re.match(CHANNEL, channel or ""):
                raise ValueError(f"{policy}: {channel!r} is not a Slack channel id (C0123ABCD) or #name")
        return value

    def channel_for(self, policy: str) -> str | None:
        """The channel an incident of ``policy`` is posted to (None: not posted)."""
        return self.policies.get(policy) or self.channel

