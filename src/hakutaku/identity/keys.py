"""API key format and hashing.

A key looks like `hai-<prefix>.<secret>`. The prefix (public, unique) finds the row; the
database keeps only HMAC-SHA256(server secret, whole key), so a leaked database does not
leak usable keys, and comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_SCHEME = "hai-"
PREFIX_BYTES = 6  # 8 url-safe characters
SECRET_BYTES = 32


@dataclass(frozen=True)
class NewKey:
    prefix: str
    secret: str  # the whole key, shown once

    @property
    def display(self) -> str:
        return f"{KEY_SCHEME}{self.prefix}…"


def generate_key() -> NewKey:
    prefix = (
        secrets.token_urlsafe(PREFIX_BYTES).replace("-", "x").replace("_", "y").replace(".", "z")
    )
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return NewKey(prefix=prefix, secret=f"{KEY_SCHEME}{prefix}.{secret}")


def split_prefix(key: str) -> str | None:
    """The public prefix of a well-formed key, else None."""
    if not key.startswith(KEY_SCHEME):
        return None
    prefix, dot, rest = key[len(KEY_SCHEME) :].partition(".")
    if not dot or not prefix or not rest or len(prefix) > 32:
        return None
    return prefix


def hash_key(server_secret: bytes, key: str) -> str:
    return hmac.new(server_secret, key.encode(), hashlib.sha256).hexdigest()


def verify_key(server_secret: bytes, key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(server_secret, key), stored_hash)
