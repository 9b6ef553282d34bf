"""What the routes of Herald-shaped sources share (Grafana's webhook, generic JSON): the
integration key a caller presents, and the answer to a key that is not let in, in
Herald's own ``{"detail"}`` shape. (PagerDuty's and Opsgenie's routes answer in their
own formats.)"""
from __future__ import annotations

import base64
import binascii

from fastapi import HTTPException, Request

from service.engine.sources import Admission


def integration_key(request: Request, scheme_hint: str = "Bearer") -> str:
    """The key a caller presents: a bearer token, or the password of HTTP basic auth."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            _user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise HTTPException(401, "malformed basic credentials", headers={"WWW-Authenticate": "Basic"}) from None
        if password:
            return password
    raise HTTPException(401, f"an integration key is required (Authorization: {scheme_hint} <key>, "
                             "or HTTP basic auth with the key as the password)",
                        headers={"WWW-Authenticate": scheme_hint})


def refuse(admission: Admission, kind: str) -> None:
    """Raise the answer to a key that is not let in (nothing when it is)."""
    if admission.refusal == "unknown key":
        raise HTTPException(401, "unknown integration key", headers={"WWW-Authenticate": "Bearer"})
    if admission.refusal == "other kind":
        raise HTTPException(403, f"this key belongs to an integration that is not of kind {kind}")
    if admission.refusal == "over rate":
        assert admission.integration is not None
        raise HTTPException(429, f"integration {admission.integration.name!r} is over its rate of "
                                 f"{admission.integration.rate_per_minute} events a minute",
                            headers={"Retry-After": str(admission.retry_after)})
