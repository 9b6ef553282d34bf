"""OpenID Connect, the authorization code flow with PKCE, through ``authlib``.

Herald is a confidential client of the organisation's provider (``signin.oidc`` in the
configuration). ``begin`` answers the provider's authorization URL and what the browser's
session must keep until it comes back (state, nonce, PKCE verifier); ``finish`` trades the
code for tokens at the provider's token endpoint and answers the ID token's claims once
authlib has checked its signature (the provider's published keys), issuer, audience,
expiry and nonce. The provider's metadata comes from ``<issuer>/.well-known/openid-configuration``
and must name the configured issuer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.integrations.base_client.sync_app import BaseApp, OAuth2Mixin
from authlib.integrations.base_client.sync_openid import OpenIDMixin
from authlib.integrations.httpx_client import OAuth2Client

from integrations.config.signin_section import OidcSpec

TIMEOUT_SECONDS = 10.0
SCOPE = "openid email profile"


class OidcError(Exception):
    """The provider refused, could not be reached, or answered something that does not check out."""


class _Provider(OAuth2Mixin, OpenIDMixin, BaseApp):
    client_cls = OAuth2Client


@dataclass(frozen=True)
class Pending:
    """What the browser's session keeps between ``begin`` and ``finish``."""

    state: str
    nonce: str
    verifier: str


def _provider(spec: OidcSpec) -> _Provider:
    return _Provider(None, name="oidc", client_id=spec.client_id, client_secret=spec.client_secret(),
                     server_metadata_url=f"{spec.issuer}/.well-known/openid-configuration",
                     client_kwargs={"scope": SCOPE, "code_challenge_method": "S256", "timeout": TIMEOUT_SECONDS})


def _metadata(provider: _Provider, spec: OidcSpec) -> dict[str, Any]:
    try:
        metadata = provider.load_server_metadata()
    except Exception as exc:  # httpx errors, a non-JSON answer, a 5xx
        raise OidcError(f"the provider's metadata could not be read: {exc}") from None
    if str(metadata.get("issuer", "")).rstrip("/") != spec.issuer:
        raise OidcError(f"the provider's metadata names issuer {metadata.get('issuer')!r}, not {spec.issuer!r}")
    return metadata


def begin(spec: OidcSpec, redirect_uri: str) -> tuple[str, Pending]:
    """The provider's authorization URL to send the browser to, and what to keep meanwhile."""
    provider = _provider(spec)
    _metadata(provider, spec)
    try:
        found = provider.create_authorization_url(redirect_uri)
    except Exception as exc:
        raise OidcError(f"no authorization URL: {exc}") from None
    return found["url"], Pending(found["state"], found["nonce"], found["code_verifier"])


def finish(spec: OidcSpec, redirect_uri: str, code: str, pending: Pending) -> dict[str, Any]:
    """The checked ID token's claims for the ``code`` the provider sent back."""
    provider = _provider(spec)
    _metadata(provider, spec)
    try:
        token = provider.fetch_access_token(redirect_uri=redirect_uri, code=code, code_verifier=pending.verifier)
    except Exception as exc:
        raise OidcError(f"the provider refused the code: {exc}") from None
    if "id_token" not in token:
        raise OidcError("the provider's answer has no ID token")
    try:
        claims = provider.parse_id_token(token, nonce=pending.nonce)
    except Exception as exc:  # a bad signature, issuer, audience, expiry or nonce
        raise OidcError(f"the ID token does not check out: {exc}") from None
    return dict(claims)
