"""OpenID Connect sign-in (the authorization code flow with PKCE), on Authlib and joserfc.

The provider is found by discovery (`{issuer}/.well-known/openid-configuration`, cached); the
ID token's signature, issuer, audience, expiry and nonce are checked against the provider's
keys; the userinfo endpoint fills in claims the token lacks. The state, nonce and PKCE
verifier of a sign-in travel in the signed `hai_pre` cookie, never in server memory, so the
callback may reach any replica.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from hakutaku.config import Settings
from hakutaku.errors import PlatformError
from hakutaku.identity.sso import SsoIdentity

DISCOVERY_TTL = 3600.0
_NAME_JUNK = re.compile(r"[^A-Za-z0-9._-]+")


class SignInFailed(PlatformError):
    status = 401
    type = "authentication_error"
    code = "sso_failed"


@dataclass(frozen=True)
class Started:
    url: str
    state: str
    nonce: str
    verifier: str


class OidcProvider:
    """One configured provider (HAI_OIDC_*); its metadata and keys are cached per replica."""

    def __init__(self, settings: Settings) -> None:
        assert settings.oidc_issuer and settings.oidc_client_id
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        self.client_secret = settings.oidc_client_secret
        self.scopes = settings.oidc_scopes
        self.username_claim = settings.oidc_username_claim
        self.groups_claim = settings.oidc_groups_claim
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._fetched = 0.0

    def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            scope=self.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=15.0,
        )

    async def metadata(self, refresh: bool = False) -> dict[str, Any]:
        if self._metadata is None or refresh or time.monotonic() - self._fetched > DISCOVERY_TTL:
            try:
                async with httpx.AsyncClient(timeout=15.0) as http:
                    found = (
                        (await http.get(f"{self.issuer}/.well-known/openid-configuration"))
                        .raise_for_status()
                        .json()
                    )
                    keys = (await http.get(found["jwks_uri"])).raise_for_status().json()
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                raise SignInFailed(
                    f"The sign-in provider at {self.issuer} cannot be reached ({exc}). Try "
                    "again later, or sign in with your password.",
                ) from exc
            self._metadata, self._keys = found, KeySet.import_key_set(keys)
            self._fetched = time.monotonic()
        return self._metadata

    async def start(self, redirect_uri: str) -> Started:
        meta = await self.metadata()
        nonce = secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        async with self._client(redirect_uri) as client:
            url, state = client.create_authorization_url(
                meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
            )
        return Started(url, state, nonce, verifier)

    async def finish(self, code: str, redirect_uri: str, verifier: str, nonce: str) -> SsoIdentity:
        meta = await self.metadata()
        async with self._client(redirect_uri) as client:
            try:
                token = await client.fetch_token(
                    meta["token_endpoint"], code=code, code_verifier=verifier
                )
            except Exception as exc:  # authlib raises its own OAuthError and httpx's errors
                raise SignInFailed(f"The sign-in provider refused the sign-in: {exc}.") from exc
            claims = self._verified_claims(str(token.get("id_token", "")), nonce)
            if "userinfo_endpoint" in meta:
                try:
                    info = (await client.get(meta["userinfo_endpoint"])).raise_for_status()
                    extra = info.json()
                except (httpx.HTTPError, ValueError):
                    extra = {}
                if isinstance(extra, dict) and extra.get("sub") == claims.get("sub"):
                    claims = {**extra, **claims}
        return self._identity(claims)

    def _verified_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        assert self._keys is not None
        try:
            decoded = jwt.decode(id_token, self._keys)
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                nonce={"essential": True, "value": nonce},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise SignInFailed(
                f"The sign-in provider's ID token did not check out ({exc}); sign in again."
            ) from exc
        return dict(decoded.claims)

    def _identity(self, claims: dict[str, Any]) -> SsoIdentity:
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        wanted = claims.get(self.username_claim)
        if not isinstance(wanted, str) or not wanted:
            wanted = email.split("@", 1)[0] if email else str(claims["sub"])
        groups: list[str] = []
        if self.groups_claim:
            raw = claims.get(self.groups_claim)
            if isinstance(raw, list):
                groups = [g for g in (username_of(str(x)) for x in raw) if g]
        return SsoIdentity(self.issuer, str(claims["sub"]), username_of(wanted), email, groups)


def username_of(wanted: str) -> str:
    """A platform user (or group) name from a claim: letters, digits, '.', '_', '-'; ≤ 64."""
    name = _NAME_JUNK.sub("-", wanted.strip()).strip("-._")[:64]
    return name
