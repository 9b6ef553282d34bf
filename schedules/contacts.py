"""A person's contact details and their verification state: the pure model of the people
store (integrations/people_store.py keeps it in Redis; service/engine/people.py is the
facade the rest of Herald uses).

Who exists, and their name, is the configuration file's; their phone numbers and email
addresses start as the file's (the *seed*) and then live in Redis, where people add,
verify and remove them. The policy, decided here without I/O:

- a contact seeded from the file is paged even while unverified (nothing stops paging on
  upgrade), but is shown as ``unverified`` everywhere until it is verified;
- a contact a person adds is not paged until it is verified; when it replaces another
  (``replaces``), the old one stays in use until then, and goes when the new one is
  verified;
- a contact whose last send failed for good is ``failing`` (still paged: it may be a
  provider's hiccup; fallback to the next channel is the pipeline's), until a send to it
  succeeds or it is verified again; a phone that replied STOP is ``opted_out``
  (the SMS opt-out itself is kept by the paging store and honoured by delivery).

Nothing here reads the clock: ``now`` is passed in.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from routing.errors import Conflict, Invalid, NotFound
from schedules.model import Person

Kind = Literal["phone", "email"]
State = Literal["unverified", "verified", "failing", "opted_out"]
KINDS: tuple[str, ...] = ("phone", "email")
STATES: tuple[str, ...] = ("unverified", "verified", "failing", "opted_out")
#: The same forms the configuration file accepts (integrations/config/model.py PersonSpec).
PHONE = re.compile(r"^\+[1-9]\d{6,14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
#: At most this many contacts of one kind per person (a list, not a dump).
MAX_PER_KIND = 5


def contact_id(kind: str, address: str) -> str:
    """A contact's stable handle in URLs: "c" + 12 hex digits of its kind and address."""
    return "c" + hashlib.sha256(f"{kind}\0{address}".encode()).hexdigest()[:12]


def check_address(kind: str, address: str) -> str:
    """The address, trimmed (an email lower-cased); ``Invalid`` naming ``address`` when it is
    not a phone number in E.164 form (+ and 7 to 15 digits) or an email address."""
    if kind not in KINDS:
        raise Invalid(f"kind: {kind!r} is not a contact kind; use phone or email", field="kind")
    address = (address or "").strip()
    if kind == "phone" and not PHONE.fullmatch(address):
        raise Invalid(f"address: {address[:40]!r} is not a phone number in E.164 form, e.g. +15551234567",
                      field="address")
    if kind == "email":
        address = address.lower()
        if not EMAIL.fullmatch(address) or len(address) > 254:
            raise Invalid(f"address: {address[:40]!r} is not an email address", field="address")
    return address


@dataclass(frozen=True, slots=True)
class Contact:
    """One phone number or email address of one person."""

    kind: str  # "phone" | "email"
    address: str
    verified_at: datetime | None = None
    source: str = "person"  # "config": seeded from the file; "person": added through Herald
    added_at: datetime | None = None
    replaces: str | None = None  # the id of the contact this one takes over from once verified
    failing: str = ""  # why the last send to it failed for good ("" when it did not)
    failing_at: datetime | None = None
    opted_out: bool = False  # filled in on reading (the paging store keeps STOP/START)

    @property
    def id(self) -> str:
        return contact_id(self.kind, self.address)

    @property
    def verified(self) -> bool:
        return self.verified_at is not None

    @property
    def state(self) -> str:
        """unverified | verified | failing | opted_out (the worst that applies)."""
        if self.opted_out:
            return "opted_out"
        if self.failing:
            return "failing"
        return "verified" if self.verified else "unverified"

    @property
    def paged(self) -> bool:
        """Whether pages go to it: verified, or seeded from the configuration file."""
        return self.verified or self.source == "config"

    def to_json(self) -> dict:
        return {"kind": self.kind, "address": self.address, "source": self.source,
                "verified_at": _iso(self.verified_at), "added_at": _iso(self.added_at),
                "replaces": self.replaces, "failing": self.failing, "failing_at": _iso(self.failing_at)}

    @classmethod
    def from_json(cls, data: dict) -> "Contact":
        return cls(kind=data["kind"], address=data["address"], source=data.get("source", "person"),
                   verified_at=_time(data.get("verified_at")), added_at=_time(data.get("added_at")),
                   replaces=data.get("replaces"), failing=data.get("failing") or "",
                   failing_at=_time(data.get("failing_at")))


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """What the people store keeps of one person: the contacts, and what the file said
    when they were seeded (``seed``: kind -> address), so a change to the file is seen."""

    id: str
    contacts: tuple[Contact, ...] = ()
    seed: dict[str, str] = field(default_factory=dict)

    def contact(self, ref: str) -> Contact:
        """By id or by address; ``NotFound`` naming ``contact``."""
        for c in self.contacts:
            if ref in (c.id, c.address) or (c.kind == "email" and ref.lower() == c.address):
                return c
        raise NotFound(f"contact: {self.id} has no contact {ref!r}", field="contact")

    def to_json(self) -> dict:
        return {"id": self.id, "contacts": [c.to_json() for c in self.contacts], "seed": dict(self.seed)}

    @classmethod
    def from_json(cls, data: dict) -> "PersonRecord":
        return cls(id=data["id"], contacts=tuple(Contact.from_json(c) for c in data.get("contacts", [])),
                   seed=dict(data.get("seed") or {}))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _file_seed(person: Person) -> dict[str, str]:
    """kind -> address as the file gives them (normalised as ``check_address`` does)."""
    return {kind: check_address(kind, address) for kind, address in (("phone", person.phone),
                                                                      ("email", person.email)) if address}


def seeded(person: Person) -> PersonRecord:
    """A person as the configuration file gives them: its contacts, unverified, paged."""
    seed = _file_seed(person)
    return PersonRecord(id=person.id, seed=seed, contacts=tuple(
        Contact(kind=kind, address=address, source="config") for kind, address in seed.items()))


def reconcile(record: PersonRecord | None, person: Person) -> PersonRecord:
    """The stored record brought up to the file: none stored -> the seed; a file whose
    phone or email changed since the seed -> that seeded contact replaced by the file's
    (a contact a person added, or one they verified, is theirs and stays)."""
    if record is None:
        return seeded(person)
    now_seed = _file_seed(person)
    if now_seed == record.seed:
        return record
    contacts = list(record.contacts)
    for kind in KINDS:
        old, new = record.seed.get(kind), now_seed.get(kind)
        if old == new:
            continue
        contacts = [c for c in contacts if not (c.kind == kind and c.source == "config" and not c.verified
                                                and c.address == old)]
        if new and not any(c.kind == kind and c.address == new for c in contacts):
            contacts.append(Contact(kind=kind, address=new, source="config"))
    return replace(record, contacts=tuple(contacts), seed=now_seed)


def paging_person(record: PersonRecord, person: Person) -> Person:
    """The ``Person`` delivery pages: the first paged phone and email of the record (in
    the order they were added), with the file's name."""
    def first(kind: str) -> str | None:
        return next((c.address for c in record.contacts if c.kind == kind and c.paged), None)

    return Person(id=person.id, name=person.name, phone=first("phone"), email=first("email"))


def add_contact(record: PersonRecord, kind: str, address: str, now: datetime,
                replaces: str | None = None) -> tuple[PersonRecord, Contact]:
    """A new unverified contact (not paged until verified). ``replaces``: the id of a
    contact of the same kind that stays in use until this one is verified."""
    address = check_address(kind, address)
    if any(c.kind == kind and c.address == address for c in record.contacts):
        raise Conflict(f"address: {record.id} already has {kind} {address}", field="address")
    if sum(1 for c in record.contacts if c.kind == kind) >= MAX_PER_KIND:
        raise Conflict(f"kind: {record.id} already has {MAX_PER_KIND} contacts of kind {kind}; remove one first",
                       field="kind")
    if replaces is not None:
        old = record.contact(replaces)
        if old.kind != kind:
            raise Invalid(f"replaces: contact {replaces!r} is a {old.kind}, not a {kind}", field="replaces")
        replaces = old.id
    contact = Contact(kind=kind, address=address, added_at=now, replaces=replaces)
    return replace(record, contacts=record.contacts + (contact,)), contact


def mark_verified(record: PersonRecord, ref: str, now: datetime) -> PersonRecord:
    """The contact verified at ``now`` (its failing mark cleared); the contact it replaces
    goes."""
    target = record.contact(ref)
    done = replace(target, verified_at=now, failing="", failing_at=None, replaces=None)
    contacts = [done if c.id == target.id else c for c in record.contacts if c.id != target.replaces]
    return replace(record, contacts=tuple(contacts))


def remove_contact(record: PersonRecord, ref: str) -> PersonRecord:
    """Without the contact. ``Conflict`` when it is the person's last paged contact and
    no other is waiting to replace it: removing it would leave them unreachable."""
    target = record.contact(ref)
    rest = tuple(c for c in record.contacts if c.id != target.id)
    if target.paged and not any(c.paged for c in rest):
        raise Conflict(f"contact: {target.address} is {record.id}'s last contact that is paged; "
                       "add and verify another first", field="contact")
    # a contact that was waiting to replace this one now simply waits for verification
    rest = tuple(replace(c, replaces=None) if c.replaces == target.id else c for c in rest)
    return replace(record, contacts=rest)


def mark_failing(record: PersonRecord, address: str, detail: str, now: datetime) -> PersonRecord:
    """The contacts at ``address`` failing (``detail``: why), or no longer (``detail`` "")."""
    contacts = tuple(replace(c, failing=detail, failing_at=now if detail else None)
                     if c.address == address and c.failing != detail else c for c in record.contacts)
    return replace(record, contacts=contacts)


def verified_contacts(record: PersonRecord) -> list[Contact]:
    return [c for c in record.contacts if c.verified]


def unreachable(record: PersonRecord) -> bool:
    """No contact in state verified (verified, not failing, not opted out of SMS): a
    coverage problem when on call."""
    return not any(c.state == "verified" for c in record.contacts)
