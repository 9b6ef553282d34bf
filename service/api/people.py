"""People's contacts over HTTP: list, add, verify with a one-time code, remove, and "send
me a test page" (docs/people.md, docs/api.md).

``GET  /api/v1/people``                                  everyone, with how many contacts are verified
``GET  /api/v1/people/{id}/contacts``                    the contacts and their states
``POST /api/v1/people/{id}/contacts``                    {kind, address, replaces?}: added unverified
``DELETE /api/v1/people/{id}/contacts/{contact}``        removed (not the last one paged)
``POST /api/v1/people/{id}/contacts/{contact}/verify``   {via?}: a code is sent to it
``POST /api/v1/people/{id}/contacts/{contact}/confirm``  {code}: verified when right
``POST /api/v1/people/{id}/test-page``                   {contact?, via?}: a test message

``{contact}`` is a contact's id (``c`` and 12 hex digits, from the listing) or its address.
Reading needs a token that may see contact details (``contacts:read``: write or admin);
changing them ``contacts:write`` (write or admin). ``person_caller`` is the one place that
decides who may act for whom, so a personal console session can be let in for its own
person there. Too many wrong codes (or codes sent) answer 429 with Retry-After.
"""
from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from routing.errors import Invalid
from schedules.contacts import unreachable
from service.api.schedule_views import Caller, api_caller, require
from service.engine import people
from service.engine.people import TooManyGuesses

router = APIRouter(prefix="/api/v1/people", tags=["people"])


class ContactRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["phone", "email"]
    address: str = Field(min_length=1, max_length=254)
    replaces: str | None = Field(None, max_length=254)


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    via: Literal["sms", "voice", "email"] | None = None


class ConfirmRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=12)


class TestPageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact: str | None = Field(None, max_length=254)
    via: Literal["sms", "voice", "email"] | None = None


def person_caller(caller: Caller, person_id: str, permission: str) -> Caller:
    """403 unless ``caller`` may ``permission`` ("contacts:read" | "contacts:write") for
    ``person_id``'s contacts."""
    require(caller, permission)
    return caller


def _too_many(exc: TooManyGuesses) -> HTTPException:
    return HTTPException(429, exc.message, headers={"Retry-After": str(max(exc.retry_after, 1))})


def summary(herald: Any) -> list[dict[str, Any]]:
    """Each person with counts of contacts by state (no addresses)."""
    out = []
    for pid, rec in people.records(herald).items():
        states = [c.state for c in rec.contacts]
        out.append({"id": pid, "name": herald.config.people[pid].name, "contacts": len(states),
                    "verified": sum(1 for c in rec.contacts if c.verified),
                    "states": {s: states.count(s) for s in dict.fromkeys(states)},
                    "reachable": not unreachable(rec)})
    return out


@router.get("")
def list_people(request: Request, caller: Caller = Depends(api_caller)) -> dict[str, Any]:
    require(caller, "schedules:read")
    return {"people": summary(request.app.state.herald)}


@router.get("/{person_id}/contacts")
def list_contacts(person_id: str, request: Request, caller: Caller = Depends(api_caller)) -> dict[str, Any]:
    person_caller(caller, person_id, "contacts:read")
    found = people.contacts(request.app.state.herald, person_id)
    return {"person": person_id, "contacts": [people.contact_json(c) for c in found]}


@router.post("/{person_id}/contacts", status_code=201)
def add_contact(person_id: str, body: ContactRequest, request: Request,
                caller: Caller = Depends(api_caller)) -> dict[str, Any]:
    person_caller(caller, person_id, "contacts:write")
    added = people.add_contact(request.app.state.herald, person_id, body.kind, body.address, body.replaces)
    return people.contact_json(added)


@router.delete("/{person_id}/contacts/{contact}", status_code=204)
def remove_contact(person_id: str, contact: str, request: Request, caller: Caller = Depends(api_caller)) -> Response:
    person_caller(caller, person_id, "contacts:write")
    people.remove_contact(request.app.state.herald, person_id, contact)
    return Response(status_code=204)


@router.post("/{person_id}/contacts/{contact}/verify", status_code=202)
def verify_contact(person_id: str, contact: str, request: Request, body: VerifyRequest | None = None,
                   caller: Caller = Depends(api_caller)) -> dict[str, Any]:
    person_caller(caller, person_id, "contacts:write")
    herald = request.app.state.herald
    try:
        people.send_code(herald, person_id, contact, "verify", via=body.via if body else None)
    except TooManyGuesses as exc:
        raise _too_many(exc) from None
    found = people.contact(herald, person_id, contact)
    return {"contact": found.id, "sent": True, "expires_in": herald.people.code_ttl("verify", person_id, found.id)}


@router.post("/{person_id}/contacts/{contact}/confirm")
def confirm_contact(person_id: str, contact: str, body: ConfirmRequest, request: Request,
                    caller: Caller = Depends(api_caller)) -> dict[str, Any]:
    person_caller(caller, person_id, "contacts:write")
    herald = request.app.state.herald
    try:
        right = people.check_code(herald, person_id, contact, "verify", body.code)
    except TooManyGuesses as exc:
        raise _too_many(exc) from None
    if not right:
        left, _ = herald.people.guesses_left("verify", person_id, people.MAX_WRONG_CODES)
        raise Invalid(f"code: wrong or expired code; {left} more tries this hour "
                             "(ask for a new code if it has expired)", field="code")
    return people.contact_json(people.contact(herald, person_id, contact))


@router.post("/{person_id}/test-page")
def test_page(person_id: str, request: Request, body: TestPageRequest | None = None,
              caller: Caller = Depends(api_caller)) -> dict[str, Any]:
    person_caller(caller, person_id, "contacts:write")
    body = body or TestPageRequest()
    try:
        sent = people.send_test_page(request.app.state.herald, person_id, body.contact, body.via)
    except TooManyGuesses as exc:
        raise _too_many(exc) from None
    return {"person": person_id, "sent": sent}
