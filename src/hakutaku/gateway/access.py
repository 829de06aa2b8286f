"""Who may use which model, and which of its methods exist: one check for every /v1 endpoint."""

from __future__ import annotations

from hakutaku.gateway.context import Gateway
from hakutaku.gateway.errors import (
    GatewayError,
    forbidden_model,
    model_loading,
    no_worker,
    unknown_method,
    unknown_model,
)
from hakutaku.gateway.registry import ModelEntry
from hakutaku.identity.auth import Principal

# What an OpenAI-compatible upstream answers: the gateway's own endpoint families.
UPSTREAM_METHODS = frozenset({"chat_completions", "embeddings"})


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


def resolve_method(gw: Gateway, entry: ModelEntry, method: str) -> str:
    """`method` if the model offers it: 404 naming the methods it has, 503 when no worker is
    live to say (a worker's methods are known from its registration)."""
    if entry.kind == "upstream":
        if method in UPSTREAM_METHODS:
            return method
        raise GatewayError(
            404,
            f"The model '{entry.name}' is an upstream chat model; it has no remote methods. "
            "Call it with POST /v1/chat/completions.",
            type="not_found_error",
            code="method_not_found",
        )
    methods = gw.registry.methods(entry.name)
    if method in methods:
        return method
    if methods:
        raise unknown_method(entry.name, method, list(methods))
    if entry.name in gw.registry.snapshot.deployed:
        return method  # no replica up yet: the call waits for one (gateway/coldstart.py)
    if entry.name == gw.settings.chat_model:
        raise model_loading(entry.name)  # `hai up` starts it; it loads in the background
    raise no_worker(entry.name)
