"""Whose usage and bills a caller may read: one rule for /api/usage/... and the portal.

Admins read anyone's; a user reads their own and those of the groups (accounts) they belong
to. The refusals name what to do, and the portal shows them as they are.
"""

from __future__ import annotations

from hakutaku.errors import Forbidden
from hakutaku.identity.auth import Principal


def readable_scope(
    who: Principal, user: str | None, account: str | None
) -> tuple[str | None, str | None]:
    """(user, account) to read: admins as asked (None, None: the whole platform); users
    themselves, or one of their groups."""
    if who.is_admin:
        return user, account
    if user not in (None, who.user):
        raise Forbidden("Only admins may read other users' usage.")
    if account is not None:
        if account not in who.groups:
            raise Forbidden(f"You are not a member of {account!r}; ask an admin.")
        return user, account
    return who.user, None


def own_calls_scope(who: Principal, user: str | None) -> str | None:
    """Whose model calls (usage events) to read: yours; admins a user's or (None) everyone's.

    Calls carry no group, so there is no group view of them."""
    if not who.is_admin and user not in (None, who.user):
        raise Forbidden("Only admins may read other users' usage.")
    return user if who.is_admin else who.user
