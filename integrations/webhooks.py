"""Outgoing webhooks: a follower (``integrations.followers``) per configured endpoint, and
the bounded delivery log in Redis.

Each timeline entry that is an event the endpoint asked for (``routing.webhook_events``)
is POSTed as JSON, signed per the Standard Webhooks specification with the
``standardwebhooks`` package (headers ``webhook-id``: the event id, the same on every
attempt; ``webhook-timestamp``; ``webhook-signature``), with the endpoint's timeout. A 2xx
answer delivers it; anything else (another status, a timeout, a refused connection) is
retried with exponential backoff (``BACKOFF_FIRST`` doubling, at most ``BACKOFF_MAX``) until
``GIVE_UP_AFTER`` from the first attempt, then recorded as given up, and the events after
it flow. The follower mechanism keeps them in order per incident per endpoint: an event
waits until the one before it was delivered or given up.

The delivery log keeps the newest ``LOG_KEEP`` records per endpoint: event id, type,
incident (or handoff), attempts, last status code or error, next attempt, state
(``pending`` before the first answer, ``failed`` while retrying, ``delivered``, ``gave_up``).
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from math import floor
from typing import Any, Literal

import httpx
import redis
from standardwebhooks import Webhook

from integrations import keys
from integrations.config.webhooks import WebhookEndpoint
from integrations.followers import DONE, Step
from routing.incident import Incident, TimelineEntry
from routing.webhook_events import body, handoff_event, incident_event

log = logging.getLogger("herald.webhooks")

BACKOFF_FIRST = timedelta(seconds=5)
BACKOFF_MAX = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(hours=24)
LOG_KEEP = 1000
USER_AGENT = "Herald-Webhooks/1"

State = Literal["pending", "failed", "delivered", "gave_up"]
STATES: tuple[str, ...] = ("pending", "failed", "delivered", "gave_up")


@dataclass
class Delivery:
    """One event's delivery to one endpoint, as the log keeps it."""
    id: str
    endpoint: str
    type: str
    incident: str | None
    handoff: str | None
    first_attempt: str  # ISO time of the first attempt: the day of retries runs from here
    state: str = "pending"
    attempts: int = 0
    last_status: int | None = None
    last_error: str = ""
    last_attempt: str | None = None
    next_attempt: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> "Delivery":
        return cls(**json.loads(raw))


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 5 s, 10 s, 20 s … at most an hour."""
    return min(BACKOFF_FIRST * (2 ** min(max(attempts - 1, 0), 20)), BACKOFF_MAX)


# KEYS: 1 deliveries hash, 2 log zset. ARGV: 1 event id, 2 record JSON, 3 first attempt (epoch s),
# 4 how many records to keep. The oldest records beyond that are dropped.
_PUT = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[1])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if extra > 0 then
  local old = redis.call('ZRANGE', KEYS[2], 0, extra - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1)
  redis.call('HDEL', KEYS[1], unpack(old))
end
return 1
"""


class WebhookLog:
    """The delivery log of every endpoint."""

    def __init__(self, client: redis.Redis, keep: int = LOG_KEEP) -> None:
        self.redis = client
        self.keep = keep
        self._put = client.register_script(_PUT)

    def get(self, endpoint: str, event_id: str) -> Delivery | None:
        raw = self.redis.hget(keys.webhook_deliveries(endpoint), event_id)
        return Delivery.from_json(raw) if raw else None

    def put(self, record: Delivery) -> None:
        first = datetime.fromisoformat(record.first_attempt).timestamp()
        self._put(keys=[keys.webhook_deliveries(record.endpoint), keys.webhook_log(record.endpoint)],
                  args=[record.id, record.to_json(), repr(first), self.keep])

    def recent(self, endpoints: list[str], state: str | None = None, limit: int = 100) -> list[Delivery]:
        """The newest records (by first attempt, newest first) of ``endpoints``, of ``state`` if given."""
        found: list[tuple[float, Delivery]] = []
        for endpoint in endpoints:
            ids = self.redis.zrevrange(keys.webhook_log(endpoint), 0, self.keep - 1, withscores=True)
            if not ids:
                continue
            raws = self.redis.hmget(keys.webhook_deliveries(endpoint), [i for i, _ in ids])
            for (_, score), raw in zip(ids, raws):
                if raw:
                    record = Delivery.from_json(raw)
                    if state is None or record.state == state:
                        found.append((score, record))
        found.sort(key=lambda pair: pair[0], reverse=True)
        return [record for _, record in found[:limit]]


def _iso(value: datetime) -> str:
    return value.isoformat()


class WebhookSink:
    """The follower of one endpoint: incidents' events and handoffs."""

    def __init__(self, endpoint: WebhookEndpoint, deliveries: WebhookLog, public_url: str,
                 client: httpx.Client | None = None) -> None:
        self.name = endpoint.sink
        self.endpoint = endpoint
        self.deliveries = deliveries
        self.public_url = public_url
        self._signer = Webhook(endpoint.secret)
        self._http = client or httpx.Client(timeout=endpoint.timeout, follow_redirects=False,
                                            headers={"user-agent": USER_AGENT})

    # -- the follower's side ------------------------------------------------------------------
    def handle(self, incident: Incident, index: int, entry: TimelineEntry, now: datetime) -> Step:
        event = incident_event(incident, index, self.public_url)
        if event is None or event["type"] not in self.endpoint.events:
            return DONE
        return self.deliver(event, now, incident=incident.id)

    def handle_handoff(self, handoff: dict[str, Any], now: datetime) -> Step:
        if "handoff.created" not in self.endpoint.events:
            return DONE
        created = handoff.get("created_at")
        event = handoff_event(handoff, datetime.fromisoformat(created) if created else now)
        return self.deliver(event, now, handoff=str(handoff["id"]))

    # -- one attempt ---------------------------------------------------------------------------
    def deliver(self, event: dict[str, Any], now: datetime, *, incident: str | None = None,
                handoff: str | None = None) -> Step:
        """Try ``event`` once (unless the log says it is settled); answer done, or when to retry."""
        record = self.deliveries.get(self.endpoint.name, event["id"])
        if record is not None and record.state in ("delivered", "gave_up"):
            return DONE  # settled before a crash kept the cursor from moving
        if record is None:
            record = Delivery(id=event["id"], endpoint=self.endpoint.name, type=event["type"], incident=incident,
                              handoff=handoff, first_attempt=_iso(now))
            self.deliveries.put(record)  # visible as pending while the first attempt runs
        status, error = self._post(event, now)
        record.attempts += 1
        record.last_attempt, record.last_status, record.last_error = _iso(now), status, error
        if status is not None and 200 <= status < 300:
            record.state, record.next_attempt = "delivered", None
            self.deliveries.put(record)
            return DONE
        first = datetime.fromisoformat(record.first_attempt)
        if now - first >= GIVE_UP_AFTER:
            record.state, record.next_attempt = "gave_up", None
            self.deliveries.put(record)
            log.warning("webhook %s: gave up on %s after %d attempts over a day (last: %s)", self.endpoint.name,
                        event["id"], record.attempts, error or f"HTTP {status}")
            return DONE
        retry_at = min(now + backoff(record.attempts), first + GIVE_UP_AFTER)
        record.state, record.next_attempt = "failed", _iso(retry_at)
        self.deliveries.put(record)
        return Step(False, retry_at)

    def _post(self, event: dict[str, Any], now: datetime) -> tuple[int | None, str]:
        """(status, "") for an answer, (None, what went wrong) for none."""
        payload = body(event)
        headers = {"content-type": "application/json", "webhook-id": event["id"],
                   "webhook-timestamp": str(floor(now.timestamp())),
                   "webhook-signature": self._signer.sign(event["id"], now, payload)}
        try:
            response = self._http.post(self.endpoint.url, content=payload, headers=headers)
        except httpx.TimeoutException:
            return None, f"timed out after {self.endpoint.timeout:g}s"
        except httpx.HTTPError as exc:  # the URL may carry a token: never in the record
            return None, f"{type(exc).__name__}: {str(exc).replace(self.endpoint.url, '<url>')[:200]}"
        return response.status_code, "" if response.is_success else f"HTTP {response.status_code}"

    def close(self) -> None:
        self._http.close()
