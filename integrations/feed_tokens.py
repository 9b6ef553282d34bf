"""Revocable tokens for published calendar feeds (``?token=`` in a subscription URL).

A token is 256 random bits, shown once when it is created. Redis keeps only its
SHA-256 (``keys.FEEDS``: digest -> what it opens), so a copy of the database does not
open any feed. A feed's id is the first 16 hex digits of the digest: listing shows
ids, and revoking works with the id or the token.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime

import redis

from integrations import keys

MAX_TOKEN_LENGTH = 128


@dataclass(frozen=True, slots=True)
class Feed:
    id: str
    kind: str  # "schedule" | "person"
    target: str  # the schedule name or the person id
    created_at: str
    created_by: str = ""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class FeedTokens:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def create(self, kind: str, target: str, now: datetime, by: str = "") -> tuple[str, Feed]:
        if kind not in ("schedule", "person"):
            raise ValueError(f"unknown feed kind {kind!r}")
        token = secrets.token_urlsafe(32)
        digest = _digest(token)
        feed = Feed(id=digest[:16], kind=kind, target=target, created_at=now.isoformat(), created_by=by)
        self.redis.hset(keys.FEEDS, digest, json.dumps(asdict(feed)))
        return token, feed

    def lookup(self, token: str) -> Feed | None:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        raw = self.redis.hget(keys.FEEDS, _digest(token))
        return Feed(**json.loads(raw)) if raw else None

    def list(self) -> list[Feed]:
        feeds = [Feed(**json.loads(raw)) for raw in self.redis.hvals(keys.FEEDS)]
        return sorted(feeds, key=lambda f: (f.created_at, f.id))

    def revoke(self, token_or_id: str) -> Feed | None:
        """Revoke by token or by feed id; returns the revoked feed, None if unknown."""
        if not token_or_id or len(token_or_id) > MAX_TOKEN_LENGTH:
            return None
        digest = _digest(token_or_id)
        raw = self.redis.hget(keys.FEEDS, digest)
        if raw is None:
            matches = [d for d in self.redis.hkeys(keys.FEEDS) if d[:16] == token_or_id.lower()]
            if len(matches) != 1:
                return None
            digest = matches[0]
            raw = self.redis.hget(keys.FEEDS, digest)
        if raw is None or not self.redis.hdel(keys.FEEDS, digest):
            return None
        return Feed(**json.loads(raw))
