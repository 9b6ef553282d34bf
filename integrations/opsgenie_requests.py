"""The statuses of Opsgenie Alert API requests, for ``GET /v2/alerts/requests/{requestId}``.

Opsgenie answers every alert request 202 with a ``requestId`` and processes it later; a
client asks for the outcome (the alert's id, "Created alert", …) by that id. Herald has
processed the request before it answers, so the outcome is written once, with the
integration that made the request, under ``keys.opsgenie_request(id)`` and expires after
``TTL_SECONDS`` (a day: Opsgenie's clients ask within seconds). Nothing else reads or
purges them.

The calls are (script, KEYS, ARGV) triples, so the API's event loop runs them through the
ingest driver's script batch (``AsyncIngest.scripts``) like every other webhook write.
"""
from __future__ import annotations

import json
from typing import Any

from integrations import keys

TTL_SECONDS = 24 * 3600

# KEYS: 1 the request's key. ARGV: 1 the record (JSON), 2 seconds to keep it.
_RECORD = "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1"
# KEYS: 1 the request's key. Returns the record or false.
_READ = "return redis.call('GET', KEYS[1])"


def record_call(request_id: str, record: dict[str, Any], ttl: int = TTL_SECONDS) -> tuple[str, list[str], list[Any]]:
    """Keep ``record`` (the request's status, its ``integration`` included) for ``ttl`` seconds."""
    return _RECORD, [keys.opsgenie_request(request_id)], [json.dumps(record, separators=(",", ":")), int(ttl)]


def read_call(request_id: str) -> tuple[str, list[str], list[Any]]:
    return _READ, [keys.opsgenie_request(request_id)], []


def parse_read(reply: Any) -> dict[str, Any] | None:
    """The record a ``read_call`` answered; None if there is none (unknown or expired)."""
    if not reply:
        return None
    return json.loads(reply)
