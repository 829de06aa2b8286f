"""Resolve an API key to a principal, with a short-lived per-replica cache.

The request path must not touch the database for every call, so a checked key is trusted for
`key_cache_ttl` seconds (revocation through this replica takes effect at once; through another
replica or the CLI, within the TTL). Last-used times are collected here and written in batches
by the usage recorder.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hakutaku.db.models import ApiKey
from hakutaku.db.session import Database
from hakutaku.errors import Forbidden, Unauthorized
from hakutaku.identity.keys import split_prefix, verify_key

MAX_CACHE = 50_000
NEGATIVE_TTL = 1.0


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: int
    user_id: int
    user: str
    role: str
    groups: frozenset[str]
    rate_limit: int | None = None  # the key's own calls per minute, if it has one
    session_id: int | None = None  # a signed-in portal browser (key_id is then 0)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _bad_key(reason: str) -> Unauthorized:
    return Unauthorized(
        f"{reason}. Send a valid key as 'Authorization: Bearer hai-...'; "
        "create one with `hai keys create USER` or ask an admin",
    )


class KeyAuthenticator:
    def __init__(
        self, db: Database, server_secret: bytes, ttl: float, session_idle: float = 86400.0
    ) -> None:
        self.db = db
        self.server_secret = server_secret
        self.ttl = ttl
        self.session_idle = timedelta(seconds=session_idle)
        self._cache: dict[str, tuple[float, Principal | Unauthorized]] = {}
        self.last_used: dict[int, datetime] = {}

    def cached(self, key: str) -> Principal | None:
        """The principal for a key if the cache holds a fresh answer; raises a cached refusal."""
        hit = self._cache.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        answer = hit[1]
        if isinstance(answer, Unauthorized):
            raise answer
        self.last_used[answer.key_id] = datetime.now(UTC)
        return answer

    def lookup(self, key: str) -> Principal:
        """Check a key against the database (blocking; run it in a thread) and cache the answer."""
        try:
            principal = self._check(key)
        except Unauthorized as refusal:
            self._remember(key, refusal, NEGATIVE_TTL)
            raise
        self._remember(key, principal, self.ttl)
        self.last_used[principal.key_id] = datetime.now(UTC)
        return principal

    def session(self, token: str, csrf: str | None, unsafe: bool) -> Principal:
        """The Principal of a portal session cookie (blocking; run it in a thread).

        The portal's own pages call /api and /v1 with their cookie instead of a key; a call
        that changes something must repeat the session's CSRF token (X-CSRF-Token), so that
        another site cannot make the browser do it. Not cached: revocation is immediate.
        """
        from hakutaku.identity.sessions import find_session, principal_of

        with self.db.session() as s:
            row = find_session(s, self.server_secret, token, self.session_idle)
            if row is None:
                raise Unauthorized(
                    "Your portal session has ended; sign in again.", code="session_expired"
                )
            if unsafe and not (csrf and hmac.compare_digest(csrf, row.csrf_token)):
                raise Forbidden(
                    "This request needs the page's CSRF token (X-CSRF-Token header); reload "
                    "the page and try again.",
                    code="csrf_failed",
                )
            return principal_of(row)

    def forget_key(self, key_id: int) -> None:
        for k, (_, answer) in list(self._cache.items()):
            if isinstance(answer, Principal) and answer.key_id == key_id:
                del self._cache[k]

    def forget_user(self, user_id: int) -> None:
        for k, (_, answer) in list(self._cache.items()):
            if isinstance(answer, Principal) and answer.user_id == user_id:
                del self._cache[k]

    def take_last_used(self) -> dict[int, datetime]:
        taken, self.last_used = self.last_used, {}
        return taken

    def restore_last_used(self, taken: dict[int, datetime]) -> None:
        """Put back times a failed write could not store (newer ones already seen win)."""
        for key_id, when in taken.items():
            self.last_used.setdefault(key_id, when)

    def _remember(self, key: str, answer: Principal | Unauthorized, ttl: float) -> None:
        if len(self._cache) >= MAX_CACHE:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + ttl, answer)

    def _check(self, key: str) -> Principal:
        prefix = split_prefix(key)
        if prefix is None:
            raise _bad_key("Malformed API key (expected 'hai-<prefix>.<secret>')")
        with self.db.session() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
            if row is None or not verify_key(self.server_secret, key, row.secret_hash):
                raise _bad_key("Incorrect API key provided")
            if row.revoked_at is not None:
                raise _bad_key(f"API key hai-{prefix}… was revoked")
            expires = row.expires_at
            if expires is not None and expires <= datetime.now(UTC):
                raise _bad_key(f"API key hai-{prefix}… expired at {expires.isoformat()}")
            user = row.user
            if user.disabled:
                raise _bad_key(f"user {user.name!r} is disabled")
            return Principal(
                key_id=row.id,
                user_id=user.id,
                user=user.name,
                role=user.role,
                groups=frozenset(g.name for g in user.groups),
                rate_limit=row.rate_limit,
            )
