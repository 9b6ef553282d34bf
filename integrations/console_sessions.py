"""Web console sessions, kept in Redis so that ending one ends it at once — in every API
replica, for every copy of its cookie.

A session id is 256 random bits. The browser's cookie carries it (signed, see
``service/web/session.py``); Redis keeps the record under the id's SHA-256
(``keys.console_session``), so a copy of the database opens no session. The record
holds the fingerprint of the credential used to log in (an HMAC, never the credential),
the person the viewer said they are — or, for a personal session, the person signed in
(``personal``) — and the session's CSRF token; it expires with the
session. ``keys.CONSOLE_SESSIONS`` lists the live records by expiry, so that "log out
everyone" ends them all in one atomic step.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

import redis

from integrations import keys

MAX_ID_LENGTH = 64  # ids are 43 characters; anything longer is not one of ours
LIFETIME = 12 * 3600  # seconds a console session lives (the cookie's max age too)

# KEYS: 1 the index of live sessions. ARGV: 1 now (epoch s).
# Deletes every live session's record and the index; answers how many records it deleted.
_END_ALL = """
local ended = 0
for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')) do
  ended = ended + redis.call('DEL', key)
end
redis.call('DEL', KEYS[1])
return ended
"""


@dataclass(frozen=True)
class ConsoleSession:
    id: str  # in the cookie only, never stored
    cred: str  # fingerprint of the credential used to log in
    person: str  # the person id the viewer said they are ("" if none), or signed in as
    csrf: str
    personal: bool = False  # signed in as ``person`` (a code or OpenID Connect), not with a credential


class ConsoleSessions:
    def __init__(self, client: redis.Redis, lifetime: int = LIFETIME) -> None:
        self.redis, self.lifetime = client, lifetime
        self._end_all = client.register_script(_END_ALL)

    def start(self, cred: str, person: str, now: float, personal: bool = False) -> ConsoleSession:
        """A new session (a new id and CSRF token: no fixation), live for ``lifetime`` seconds.
        ``personal``: the person signed in themselves (``cred`` then fingerprints the person)."""
        session = ConsoleSession(secrets.token_urlsafe(32), cred, person, secrets.token_urlsafe(24), personal)
        key = keys.console_session(session.id)
        record = {"cred": cred, "as": person, "csrf": session.csrf, **({"personal": True} if personal else {})}
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, json.dumps(record), ex=self.lifetime)
            pipe.zadd(keys.CONSOLE_SESSIONS, {key: int(now) + self.lifetime})
            pipe.zremrangebyscore(keys.CONSOLE_SESSIONS, "-inf", f"({now}")  # sessions that have expired
            pipe.expire(keys.CONSOLE_SESSIONS, self.lifetime)
            pipe.execute()
        return session

    def get(self, session_id: str) -> ConsoleSession | None:
        """The live session with this id; None when it ended, expired or never was."""
        if not session_id or len(session_id) > MAX_ID_LENGTH:
            return None
        raw = self.redis.get(keys.console_session(session_id))
        if raw is None:
            return None
        data = json.loads(raw)
        return ConsoleSession(session_id, str(data["cred"]), str(data["as"]), str(data["csrf"]),
                              bool(data.get("personal", False)))

    def end(self, session_id: str) -> bool:
        """Log one session out; False when it was not live."""
        if not session_id or len(session_id) > MAX_ID_LENGTH:
            return False
        key = keys.console_session(session_id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.zrem(keys.CONSOLE_SESSIONS, key)
            deleted, _ = pipe.execute()
        return bool(deleted)

    def end_all(self, now: float) -> int:
        """Log everyone out; how many live sessions that ended."""
        return int(self._end_all(keys=[keys.CONSOLE_SESSIONS], args=[now]))
