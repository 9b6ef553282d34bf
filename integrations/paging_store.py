"""Redis state of the delivery pipeline that lives beside incidents: each person's
pending pages, rate-limit windows, what each provider message carried (so replies,
keypresses and delivery reports find their incidents), SMS opt-outs, and the inbound
provider events already handled (each acts at most once)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis

from integrations import keys

PROVIDER_TTL_SECONDS = 7 * 86400
#: How long an inbound provider event (an SMS reply, a keypress, a delivery report) is
#: remembered so that a replay of it is ignored: as long as the message records its
#: replies and keypresses refer to (at least the 24 hours the guarantee asks for).
INBOUND_EVENT_TTL_SECONDS = PROVIDER_TTL_SECONDS


@dataclass(frozen=True)
class SentMessage:
    provider_id: str
    person: str
    channel: str
    pages: tuple[tuple[str, int], ...]  # (incident id, round)


#: Take a rate window that only a past message holds (its value "1"); a live sender's
#: lease ("claimed:<holder>") is left alone.
_TAKE_UNLESS_CLAIMED = """
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, 8) == 'claimed:' then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


class PagingStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._take_unless_claimed = client.register_script(_TAKE_UNLESS_CLAIMED)

    def pending_for(self, person: str, channel: str, until: float, limit: int = 50) -> list[tuple[str, int]]:
        """This person's pending pages on this channel that are due by ``until``, oldest first."""
        members = self.redis.zrangebyscore(keys.pending(person, channel), "-inf", until, start=0, num=limit)
        out = []
        for member in members:
            incident_id, _, round_ = member.rpartition(":")
            out.append((incident_id, int(round_)))
        return out

    def take_rate_window(self, person: str, channel: str, window_seconds: float, value: str = "1",
                       force: bool = False) -> float:
        """Take the person's window on this channel; 0 if taken now, else seconds until it
        frees. ``force``: take it even when a previous message's window holds it (not while
        another sender holds it as its lease, whose message goes first)."""
        if window_seconds <= 0:
            return 0.0
        key = keys.rate(person, channel)
        px = max(1, int(window_seconds * 1000))
        if self.redis.set(key, value, nx=True, px=px):
            return 0.0
        if force and self._take_unless_claimed(keys=[key], args=[value, px]):
            return 0.0
        left = self.redis.pttl(key)
        return max(left, 1) / 1000.0 if left and left > 0 else 0.001

    def windows_running(self, people: list[str], channels: list[str], now: datetime) -> dict[tuple[str, str], datetime]:
        """The rate windows running at ``now`` for these people on these channels, and when each ends."""
        pairs = [(person, channel) for person in people for channel in channels]
        if not pairs:
            return {}
        with self.redis.pipeline(transaction=False) as pipe:
            for person, channel in pairs:
                pipe.pttl(keys.rate(person, channel))
            left = pipe.execute()
        return {pair: now + timedelta(milliseconds=ms) for pair, ms in zip(pairs, left) if ms and ms > 0}

    def hold_rate_window(self, person: str, channel: str, window_seconds: float) -> None:
        """After a send: the window runs its full length from now."""
        if window_seconds > 0:
            self.redis.set(keys.rate(person, channel), "1", px=max(1, int(window_seconds * 1000)))

    def give_back_rate_window(self, person: str, channel: str) -> None:
        self.redis.delete(keys.rate(person, channel))

    def record_message(self, message: SentMessage, address: str) -> None:
        data = json.dumps({"person": message.person, "channel": message.channel,
                           "pages": [list(p) for p in message.pages]})
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.provider_message(message.provider_id), data, ex=PROVIDER_TTL_SECONDS)
            if address and message.channel in ("sms", "voice"):
                pipe.set(keys.last_message(address), message.provider_id, ex=PROVIDER_TTL_SECONDS)
            pipe.execute()

    def message(self, provider_id: str) -> SentMessage | None:
        if not provider_id or len(provider_id) > 128:
            return None
        raw = self.redis.get(keys.provider_message(provider_id))
        if not raw:
            return None
        data = json.loads(raw)
        return SentMessage(provider_id, data["person"], data["channel"],
                           tuple((str(i), int(r)) for i, r in data["pages"]))

    def last_message_to(self, address: str) -> SentMessage | None:
        provider_id = self.redis.get(keys.last_message(address))
        return self.message(provider_id) if provider_id else None

    def claim_event(self, kind: str, event_id: str, ttl_seconds: int = INBOUND_EVENT_TTL_SECONDS) -> bool:
        """True for the first delivery of an inbound provider event, False for any later
        one (a replay, or a provider's retry): one atomic SET NX EX."""
        return bool(self.redis.set(keys.inbound_event(kind, event_id), "1", nx=True, ex=ttl_seconds))

    def release_event(self, kind: str, event_id: str) -> None:
        """Forget a claim whose handling failed, so that the provider's retry acts."""
        self.redis.delete(keys.inbound_event(kind, event_id))

    def set_opted_out(self, address: str, opted_out: bool) -> None:
        if opted_out:
            self.redis.set(keys.opted_out(address), "1")
        else:
            self.redis.delete(keys.opted_out(address))

    def is_opted_out(self, address: str) -> bool:
        return bool(self.redis.exists(keys.opted_out(address)))
