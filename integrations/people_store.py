"""People's contact details, verification state and one-time codes in
Redis (the pure model: schedules/contacts.py; the facade: service/engine/people.py).

- ``keys.PEOPLE``: person id -> JSON ``PersonRecord``. A person with no entry is as the
  configuration file seeds them (nothing is written until something changes), and a
  stored record is brought up to the file on every read (``contacts.reconcile``).
- personal notification rules are the rules store's (integrations/rules_store.py,
  ``keys.PEOPLE_RULES``); both stores bump ``keys.PEOPLE_VERSION`` on every write.
- one-time codes: ``keys.people_code`` holds a random salt and the HMAC-SHA256 of the
  code, never the code, for ``CODE_TTL_SECONDS``; ``keys.people_guesses`` counts wrong
  codes per person and purpose for an hour from the first, ``keys.people_sends`` counts
  codes sent.

Every change to a record is a compare-and-set (WATCH/MULTI on the person's field), so two
writers never lose each other's change.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import replace

import redis

from integrations import keys
from schedules.contacts import PersonRecord, reconcile
from schedules.model import Person

CODE_TTL_SECONDS = 600
GUESS_WINDOW_SECONDS = 3600
CODE_DIGITS = 6

# KEYS[1] the counter; ARGV[1] its window (s), ARGV[2] the limit. Counts one more and
# answers {count, seconds left}; the window starts with the first.
_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""


def _digest(salt: str, purpose: str, person: str, contact: str, code: str) -> str:
    return hmac.new(bytes.fromhex(salt), f"{purpose}\0{person}\0{contact}\0{code}".encode(),
                    hashlib.sha256).hexdigest()


class PeopleStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._count = client.register_script(_COUNT)

    # -- records ---------------------------------------------------------------------------
    def _decode(self, raw: str | None, person: Person) -> PersonRecord:
        return reconcile(PersonRecord.from_json(json.loads(raw)) if raw else None, person)

    def _with_opt_outs(self, records: list[PersonRecord]) -> list[PersonRecord]:
        phones = sorted({c.address for r in records for c in r.contacts if c.kind == "phone"})
        if not phones:
            return records
        pipe = self.redis.pipeline(transaction=False)
        for phone in phones:
            pipe.exists(keys.opted_out(phone))
        out = {phone for phone, found in zip(phones, pipe.execute()) if found}
        return [replace(r, contacts=tuple(replace(c, opted_out=c.kind == "phone" and c.address in out)
                                          for c in r.contacts)) for r in records]

    def record(self, person: Person) -> PersonRecord:
        """The person's record (the file's seed when none is stored), with STOP opt-outs."""
        return self._with_opt_outs([self._decode(self.redis.hget(keys.PEOPLE, person.id), person)])[0]

    def records(self, people: Iterable[Person]) -> dict[str, PersonRecord]:
        """Every given person's record, in two round trips."""
        people = list(people)
        if not people:
            return {}
        raws = self.redis.hmget(keys.PEOPLE, [p.id for p in people])
        found = self._with_opt_outs([self._decode(raw, p) for raw, p in zip(raws, people)])
        return {r.id: r for r in found}

    def stored_ids(self) -> list[str]:
        """The people with a stored record (the others are as the file seeds them)."""
        return sorted(self.redis.hkeys(keys.PEOPLE))

    def update(self, person: Person, change: Callable[[PersonRecord], PersonRecord]) -> PersonRecord:
        """Apply ``change`` to the current record and write the result, as one
        compare-and-set (retried when another writer got there first). ``change`` may raise:
        nothing is written then."""
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(keys.PEOPLE)
                    current = self._decode(pipe.hget(keys.PEOPLE, person.id), person)
                    changed = change(current)
                    pipe.multi()
                    pipe.hset(keys.PEOPLE, person.id, json.dumps(changed.to_json(), separators=(",", ":")))
                    pipe.incr(keys.PEOPLE_VERSION)
                    pipe.execute()
                    return self._with_opt_outs([changed])[0]
                except redis.WatchError:
                    continue

    # -- export / import -------------------------------------------------------------------
    def replace_all(self, records: dict[str, PersonRecord]) -> None:
        """Write the given people's records in one MULTI (an import): each person named is
        replaced whole. (Their rules are the rules store's: integrations/rules_store.py.)"""
        pipe = self.redis.pipeline()
        for pid, rec in records.items():
            pipe.hset(keys.PEOPLE, pid, json.dumps(rec.to_json(), separators=(",", ":")))
        pipe.incr(keys.PEOPLE_VERSION)
        pipe.execute()

    def version(self) -> int:
        return int(self.redis.get(keys.PEOPLE_VERSION) or 0)

    # -- one-time codes --------------------------------------------------------------------
    def count_send(self, purpose: str, person_id: str, limit: int) -> tuple[bool, int]:
        """Count one code sent: (allowed, seconds until the window ends). Over ``limit`` in
        the hour: not allowed (nothing is sent)."""
        count, ttl = self._count(keys=[keys.people_sends(purpose, person_id)], args=[GUESS_WINDOW_SECONDS, limit])
        return int(count) <= limit, int(ttl)

    def new_code(self, purpose: str, person_id: str, contact_id: str, ttl: int = CODE_TTL_SECONDS) -> str:
        """A fresh random code for the contact (replacing any earlier one); only its HMAC
        is stored. Answers the code, to be sent."""
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        salt = secrets.token_hex(16)
        self.redis.set(keys.people_code(purpose, person_id, contact_id),
                       json.dumps({"salt": salt, "hmac": _digest(salt, purpose, person_id, contact_id, code)}),
                       ex=ttl)
        return code

    def drop_code(self, purpose: str, person_id: str, contact_id: str) -> None:
        self.redis.delete(keys.people_code(purpose, person_id, contact_id))

    def code_ttl(self, purpose: str, person_id: str, contact_id: str) -> int:
        """Seconds the contact's code has left (0: none)."""
        return max(int(self.redis.ttl(keys.people_code(purpose, person_id, contact_id))), 0)

    def guesses_left(self, purpose: str, person_id: str, limit: int) -> tuple[int, int]:
        """(wrong codes still allowed this hour, seconds until the count starts again)."""
        key = keys.people_guesses(purpose, person_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(key)
        pipe.ttl(key)
        used, ttl = pipe.execute()
        return max(limit - int(used or 0), 0), max(int(ttl), 0)

    def check_code(self, purpose: str, person_id: str, contact_id: str, code: str, limit: int) -> tuple[str, int]:
        """("ok" | "wrong" | "refused", seconds until guessing is allowed again).

        A guess is counted before it is compared (so parallel guesses cannot slip past the
        limit) and given back when right; past ``limit`` wrong ones in the hour every guess
        is refused, right or not. A right code is used up."""
        counter = keys.people_guesses(purpose, person_id)
        count, ttl = self._count(keys=[counter], args=[GUESS_WINDOW_SECONDS, limit])
        if int(count) > limit:
            self.redis.decr(counter)  # a refused guess is not compared, so not counted
            return "refused", int(ttl)
        key = keys.people_code(purpose, person_id, contact_id)
        raw = self.redis.get(key)
        if raw and code.isdigit() and len(code) == CODE_DIGITS:
            stored = json.loads(raw)
            expected = _digest(stored["salt"], purpose, person_id, contact_id, code)
            if hmac.compare_digest(expected, stored["hmac"]) and self.redis.delete(key) == 1:
                self.redis.decr(counter)
                return "ok", 0
        return "wrong", int(ttl)
