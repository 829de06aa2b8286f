"""The models pages: the models I may use, one model with its methods, and a playground.

GET /models          the models my user may use — the rule of GET /v1/models (the gateway
                     registry's `visible_models`): kind, live workers, methods, description
GET /models/{name}   one model (names may hold '/'): its methods with parameters and docs,
                     how to call it, and the playground — 404/403 as GET /v1/models/{name}

Both read the gateway's registry snapshot only (no database, no worker). The playground's
JavaScript (static/js/models.js) calls /v1 itself with the session cookie and the CSRF token,
so a playground call is an ordinary gateway call: the same checks, rate limit and metering
(recorded as the user's). Chat models are listed; chatting is another page's work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hakutaku.api.deps import ReplicaDep
from hakutaku.errors import PlatformError
from hakutaku.gateway.access import permitted_model
from hakutaku.gateway.registry import ModelEntry, Registry
from hakutaku.portal.auth import User
from hakutaku.portal.i18n import _
from hakutaku.portal.templating import render

router = APIRouter(include_in_schema=False)

CHAT_METHOD = "chat_completions"
EMBEDDINGS_METHOD = "embeddings"
STREAMING_KINDS = frozenset({"generator", "asyncgen"})
EMBEDDINGS_EXAMPLE = {"input": ["A top quark decays to a W boson and a b quark."]}


@dataclass(frozen=True, slots=True)
class MethodView:
    name: str
    kind: str  # sync | async | generator | asyncgen, as the worker registered it
    params: list[str]
    doc: str

    @property
    def streams(self) -> bool:
        return self.kind in STREAMING_KINDS


@dataclass(frozen=True, slots=True)
class PlaygroundCall:
    """One choice of the playground: what the browser POSTs, and a body to start from."""

    key: str  # the <option> value
    label: str
    path: str  # /v1/embeddings or /v1/models/<model>/<method>
    template: str  # JSON shown in the textarea
    embeddings: bool  # the body gets `model` added (POST /v1/embeddings)


@dataclass(frozen=True, slots=True)
class ModelView:
    name: str
    kind: str  # worker | upstream
    description: str
    workers: int  # live workers (0 for upstreams: they have none)
    methods: list[MethodView]

    @property
    def href(self) -> str:
        return "/models/" + quote(self.name, safe="/:@")

    @property
    def chat(self) -> bool:
        return self.kind == "upstream" or any(m.name == CHAT_METHOD for m in self.methods)

    @property
    def embeddings(self) -> bool:
        return any(m.name == EMBEDDINGS_METHOD for m in self.methods)

    @property
    def uses(self) -> list[str]:
        """What the model is for, in words: chat, embeddings, remote methods."""
        found = []
        if self.chat:
            found.append(_("chat"))
        if self.embeddings:
            found.append(_("embeddings"))
        if any(m.name not in (CHAT_METHOD, EMBEDDINGS_METHOD) for m in self.methods):
            found.append(_("remote methods"))
        return found

    def playground(self) -> list[PlaygroundCall]:
        calls = []
        if self.kind == "upstream" or self.embeddings:
            body = json.dumps(EMBEDDINGS_EXAMPLE, indent=2)
            calls.append(
                PlaygroundCall(
                    EMBEDDINGS_METHOD,
                    _("Embeddings — POST /v1/embeddings"),
                    "/v1/embeddings",
                    body,
                    True,
                )
            )
        # one-value methods first: the page opens on a call that answers at once
        for method in sorted(self.methods, key=lambda m: (m.streams, m.name)):
            if method.name in (CHAT_METHOD, EMBEDDINGS_METHOD):
                continue  # chat has its own page; embeddings go through /v1/embeddings
            path = f"/v1/models/{quote(self.name, safe='/:@')}/{quote(method.name, safe='')}"
            body = json.dumps({p: None for p in method.params}, indent=2)
            calls.append(
                PlaygroundCall(method.name, f"{method.name} — POST {path}", path, body, False)
            )
        return calls


def model_view(entry: ModelEntry, registry: Registry) -> ModelView:
    methods: list[MethodView] = []
    if entry.kind == "worker":
        for name, info in sorted(registry.methods(entry.name).items()):
            methods.append(_method_view(name, info))
    return ModelView(
        name=entry.name,
        kind=entry.kind,
        description=entry.description,
        workers=len(registry.workers(entry.name)) if entry.kind == "worker" else 0,
        methods=methods,
    )


def _method_view(name: str, info: Any) -> MethodView:
    # What a worker registered is data, not code: read it defensively.
    info = info if isinstance(info, dict) else {}
    params = info.get("params")
    return MethodView(
        name=str(name),
        kind=str(info.get("kind") or "sync"),
        params=[str(p) for p in params] if isinstance(params, list) else [],
        doc=str(info.get("doc") or ""),
    )


@router.get("/models")
async def models_list(request: Request, replica: ReplicaDep, user: User) -> Response:
    registry = replica.gateway.registry
    visible = sorted(registry.visible_models(user.principal), key=lambda m: m.name)
    return render(
        request, "models/list.html", {"models": [model_view(m, registry) for m in visible]}
    )


@router.get("/models/{name:path}")
async def model_page(request: Request, replica: ReplicaDep, user: User, name: str) -> Response:
    gateway = replica.gateway
    try:
        entry = permitted_model(gateway, user.principal, name)
    except PlatformError as exc:
        title = _("Not found") if exc.status == 404 else _("Not allowed")
        return render(request, "error.html", {"title": title, "message": exc.message}, exc.status)
    view = model_view(entry, gateway.registry)
    calls = view.playground()
    return render(
        request,
        "models/model.html",
        {
            "model": view,
            "calls": calls,
            "base_url": str(request.base_url).rstrip("/"),
            "first_call": calls[0] if calls else None,
        },
    )
