"""``GET/PUT /api/v1/people/{id}/rules``: a person's own notification rules.

Anyone with a write token may read and change anyone's rules; a person signed in to the
console (issue 20's personal sign-in) may read and change their own. The body is
``routing.personal_rules.PersonalRules``: steps per urgency (``high``, ``low``), each a
channel and a delay in minutes; an urgency with no steps keeps the policy's channels.
A wrong body is a 422 naming the field, and nothing is written.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request

from routing.errors import Invalid, NotFound
from routing.personal_rules import PersonalRules
from service.api.auth import authenticate
from service.api.console_identity import signed_in

router = APIRouter(prefix="/api/v1/people", tags=["people"])


def _signed_in(request: Request) -> tuple[str, str] | None:
    """(person, role) of the person signed in to the console on this request, if any."""
    who = signed_in(request)
    return (who.person, who.role) if who is not None else None


def may_edit(request: Request, person: str) -> str:
    """Who is asking, for ``person``'s rules: a write token's name, or a person signed in
    to the console — for their own rules, or anyone's with the admin role. 401 without a
    credential, 403 for someone else's."""
    if not request.headers.get("authorization"):
        found = _signed_in(request)
        if found is not None:
            me, role = found
            if me != person and role != "admin":
                raise HTTPException(403, f"you are signed in as {me}: you may change only your own rules")
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if request.method != "GET" and content_type != "application/json":
                # The session cookie rides along with a cross-site form post; a JSON body does not.
                raise HTTPException(415, "content-type: send the rules as JSON (application/json)")
            return me
    caller = authenticate(request, request.app.state.herald.settings)
    if not caller.allows("write"):
        raise HTTPException(403, "this API token lacks the write scope")
    return caller.name


def _known(request: Request, person: str) -> None:
    if person not in request.app.state.herald.config.people:
        raise NotFound(f"id: no person {person!r}", field="id")


def _out(person: str, rules: PersonalRules | None, urgency: Any) -> dict[str, Any]:
    rules = rules or PersonalRules()
    return {"person": person, **rules.model_dump(mode="json"),
            "urgency": {"high": list(urgency.high), "low": list(urgency.low)},
            "uses_policy_channels": [u for u in ("high", "low") if not rules.steps(u)]}


@router.get("/{person}/rules")
def get_rules(person: str, request: Request, _who: str = Depends(may_edit)) -> dict[str, Any]:
    """The person's rules per urgency (an empty urgency: the policy's channels)."""
    _known(request, person)
    herald = request.app.state.herald
    return _out(person, herald.rules.get(person), herald.config.urgency)


@router.put("/{person}/rules")
def put_rules(person: str, body: PersonalRules, request: Request, _who: str = Depends(may_edit)) -> dict[str, Any]:
    """Replace the person's rules; ``{"high": [], "low": []}`` removes them. Pages already
    decided keep the rules they were decided with; the next page follows the new ones.
    (The credential is checked first, as a dependency: before the body is.)"""
    _known(request, person)
    herald = request.app.state.herald
    slack = getattr(herald.config, "slack", None)
    where = body.where("slack")
    if where is not None and not (slack is not None and slack.dm_paging):
        raise Invalid(f"{where}: Slack DMs are not a paging channel here (the configuration's slack section "
                      "has no dm_paging: true)", field=where)
    herald.rules.set(person, body)
    return _out(person, herald.rules.get(person), herald.config.urgency)
