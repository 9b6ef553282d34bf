"""Integrations in Redis: the keys made with the API (stored as SHA-256 digests, never the
key), the file's keys that were revoked, the integrations made with the API, and each
integration's events per minute.

A key names one integration. Authenticating it (``authenticate_call``, run by an ingest
flow's driver, alone or with the group's read: ``integrations.admit_read``) is one round trip: it finds the key's
integration (a key made with the API, else the file's key unless revoked), reads its
definition if it was made with the API, and counts the event against the integration's
minute; the caller compares the count with the integration's rate.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime

import redis

from integrations import keys
from integrations.config.model import key_digest

#: A key made with the API: 32 hex characters, the shape of PagerDuty's integration keys.
KEY_BYTES = 16
#: The id of a key the configuration file gives (its digest is in the file, or its env var).
FILE_KEY_ID = "file"

# KEYS: 1 keys hash, 2 revoked set, 3 definitions hash. ARGV: 1 digest, 2 the file's integration
# of that digest ("" if none), 3 the rate key prefix, 4 the minute.
# Returns {} for an unknown or revoked key, else {integration, definition JSON or "", count}.
_AUTHENTICATE = """
local rec = redis.call('HGET', KEYS[1], ARGV[1])
local name
if rec then
  name = cjson.decode(rec)['integration']
elseif ARGV[2] ~= '' and redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then
  name = ARGV[2]
else
  return {}
end
local definition = redis.call('HGET', KEYS[3], name) or ''
local counter = ARGV[3] .. name .. ':' .. ARGV[4]
local n = redis.call('INCR', counter)
if n == 1 then redis.call('EXPIRE', counter, 120) end
return {name, definition, n}
"""

# KEYS: 1 keys hash, 2 revoked set. ARGV: 1 integration, 2 "1" to revoke every other key,
# 3 the file's key digest of the integration ("" if none), then the new key's digest and record
# ("" for none). Returns the number of keys revoked.
_ROTATE = """
local revoked = 0
if ARGV[2] == '1' then
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    if cjson.decode(all[i + 1])['integration'] == ARGV[1] then
      redis.call('HDEL', KEYS[1], all[i])
      revoked = revoked + 1
    end
  end
  if ARGV[3] ~= '' then revoked = revoked + redis.call('SADD', KEYS[2], ARGV[3]) end
end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], ARGV[4], ARGV[5]) end
return revoked
"""


# KEYS: 1 keys hash, 2 definitions hash. ARGV: 1 integration. Returns 1 if it existed.
_DELETE = """
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if cjson.decode(all[i + 1])['integration'] == ARGV[1] then redis.call('HDEL', KEYS[1], all[i]) end
end
return redis.call('HDEL', KEYS[2], ARGV[1])
"""


@dataclass(frozen=True)
class Authenticated:
    integration: str
    definition: dict | None  # the integration as made with the API; None: from the file
    count: int  # events of this integration this minute, this one included


@dataclass(frozen=True)
class KeyInfo:
    id: str
    origin: str  # "api" or "file"
    created_at: str = ""


def authenticate_call(key: str, file_keys: dict[str, str], now: datetime) -> tuple[str, list[str], list[object]]:
    """The script, KEYS and ARGV that authenticate ``key`` and count its event (one round
    trip, made by an ingest flow's driver)."""
    digest = key_digest(key)
    return _AUTHENTICATE, [keys.INTEGRATION_KEYS, keys.INTEGRATION_REVOKED, keys.INTEGRATIONS], [
        digest, file_keys.get(digest, ""), keys.INTEGRATION_RATE_PREFIX, int(now.timestamp() // 60)]


def parse_authenticated(reply: list) -> Authenticated | None:
    if not reply:
        return None
    name, definition, count = reply
    return Authenticated(name, json.loads(definition) if definition else None, int(count))


def key_id(digest: str) -> str:
    """How a key is named in listings and revocations: the start of its digest."""
    return digest[:12]


class IntegrationStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._rotate = client.register_script(_ROTATE)
        self._delete = client.register_script(_DELETE)

    def new_key(self, integration: str, now: datetime, *, revoke_others: bool = False,
                file_digest: str = "") -> tuple[str, str]:
        """A new key for ``integration`` (and, with ``revoke_others``, every other key of it
        revoked in the same step, the file's ``file_digest`` too): (key id, the key). The
        key is answered once; only its digest is kept."""
        key = secrets.token_hex(KEY_BYTES)
        digest = key_digest(key)
        record = json.dumps({"integration": integration, "created_at": now.isoformat()})
        self._rotate(keys=[keys.INTEGRATION_KEYS, keys.INTEGRATION_REVOKED],
                     args=[integration, "1" if revoke_others else "0", file_digest, digest, record])
        return key_id(digest), key

    def keys_of(self, integration: str, file_digest: str = "") -> list[KeyInfo]:
        """The live keys of ``integration``: the file's (if given and not revoked), then those
        made with the API, oldest first."""
        found: list[KeyInfo] = []
        if file_digest and not self.redis.sismember(keys.INTEGRATION_REVOKED, file_digest):
            found.append(KeyInfo(FILE_KEY_ID, "file"))
        made = []
        for digest, raw in self.redis.hgetall(keys.INTEGRATION_KEYS).items():
            record = json.loads(raw)
            if record.get("integration") == integration:
                made.append(KeyInfo(key_id(digest), "api", record.get("created_at", "")))
        return found + sorted(made, key=lambda k: (k.created_at, k.id))

    def revoke(self, integration: str, which: str, file_digest: str = "") -> bool:
        """Revoke the key ``which`` (a key id, or ``FILE_KEY_ID``) of ``integration``; False
        if it has no such live key."""
        if which == FILE_KEY_ID:
            return bool(file_digest) and bool(self.redis.sadd(keys.INTEGRATION_REVOKED, file_digest))
        for digest, raw in self.redis.hgetall(keys.INTEGRATION_KEYS).items():
            if key_id(digest) == which and json.loads(raw).get("integration") == integration:
                return bool(self.redis.hdel(keys.INTEGRATION_KEYS, digest))
        return False

    # -- integrations made with the API -------------------------------------------------
    def definitions(self) -> dict[str, dict]:
        return {name: json.loads(raw) for name, raw in self.redis.hgetall(keys.INTEGRATIONS).items()}

    def put(self, name: str, definition: dict) -> bool:
        """Store ``definition``; True if the integration is new."""
        return bool(self.redis.hset(keys.INTEGRATIONS, name, json.dumps(definition)) == 1)

    def delete(self, name: str) -> bool:
        """Remove the integration and revoke its keys in one step; False if there was none."""
        return bool(self._delete(keys=[keys.INTEGRATION_KEYS, keys.INTEGRATIONS], args=[name]))
