"""Who may use which model: one check shared by every /v1 endpoint."""

from __future__ import annotations

from hakutaku.gateway.context import Gateway
from hakutaku.gateway.errors import forbidden_model, unknown_model
from hakutaku.gateway.registry import ModelEntry
from hakutaku.identity.auth import Principal


def permitted_model(gw: Gateway, who: Principal, name: str) -> ModelEntry:
    """The model if it exists and `who` may use it; 404 or 403 otherwise.

    A private model the caller may not use is reported as 403 only to callers who can see
    it is there at all (admins see everything, so for them it is never refused).
    """
    entry = gw.registry.model(name)
    if entry is None:
        raise unknown_model(name)
    if not entry.permits(who):
        raise forbidden_model(name)
    return entry
