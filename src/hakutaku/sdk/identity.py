"""`client.users` and `client.keys`: who may use the platform, and with which keys.

client.users.add("alice", groups=["cms"])          # admin
created = client.keys.create("alice", name="laptop")
created["key"]                                     # the secret, in this response only
client.keys.revoke(created["id"])
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime

from hakutaku.sdk._resource import Record, Resource, query, segment


class Users(Resource):
    """`/api/users` (admin) and `/api/me`. A user record: `id`, `name`, `role`, `email`,
    `disabled`, `groups`, `created_at`."""

    def me(self) -> Record:
        """Your own user (GET /api/me); any key."""
        return self._client._object("GET", "/api/me")

    def list(self) -> builtins.list[Record]:
        """Every user (GET /api/users)."""
        return self._client._objects("GET", "/api/users")

    def get(self, name: str) -> Record:
        """One user (GET /api/users/{name}); 404 `not_found` when there is none."""
        return self._client._object("GET", f"/api/users/{segment(name)}")

    def add(
        self,
        name: str,
        *,
        role: str = "user",
        groups: Sequence[str] = (),
        email: str | None = None,
    ) -> Record:
        """Add a user (POST /api/users); `role` is `user` or `admin`. 409 `conflict` when the
        name is taken."""
        body = {"name": name, "role": role, "groups": builtins.list(groups), "email": email}
        return self._client._object("POST", "/api/users", json=body)

    def update(
        self,
        name: str,
        *,
        disabled: bool | None = None,
        groups: Sequence[str] | None = None,
        role: str | None = None,
    ) -> Record:
        """Change what is given (PATCH /api/users/{name}); `groups` replaces the groups."""
        body: Record = {}
        if disabled is not None:
            body["disabled"] = disabled
        if groups is not None:
            body["groups"] = builtins.list(groups)
        if role is not None:
            body["role"] = role
        return self._client._object("PATCH", f"/api/users/{segment(name)}", json=body)

    def disable(self, name: str) -> Record:
        """Disable a user: their keys stop working."""
        return self.update(name, disabled=True)

    def enable(self, name: str) -> Record:
        """Enable a disabled user again."""
        return self.update(name, disabled=False)

    def set_password(self, name: str, password: str, current: str | None = None) -> None:
        """Set a portal password (PUT /api/users/{name}/password): admins for anyone, a user
        for themselves with `current` when they have one. Signs the user's browsers out."""
        body = {"password": password, "current_password": current}
        self._client._request("PUT", f"/api/users/{segment(name)}/password", json=body)

    def login_link(self, name: str, hours: float = 24.0) -> Record:
        """A one-time portal sign-in link for a user (admin): `url`, `expires_at`."""
        path = f"/api/users/{segment(name)}/login-link"
        return self._client._object("POST", path, params=query(hours=hours))


class Keys(Resource):
    """`/api/keys`. A key record: `id`, `prefix`, `user`, `name`, `created_at`, `expires_at`,
    `revoked_at`, `last_used_at`, `rate_limit`; secrets are never listed. A key is named by
    its id or its prefix."""

    def list(self, user: str | None = None) -> builtins.list[Record]:
        """Your keys; admins: a user's, or every key without `user` (GET /api/keys)."""
        return self._client._objects("GET", "/api/keys", params=query(user=user))

    def create(
        self,
        user: str | None = None,
        *,
        name: str = "",
        expires_at: datetime | str | None = None,
        rate_limit: int | None = None,
    ) -> Record:
        """Create a key (POST /api/keys) for yourself, or (admins) for `user`. The record has
        `key`, the secret, shown only in this response. `rate_limit` (admins) is model calls
        per minute; default the platform's `HAI_RATE_LIMIT`."""
        expires = expires_at.isoformat() if isinstance(expires_at, datetime) else expires_at
        body = {"user": user, "name": name, "expires_at": expires, "rate_limit": rate_limit}
        return self._client._object("POST", "/api/keys", json=body)

    def set_rate_limit(self, key: str | int, per_minute: int | None) -> Record:
        """Give a key its own limit of model calls per minute, or (None) the platform's
        default again (PATCH /api/keys/{key}; admin)."""
        path = f"/api/keys/{segment(key)}"
        return self._client._object("PATCH", path, json={"rate_limit": per_minute})

    def revoke(self, key: str | int) -> Record:
        """Revoke a key (DELETE /api/keys/{key}): yours, or (admins) anyone's. It stops
        working at once; returns its record."""
        return self._client._object("DELETE", f"/api/keys/{segment(key)}")
