"""Personal notification rules in Redis: one hash (person id -> JSON), read whole.

Every write bumps ``keys.PEOPLE_VERSION`` (the people store's version, which its own
writes of contacts and rules bump too) in the same transaction, the way the maintenance
windows do, so the webhook's one read (``READ_GROUP`` returns the version) tells a
process whether its cached rules are still current: following personal rules costs the
webhook no extra round trip until someone changes their rules or contacts.

The people store (``integrations/people_store.py``) holds contact details; the rules are
read and written here, validated by ``routing.personal_rules.PersonalRules``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import redis

from integrations import keys
from routing.personal_rules import PersonalRules

# The version and every person's rules, in one atomic read. KEYS: version, rules hash.
READ_RULES = """
local out = {redis.call('GET', KEYS[1]) or ''}
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all do out[#out + 1] = all[i] end
return out
"""


class RulesStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._cached: tuple[str, dict[str, PersonalRules]] | None = None

    # -- reads ----------------------------------------------------------------------------
    def get(self, person: str) -> PersonalRules | None:
        """The person's rules; None: they have none (the policy's channels)."""
        raw = self.redis.hget(keys.PEOPLE_RULES, person)
        return PersonalRules.model_validate_json(raw) if raw else None

    def all(self) -> dict[str, PersonalRules]:
        """Everyone's rules (and the cache brought to the version read)."""
        return self.adopt(self.redis.eval(READ_RULES, 2, *self.read_call()[1]))

    def read_call(self) -> tuple[str, list[str], list[str]]:
        """The script call that reads every rule (for a caller doing its own I/O, as the
        webhook's flow does); give its reply to ``adopt``."""
        return READ_RULES, [keys.PEOPLE_VERSION, keys.PEOPLE_RULES], []

    def adopt(self, reply: list[str]) -> dict[str, PersonalRules]:
        """The rules a ``read_call`` reply holds, cached under its version. A stored value
        that no longer validates (written by another version) counts as no rules."""
        found: dict[str, PersonalRules] = {}
        for person, raw in zip(reply[1::2], reply[2::2], strict=True):
            try:
                found[person] = PersonalRules.model_validate_json(raw)
            except ValueError:
                continue
        self._cached = (reply[0] or "", found)
        return dict(found)

    def cached_at(self, version: str) -> dict[str, PersonalRules] | None:
        """The cached rules if they are ``version``'s, else None (no I/O)."""
        cached = self._cached
        return dict(cached[1]) if cached is not None and cached[0] == version else None

    def of(self, people: Iterable[str]) -> dict[str, PersonalRules]:
        """The rules of ``people`` (those who have any), as of now: the cache when its
        version is current (one GET), else a fresh read of all."""
        version = self.redis.get(keys.PEOPLE_VERSION) or ""
        every = self.cached_at(version)
        if every is None:
            every = self.all()
        return {p: every[p] for p in people if p in every}

    # -- writes ---------------------------------------------------------------------------
    def set(self, person: str, rules: PersonalRules) -> None:
        """Replace the person's rules; rules with no step at all remove them."""
        with self.redis.pipeline() as pipe:  # MULTI: the rules and the version move together
            if rules.empty:
                pipe.hdel(keys.PEOPLE_RULES, person)
            else:
                pipe.hset(keys.PEOPLE_RULES, person, rules.model_dump_json())
            pipe.incr(keys.PEOPLE_VERSION)
            pipe.execute()

    def replace(self, rules: Mapping[str, PersonalRules | None]) -> None:
        """The rules of the people named, at once (an import): None or empty rules remove
        a person's; people not named keep theirs."""
        with self.redis.pipeline() as pipe:  # MULTI
            for person, value in rules.items():
                if value is None or value.empty:
                    pipe.hdel(keys.PEOPLE_RULES, person)
                else:
                    pipe.hset(keys.PEOPLE_RULES, person, value.model_dump_json())
            pipe.incr(keys.PEOPLE_VERSION)
            pipe.execute()
