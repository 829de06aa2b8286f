"""Who may use which model: one check shared by every /v1 endpoint."""

from __future__ import annotations

from hakutaku.gateway.context import Gateway
from hakutaku.gateway.errors import forbidden_model, unknown_model
from hakutaku.gateway.registry import ModelEntry
from hakutaku.identity.auth import Principal


def permitted_model(gw: Gateway, who: Principal, name: str) -> ModelEntry:
    """The model if it exists and `who` may use it; 404 when unknown, 403 when not permitted.

    403 (not 404) tells the caller the model exists and whom to ask; admins may use any model.
    """
    entry = gw.registry.model(name)
    if entry is None:
        raise unknown_model(name)
    if not entry.permits(who):
        raise forbidden_model(name)
    return entry
