"""Local passwords for the portal: argon2id hashes (argon2-cffi), never the password itself.

The parameters are argon2-cffi's defaults (RFC 9106's low-memory profile); a hash made with
older parameters is re-made at the next successful sign-in.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hakutaku.db.models import User, utcnow
from hakutaku.errors import PlatformError

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 takes any length; a cap keeps a sign-in from costing a megabyte hash

_hasher = PasswordHasher()
# Verified against when the user is unknown or has no password, so that a sign-in takes as
# long for a name that does not exist as for a wrong password.
_DUMMY_HASH = _hasher.hash("not a password anyone has")


class WeakPassword(PlatformError):
    code = "weak_password"


def check_strength(password: str, user: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(
            f"The password is too short: use at least {MIN_LENGTH} characters "
            "(a few words make a good one).",
            param="password",
        )
    if len(password) > MAX_LENGTH:
        raise WeakPassword(
            f"The password is longer than {MAX_LENGTH} characters.", param="password"
        )
    if password.lower() == user.lower():
        raise WeakPassword("The password must not be the user name.", param="password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored`; constant work when there is no stored hash."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)


def set_password(user: User, password: str) -> None:
    check_strength(password, user.name)
    user.password_hash = hash_password(password)
    user.password_set_at = utcnow()


def check_password(user: User | None, password: str) -> bool:
    """Whether `user` (None: unknown) signs in with `password`; upgrades an old hash."""
    stored = user.password_hash if user is not None else None
    if not verify_password(stored, password) or user is None or stored is None:
        return False
    if needs_rehash(stored):
        user.password_hash = hash_password(password)
    return True
