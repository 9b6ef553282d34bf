"""The open incidents of one receiver (an integration's ``<kind>:<name>``), for what
concerns them all at once: a PagerDuty change event is a note on each of them.

Two scripts, each one round trip, built here and run by an ingest flow's driver
(``service.engine.sources.change_flow``): ``OPEN_OF_RECEIVER`` walks the open-incidents
index and answers the incidents whose ``receiver`` is the one asked for (newest first, at
most ``limit``); ``READ_INCIDENT`` reads one incident again after a refused commit.

The walk reads every open incident's record (a plain substring test first, the JSON
decoded only for those that may match): its cost grows with the number of open
incidents, which is why change events, not alert events, use it.
"""
from __future__ import annotations

import json
from collections.abc import Sequence

from integrations import keys
from routing.incident import Incident

# KEYS: 1 open incidents index. ARGV: 1 the receiver as it appears in an incident's JSON
# ('"receiver":"pagerduty:billing"'), 2 the receiver, 3 the incident key prefix, 4 at most this many.
# Returns the JSON of each open incident of that receiver, newest first.
OPEN_OF_RECEIVER = """
local out = {}
local limit = tonumber(ARGV[4])
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do
  local raw = redis.call('GET', ARGV[3] .. id)
  if raw and string.find(raw, ARGV[1], 1, true) and cjson.decode(raw)['receiver'] == ARGV[2] then
    out[#out + 1] = raw
    if #out >= limit then break end
  end
end
return out
"""

# KEYS: 1 the incident. Returns its JSON, or "" when it is gone.
READ_INCIDENT = "return redis.call('GET', KEYS[1]) or ''"


def open_of_receiver_call(receiver: str, limit: int) -> tuple[str, list[str], list[object]]:
    """Script, KEYS and ARGV for the open incidents of ``receiver`` (at most ``limit``)."""
    needle = '"receiver":' + json.dumps(receiver)
    return OPEN_OF_RECEIVER, [keys.INCIDENTS_OPEN], [needle, receiver, keys.incident(""), limit]


def read_incident_call(incident_id: str) -> tuple[str, list[str], list[object]]:
    return READ_INCIDENT, [keys.incident(incident_id)], []


def parse_incidents(reply: Sequence[str | bytes]) -> list[Incident]:
    return [Incident.model_validate_json(raw) for raw in reply if raw]


def parse_incident(reply: str | bytes | None) -> Incident | None:
    return Incident.model_validate_json(reply) if reply else None
