"""THROWAWAY: the signatures of the people facade (``service/engine/people.py`` on branch
wt-contacts, issue 20) so sign-in can be built and tested before that store is on main.
Deleted after merging main; nothing here is meant to last.

Contacts come from the configuration file (source "config", unverified until a "verify"
code is checked); codes live in this process only (hashed, 10 minutes, at most 5 wrong
guesses per person and purpose an hour, then refused).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from integrations.notifier import OutboundPage
from routing.errors import Conflict, NotFound, Unavailable
from schedules.model import Person

CODE_TTL = 600
MAX_WRONG = 5
_codes: dict[tuple[str, str, str, str], tuple[bytes, float]] = {}
_wrong: dict[tuple[str, str, str], list[float]] = {}
_verified: dict[tuple[str, str, str], datetime] = {}


class TooManyGuesses(Conflict):
    def __init__(self, message: str, retry_after: int, field: str = "code") -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Contact:
    kind: str  # phone | email
    address: str
    verified_at: datetime | None = None
    source: str = "config"

    @property
    def id(self) -> str:
        return "c" + hashlib.sha256(f"{self.kind}\0{self.address}".encode()).hexdigest()[:12]

    @property
    def verified(self) -> bool:
        return self.verified_at is not None

    @property
    def state(self) -> str:
        return "verified" if self.verified else "unverified"

    failing = ""
    opted_out = False


def _owner(herald: Any) -> str:
    return str(id(herald))


def person(herald: Any, person_id: str) -> Person:
    if person_id not in herald.config.people:
        raise NotFound(f"person: no person with id {person_id!r}", field="person")
    return herald.config.people[person_id]


def contacts(herald: Any, person_id: str) -> list[Contact]:
    p = person(herald, person_id)
    return [Contact(kind, address, _verified.get((_owner(herald), person_id, address)))
            for kind, address in (("phone", p.phone), ("email", p.email)) if address]


def verified_contacts(herald: Any, person_id: str) -> list[Contact]:
    return [c for c in contacts(herald, person_id) if c.verified]


def send_code(herald: Any, person_id: str, which: Contact, purpose: str, via: str | None = None) -> None:
    p = person(herald, person_id)
    if purpose == "signin" and not which.verified:
        raise Conflict("contact: sign-in codes go to verified contacts only", field="contact")
    code = f"{secrets.randbelow(10**6):06d}"
    _codes[(_owner(herald), person_id, which.address, purpose)] = (hashlib.sha256(code.encode()).digest(),
                                                                    time.time() + CODE_TTL)
    channel = via or ("sms" if which.kind == "phone" else "email")
    page = OutboundPage(incident_id=f"code-{purpose}", code="", round=0, tier="", person_id=person_id,
                        person_name=p.name, channel=channel, address=which.address, severity="",
                        title="Herald code", summary=f"Your Herald {purpose} code is {code}.", ack_url="",
                        kind="notice")
    result = herald.notifiers[channel].send(page)
    if result.outcome != "sent":
        raise Unavailable(f"contact: the code could not be sent by {channel}", field="contact")


def check_code(herald: Any, person_id: str, which: Contact, purpose: str, code: str) -> bool:
    now, owner = time.time(), _owner(herald)
    wrong = [t for t in _wrong.get((owner, person_id, purpose), []) if t > now - 3600]
    if len(wrong) >= MAX_WRONG:
        raise TooManyGuesses(f"code: {MAX_WRONG} wrong codes for {person_id} within the hour", 3600)
    key = (owner, person_id, which.address, purpose)
    stored = _codes.get(key)
    if stored and stored[1] > now and hmac.compare_digest(stored[0], hashlib.sha256(code.strip().encode()).digest()):
        del _codes[key]
        if purpose == "verify":
            _verified[(owner, person_id, which.address)] = datetime.now(timezone.utc)
        return True
    _wrong[(owner, person_id, purpose)] = [*wrong, now]
    return False
