"""YAML sections for personal sign-in to the console: ``roles`` and ``signin``.

``roles`` maps a person's id to what the console lets them do once signed in personally
(``responder``, ``manager`` or ``admin``; anyone not listed is a responder). ``signin``
says how people sign in: a one-time code sent to one of their contacts (``code``, on by
default) and, where the organisation has one, OpenID Connect (``oidc``). The OIDC client
secret is never in the file: ``client_secret_env`` names the environment variable that
holds it, checked when the file loads. Errors name the field (``model.py`` adds the file).
"""
from __future__ import annotations

import os
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

ROLES = ("responder", "manager", "admin")
Role = Literal["responder", "manager", "admin"]
DEFAULT_ROLE = "responder"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OidcSpec(_Strict):
    """An OpenID Connect provider: Herald is a confidential client (authorization code flow)."""

    issuer: str
    client_id: str = Field(min_length=1)
    client_secret_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    email_claim: str = Field("email", min_length=1)

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        parts = urlsplit(value)
        if not parts.netloc or parts.query or parts.fragment:
            raise ValueError("an issuer is an https:// URL without a query or fragment")
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK):
            raise ValueError("an issuer must use https:// (http:// only on the loopback address, for tests)")
        return value.rstrip("/")

    def client_secret(self) -> str:
        return os.environ.get(self.client_secret_env, "")


class SigninSpec(_Strict):
    code: bool = True  # one-time codes sent to a person's contact
    oidc: OidcSpec | None = None


def check_signin(spec: SigninSpec | None, roles: dict[str, str], people: set[str]) -> None:
    """What the models cannot check alone: roles name people; the OIDC secret is set."""
    for person in roles:
        if person not in people:
            raise ValueError(f"roles.{person}: no person with id {person!r}")
    if spec is not None and spec.oidc is not None and not spec.oidc.client_secret():
        raise ValueError(f"signin.oidc.client_secret_env: the environment variable "
                         f"{spec.oidc.client_secret_env} is not set")
