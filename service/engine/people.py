"""The people facade: contact details, verification, one-time codes, personal rules and
export/import, over the people store (integrations/people_store.py) and the pure model
(schedules/contacts.py). Everything else in Herald asks here, never ``config.people``
for an address: ``person(herald, id)`` is who delivery pages, at which addresses.

Who exists (and their name) is the configuration file's: an id not in it is ``NotFound``.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from integrations.notifier import OutboundPage, SendResult
from integrations.people_store import CODE_TTL_SECONDS
from routing.errors import Conflict, Invalid, NotFound, Unavailable
from routing.personal_rules import PersonalRules
from schedules import contacts as model
from schedules.contacts import Contact, PersonRecord
from schedules.model import Person
from service.engine.runtime import Herald
from service.telemetry import logs

log = logging.getLogger("herald.people")

PURPOSES = ("verify", "signin")
#: Wrong codes allowed per person per purpose per hour; after them every guess is refused.
MAX_WRONG_CODES = 5
#: Codes sent per person per purpose per hour (so nobody is flooded with texts).
MAX_CODES_SENT = 5
#: Test pages per person per hour (each may go to every contact).
MAX_TEST_PAGES = 10
#: How each kind of contact may receive a code or a test page; the first is the default.
CHANNELS_FOR = {"phone": ("sms", "voice"), "email": ("email",)}


class TooManyGuesses(Conflict):
    """Too many wrong codes (or codes sent) for this person and purpose this hour: refused
    without looking at the code. ``retry_after``: seconds until it is allowed again (the
    API answers 429 with Retry-After)."""

    def __init__(self, message: str, retry_after: int, field: str = "code") -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


# -- who and where -----------------------------------------------------------------------------

def _configured(herald: Herald, person_id: str) -> Person:
    found = herald.config.people.get(person_id)
    if found is None:
        raise NotFound(f"person: no person with id {person_id!r}", field="person")
    return found


#: Addresses already handed to the log redaction (service.telemetry.logs), this process.
_hidden: set[str] = set()


def _hide(found: list[PersonRecord]) -> None:
    """Keep every address read out of log lines, as the file's are (a provider's error text
    names the number): registered once per address and process."""
    new = [c.address for r in found for c in r.contacts if c.address not in _hidden]
    if new:
        _hidden.update(new)
        logs.redact_contacts(new)


def record(herald: Herald, person_id: str) -> PersonRecord:
    """The person's stored contacts and their states (the file's seed until changed)."""
    found = herald.people.record(_configured(herald, person_id))
    _hide([found])
    return found


def records(herald: Herald) -> dict[str, PersonRecord]:
    """Every configured person's record, by id."""
    found = herald.people.records(herald.config.people.values())
    _hide(list(found.values()))
    return found


def contact_book(herald: Herald) -> dict[str, Person]:
    """Every address of every person (one entry a contact), for hiding contact details
    from callers that may not see them (``service.api.redact``): the file's, and those
    people added."""
    out: dict[str, Person] = {}
    for pid, rec in records(herald).items():
        for c in rec.contacts:
            out[f"{pid}/{c.id}"] = Person(id=pid, name="", phone=c.address if c.kind == "phone" else None,
                                          email=c.address if c.kind == "email" else None)
    return out


def person(herald: Herald, person_id: str) -> Person:
    """The person as delivery pages them: the file's name, their paged phone and email
    (verified ones, or seeded from the file; never one they added and did not verify)."""
    configured = _configured(herald, person_id)
    return model.paging_person(herald.people.record(configured), configured)


def paging_view(herald: Herald, person_id: str) -> tuple[Person | None, PersonRecord | None]:
    """(``person``, their record) in one read, for delivery; (None, None) for an id the
    file no longer has."""
    configured = herald.config.people.get(person_id)
    if configured is None:
        return None, None
    found = herald.people.record(configured)
    _hide([found])
    return model.paging_person(found, configured), found


def people_for(herald: Herald, person_ids: list[str] | tuple[str, ...]) -> dict[str, Person]:
    """``person`` for several people at once (unknown ids are left out)."""
    known = [herald.config.people[p] for p in dict.fromkeys(person_ids) if p in herald.config.people]
    found = herald.people.records(known)
    _hide(list(found.values()))
    return {p.id: model.paging_person(found[p.id], p) for p in known}


def directory(herald: Herald) -> dict[str, Person]:
    """``person`` for everyone in the file, by id (a drop-in for ``config.people``)."""
    return people_for(herald, list(herald.config.people))


def person_by_phone(herald: Herald, phone: str) -> Person | None:
    """Whose phone this is (a paged one: an SMS reply, a keypress), or None."""
    for pid, rec in records(herald).items():
        if any(c.kind == "phone" and c.address == phone and c.paged for c in rec.contacts):
            return herald.config.people[pid]
    return None


def contacts(herald: Herald, person_id: str) -> list[Contact]:
    """Every contact of the person with its state (unverified | verified | failing | opted_out)."""
    return list(record(herald, person_id).contacts)


def verified_contacts(herald: Herald, person_id: str) -> list[Contact]:
    return model.verified_contacts(record(herald, person_id))


def contact(herald: Herald, person_id: str, ref: str) -> Contact:
    """One contact of the person, by id (``c…``) or address; ``NotFound`` naming ``contact``."""
    return record(herald, person_id).contact(ref)


def contact_json(c: Contact) -> dict[str, Any]:
    """What the API and the console show of a contact."""
    return {"id": c.id, "kind": c.kind, "address": c.address, "state": c.state, "verified": c.verified,
            "verified_at": c.verified_at.isoformat() if c.verified_at else None, "paged": c.paged,
            "source": c.source, "replaces": c.replaces, "opted_out": c.opted_out,
            "failing": c.failing or None, "failing_at": c.failing_at.isoformat() if c.failing_at else None}


# -- changes -------------------------------------------------------------------------------------

def add_contact(herald: Herald, person_id: str, kind: str, address: str, replaces: str | None = None) -> Contact:
    """Add an unverified contact (not paged until verified; ``replaces``: the contact it
    takes over from once verified, which stays in use until then)."""
    configured = _configured(herald, person_id)
    added: list[Contact] = []

    def change(current: PersonRecord) -> PersonRecord:
        updated, new = model.add_contact(current, kind, address, herald.clock(), replaces=replaces)
        added[:] = [new]
        return updated

    herald.people.update(configured, change)
    log.info("person %s added a %s contact (unverified)", person_id, kind)
    return added[0]


def remove_contact(herald: Herald, person_id: str, ref: str) -> None:
    """Remove a contact (``Conflict`` when it is the last one paged); its codes go too."""
    configured = _configured(herald, person_id)
    target = record(herald, person_id).contact(ref)
    herald.people.update(configured, lambda current: model.remove_contact(current, target.id))
    for purpose in PURPOSES:
        herald.people.drop_code(purpose, person_id, target.id)


def note_send(herald: Herald, person_id: str, address: str, result: SendResult,
              current: PersonRecord | None = None) -> None:
    """What a send to ``address`` showed: a permanent failure marks the contact failing, a
    success clears the mark. Nothing is written when nothing changes (``current``: the
    record as just read, to save reading it again)."""
    if not address or person_id not in herald.config.people or result.outcome not in ("sent", "failed"):
        return
    if result.outcome == "failed" and "opted out" in (result.detail or ""):
        return  # STOP is the person's choice, shown as opted_out: not a failing address
    detail = (result.detail or "the provider refused it")[:200] if result.outcome == "failed" else ""
    current = current if current is not None else record(herald, person_id)
    if not any(c.address == address and bool(c.failing) != bool(detail) for c in current.contacts):
        return
    herald.people.update(herald.config.people[person_id],
                         lambda rec: model.mark_failing(rec, address, detail, herald.clock()))


def note_delivery_failure(herald: Herald, person_id: str, channel: str, detail: str) -> None:
    """A provider reported, after the send, that a message to the person on ``channel``
    never arrived (an SMS undelivered, an email bounced): the address they are paged at
    on that channel is marked failing."""
    configured = herald.config.people.get(person_id)
    if configured is None or channel not in ("sms", "voice", "email"):
        return
    who, current = paging_view(herald, person_id)
    address = (who.email if channel == "email" else who.phone) if who is not None else None
    if address:
        note_send(herald, person_id, address, SendResult("failed", detail=detail), current)


# -- one-time codes ------------------------------------------------------------------------------

def _purpose(purpose: str) -> str:
    if purpose not in PURPOSES:
        raise Invalid(f"purpose: {purpose!r} is not one of {', '.join(PURPOSES)}", field="purpose")
    return purpose


def _contact_of(herald: Herald, person_id: str, which: Contact | str) -> Contact:
    return contact(herald, person_id, which.id if isinstance(which, Contact) else which)


def _channel(target: Contact, via: str | None) -> str:
    allowed = CHANNELS_FOR[target.kind]
    if via is None:
        return allowed[0]
    if via not in allowed:
        raise Invalid(f"via: a {target.kind} takes {' or '.join(allowed)}, not {via!r}", field="via")
    return via


def _send(herald: Herald, person_id: str, target: Contact, channel: str, title: str, text: str,
          ref: str) -> SendResult:
    notifier = herald.notifiers.get(channel)
    if notifier is None:
        raise Conflict(f"via: no {channel} notifier is configured", field="via")
    page = OutboundPage(incident_id=ref, code="", round=0, tier="", person_id=person_id,
                        person_name=herald.config.people[person_id].name, channel=channel, address=target.address,
                        severity="", title=title, summary=text, ack_url="", kind="notice")
    try:
        return notifier.send(page)
    except Exception as exc:  # a notifier bug: the caller is told, nothing is recorded as sent
        log.exception("%s to %s by %s raised", ref, person_id, channel)
        return SendResult("retry", detail=f"notifier error: {type(exc).__name__}")


def send_code(herald: Herald, person_id: str, which: Contact | str, purpose: str, via: str | None = None) -> None:
    """Send a fresh one-time code to one of the person's contacts (SMS, or ``via="voice"``,
    for a phone; email for an address), valid ``CODE_TTL_SECONDS``. "signin" codes go to
    verified contacts only. ``TooManyGuesses`` past ``MAX_CODES_SENT`` codes in the hour;
    ``Unavailable`` when the provider did not take it."""
    _purpose(purpose)
    _configured(herald, person_id)
    target = _contact_of(herald, person_id, which)
    if purpose == "signin" and not target.verified:
        raise Conflict(f"contact: {target.address} is not verified; sign-in codes go to verified contacts only",
                       field="contact")
    if target.opted_out and (via or CHANNELS_FOR[target.kind][0]) == "sms":
        raise Conflict(f"contact: {target.address} replied STOP to SMS; reply START, or ask for a call (via voice)",
                       field="contact")
    channel = _channel(target, via)
    allowed, wait = herald.people.count_send(purpose, person_id, MAX_CODES_SENT)
    if not allowed:
        raise TooManyGuesses(f"contact: {MAX_CODES_SENT} codes were sent to {person_id} within the hour; "
                             f"try again in {max(wait // 60, 1)} minutes", retry_after=wait, field="contact")
    code = herald.people.new_code(purpose, person_id, target.id)
    minutes = CODE_TTL_SECONDS // 60
    if channel == "voice":
        spoken = ", ".join(code)
        text = f"Your Herald code is {spoken}. Again: {spoken}. It expires in {minutes} minutes."
    else:
        text = f"Your Herald {'sign-in' if purpose == 'signin' else 'verification'} code is {code}. " \
               f"It expires in {minutes} minutes. If you did not ask for it, ignore this message."
    result = _send(herald, person_id, target, channel, "Herald code", text, f"code-{purpose}")
    if result.outcome != "sent":
        herald.people.drop_code(purpose, person_id, target.id)
        raise Unavailable(f"contact: the code could not be sent to {target.address} by {channel} "
                          f"({result.detail or result.outcome})", field="contact")
    log.info("a %s code went to %s by %s", purpose, person_id, channel)


def check_code(herald: Herald, person_id: str, which: Contact | str, purpose: str, code: str) -> bool:
    """Whether ``code`` is the live code sent to the contact for ``purpose`` (a right code
    is used up; for "verify" the contact is verified at once, and the contact it replaces
    goes). After ``MAX_WRONG_CODES`` wrong codes for the person and purpose in an hour
    every guess is refused: ``TooManyGuesses``."""
    _purpose(purpose)
    configured = _configured(herald, person_id)
    target = _contact_of(herald, person_id, which)
    outcome, wait = herald.people.check_code(purpose, person_id, target.id, (code or "").strip(), MAX_WRONG_CODES)
    if outcome == "refused":
        raise TooManyGuesses(f"code: {MAX_WRONG_CODES} wrong codes for {person_id} within the hour; "
                             f"try again in {max(wait // 60, 1)} minutes", retry_after=wait)
    if outcome != "ok":
        log.info("a wrong %s code for %s", purpose, person_id)
        return False
    if purpose == "verify":
        herald.people.update(configured, lambda rec: model.mark_verified(rec, target.id, herald.clock()))
        log.info("person %s verified a %s contact", person_id, target.kind)
    return True


def send_test_page(herald: Herald, person_id: str, which: Contact | str | None = None,
                   via: str | None = None) -> list[dict[str, str]]:
    """"Send me a test page": a notice to one contact (``which``), or to each contact that
    is paged, on its default channel (``via`` for a phone: sms or voice). Answers one
    {contact, address, channel, outcome, detail} per send; the outcome marks a contact
    failing (or clears it) as a real page's would. ``TooManyGuesses`` past
    ``MAX_TEST_PAGES`` in the hour."""
    _configured(herald, person_id)
    allowed, wait = herald.people.count_send("test", person_id, MAX_TEST_PAGES)
    if not allowed:
        raise TooManyGuesses(f"contact: {MAX_TEST_PAGES} test pages were sent to {person_id} within the hour; "
                             f"try again in {max(wait // 60, 1)} minutes", retry_after=wait, field="contact")
    chosen = [_contact_of(herald, person_id, which)] if which is not None else [
        c for c in contacts(herald, person_id) if c.paged]
    if not chosen:
        raise Conflict(f"contact: {person_id} has no contact that is paged", field="contact")
    out = []
    for target in chosen:
        channel = _channel(target, via if target.kind == "phone" or which is not None else None)
        if channel == "sms" and target.opted_out:
            out.append({"contact": target.id, "address": target.address, "channel": channel, "outcome": "failed",
                        "detail": "the number replied STOP: SMS opted out"})
            continue
        result = _send(herald, person_id, target, channel, "Herald test page",
                       "This is a test page from Herald: your contact works. Nothing to acknowledge.", "test-page")
        note_send(herald, person_id, target.address, result)
        out.append({"contact": target.id, "address": target.address, "channel": channel,
                    "outcome": result.outcome, "detail": result.detail})
    return out


# -- personal rules (kept by the rules store, herald.rules; validated by their model) ---------------

def _validated_rules(data: Any) -> PersonalRules | None:
    """The rules checked by ``routing.personal_rules.PersonalRules`` (an ``Invalid`` naming
    the field when wrong); None stays None (no rules)."""
    if data is None:
        return None
    if isinstance(data, PersonalRules):
        return data
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    if not isinstance(data, dict):
        raise Invalid("rules: must be a JSON object", field="rules")
    try:
        return PersonalRules.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise Invalid(f"rules.{where}: {first['msg']}" if where else f"rules: {first['msg']}",
                      field="rules") from None


def rules(herald: Herald, person_id: str) -> dict | None:
    """The person's personal rules as JSON, or None (the policy's channels apply)."""
    _configured(herald, person_id)
    found = herald.rules.get(person_id)
    return found.model_dump(mode="json") if found is not None and not found.empty else None


def set_rules(herald: Herald, person_id: str, value: Any) -> None:
    """Store (None: remove) the person's personal rules, through the rules store."""
    _configured(herald, person_id)
    herald.rules.set(person_id, _validated_rules(value) or PersonalRules())


# -- export / import -------------------------------------------------------------------------------

class _ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    address: str
    source: str = Field("person", pattern="^(config|person)$")
    verified_at: datetime | None = None
    added_at: datetime | None = None
    replaces: str | None = None
    failing: str | None = None
    failing_at: datetime | None = None


class _PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contacts: list[_ContactIn] = Field(default_factory=list)
    rules: dict | None = None


class _ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: str = Field(pattern="^herald-people/1$")
    people: dict[str, _PersonIn]


EXPORT_FORMAT = "herald-people/1"


def export(herald: Herald) -> dict[str, Any]:
    """Every configured person's contacts (with verification state) and rules, as JSON
    that ``import_people`` reads on another instance. Codes are never exported."""
    found = records(herald)
    stored_rules = {pid: r.model_dump(mode="json") for pid, r in herald.rules.all().items() if not r.empty}
    people = {}
    for pid, rec in found.items():
        people[pid] = {"contacts": [c.to_json() for c in rec.contacts], "rules": stored_rules.get(pid)}
    return {"format": EXPORT_FORMAT, "people": people}


def import_people(herald: Herald, data: Mapping[str, Any]) -> dict[str, int]:
    """Replace the contacts and rules of every person the export names (all checked first:
    one wrong entry and nothing is written; an error names the entry). People it does not
    name are left alone. Answers {"people": n, "contacts": n, "rules": n}."""
    try:
        parsed = _ExportIn.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top)"
        raise Invalid(f"{where}: {err['msg']}", field=where) from None
    out_records: dict[str, PersonRecord] = {}
    out_rules: dict[str, PersonalRules | None] = {}
    for pid, entry in parsed.people.items():
        configured = herald.config.people.get(pid)
        if configured is None:
            raise Invalid(f"people.{pid}: no person with id {pid!r} in the configuration file", field="people")
        items: list[Contact] = []
        for i, c in enumerate(entry.contacts):
            where = f"people.{pid}.contacts.{i}"
            try:
                address = model.check_address(c.kind, c.address)
            except Invalid as exc:
                raise Invalid(f"{where}.{exc.message}", field=where) from None
            if any(x.kind == c.kind and x.address == address for x in items):
                raise Invalid(f"{where}.address: {address} is given twice", field=where)
            items.append(Contact(kind=c.kind, address=address, source=c.source, verified_at=c.verified_at,
                                 added_at=c.added_at, replaces=c.replaces, failing=c.failing or "",
                                 failing_at=c.failing_at))
        ids = {x.id for x in items}
        items = [x if x.replaces in ids or x.replaces is None else replace(x, replaces=None) for x in items]
        seed = model.seeded(configured).seed
        out_records[pid] = PersonRecord(id=pid, contacts=tuple(items), seed=seed)
        try:
            out_rules[pid] = _validated_rules(entry.rules)
        except Invalid as exc:
            raise Invalid(f"people.{pid}.{exc.message}", field=f"people.{pid}.rules") from None
    herald.people.replace_all(out_records)  # everything was checked above: two writes that
    herald.rules.replace(out_rules)         # cannot refuse (the contacts, then the rules)
    return {"people": len(out_records), "contacts": sum(len(r.contacts) for r in out_records.values()),
            "rules": sum(1 for r in out_rules.values() if r is not None and not r.empty)}


# -- coverage: who is on call with no verified contact -----------------------------------------------

def unverified_on_call(herald: Herald, person_ids: list[str]) -> list[str]:
    """Of ``person_ids``, those with no verified contact that is not opted out."""
    found = herald.people.records([herald.config.people[p] for p in dict.fromkeys(person_ids)
                                   if p in herald.config.people])
    return [pid for pid, rec in found.items() if model.unreachable(rec)]


def on_call_now(herald: Herald, now: datetime) -> set[str]:
    """Who is on call at ``now``: every schedule's shifts, and the people policies' tiers
    name directly."""
    found: set[str] = set()
    for name in herald.config.schedules:
        rotation = herald.calendars.rotation(name)
        if rotation is None:
            continue
        for tier in rotation.tiers():
            found.update(s.person for s in rotation.oncall(tier, now))
    for policy in herald.config.policies.values():
        for tier in policy.tiers:
            found.update(tier.people)
    return {p for p in found if p in herald.config.people}


def gauges(herald: Herald) -> dict[str, Any]:
    """What the metrics show (read at scrape time): contacts by kind and state, people
    with no verified contact, and those of them on call now."""
    found = records(herald)
    by_state: dict[tuple[str, str], int] = {(k, s): 0 for k in model.KINDS for s in model.STATES}
    for rec in found.values():
        for c in rec.contacts:
            by_state[(c.kind, c.state)] += 1
    unreachable = {pid for pid, rec in found.items() if model.unreachable(rec)}
    return {"contacts": by_state, "unverified": len(unreachable),
            "oncall_unverified": len(unreachable & on_call_now(herald, herald.clock()))}
