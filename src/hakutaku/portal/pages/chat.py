"""The chat pages: talk to a model, keep the conversation, share it read-only.

GET /chat                  a new conversation (created on the first message)
GET /chat/{id}             one of my conversations: its latest messages, the history sidebar
GET /chat/shared/{token}   a conversation someone shared, read-only (any signed-in user)

The pages read the conversation store (hakutaku.chat.store) for the first screen only: the
sidebar's newest page and the conversation's latest page of messages, so a long history or a
500-message conversation opens as fast as a short one. Everything after that is the page's
JavaScript (static/js/chat.js) calling, as the signed-in user with the CSRF token:
`POST /v1/chat/completions` (streamed; the gateway checks, rate-limits and meters it as the
user's, exactly as for an API key) and `/api/chat/...` to keep the messages. Model output is
rendered in the browser by static/js/chat-render.js (Markdown, highlighting, KaTeX, then
DOMPurify); the server sends message text only as escaped text.

Another user's conversation is 404, as a missing one (the same answer as the API gives).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hakutaku.api.deps import ReplicaDep
from hakutaku.chat import store
from hakutaku.chat.export import conversation_record, message_record
from hakutaku.db.models import ChatConversation
from hakutaku.db.models import User as UserRow
from hakutaku.errors import NotFound
from hakutaku.gateway.registry import Registry
from hakutaku.identity.auth import Principal
from hakutaku.portal.auth import User
from hakutaku.portal.i18n import _
from hakutaku.portal.pages.models import CHAT_METHOD
from hakutaku.portal.templating import render
from hakutaku.server.replica import Replica

router = APIRouter(include_in_schema=False)

SIDEBAR_PAGE = 30
MESSAGE_PAGE = 50


@dataclass(frozen=True, slots=True)
class ChatModel:
    name: str
    description: str


def chat_models(registry: Registry, who: Principal) -> list[ChatModel]:
    """The chat models this user may use: the rule of GET /v1/models, chat-capable ones."""
    found = []
    for entry in registry.visible_models(who):
        if entry.kind == "upstream" or CHAT_METHOD in registry.methods(entry.name):
            found.append(ChatModel(entry.name, entry.description))
    return sorted(found, key=lambda m: m.name)


def _first_screen(replica: Replica, who: Principal, conversation_id: int | None) -> dict[str, Any]:
    """What the page shows before its script runs (blocking: one short session)."""
    with replica.db.session() as s:
        page = store.listing(s, who, limit=SIDEBAR_PAGE)
        history = [conversation_record(c) for c in page.conversations]
        if conversation_id is None:
            return {"history": history, "history_next": page.next, "conversation": None}
        row = store.get(s, who, conversation_id)
        messages = store.messages(s, row, limit=MESSAGE_PAGE)
        return {
            "history": history,
            "history_next": page.next,
            "conversation": conversation_record(row),
            "messages": [message_record(m) for m in messages.messages],
            "has_earlier": messages.has_earlier,
        }


def _shared_screen(replica: Replica, token: str) -> dict[str, Any]:
    with replica.db.session() as s:
        row: ChatConversation = store.shared(s, token)
        owner = s.get(UserRow, row.user_id)
        messages = store.messages(s, row, limit=MESSAGE_PAGE)
        return {
            "conversation": conversation_record(row),
            "owner": owner.name if owner else "",
            "messages": [message_record(m, token) for m in messages.messages],
            "has_earlier": messages.has_earlier,
        }


def _not_found(request: Request, exc: NotFound) -> Response:
    return render(request, "error.html", {"title": _("Not found"), "message": exc.message}, 404)


def _page(request: Request, replica: Replica, user: Any, screen: dict[str, Any]) -> Response:
    models = chat_models(replica.gateway.registry, user.principal)
    conversation = screen["conversation"]
    names = {m.name for m in models}
    # the conversation's model, else the operator's default (HAI_CHAT_MODEL), else the first
    chosen = conversation["model"] if conversation else None
    if chosen not in names:
        default = replica.settings.chat_model
        chosen = default if default in names else (models[0].name if models else None)
    return render(request, "chat/chat.html", {**screen, "models": models, "chosen": chosen})


@router.get("/chat")
async def new_chat(request: Request, replica: ReplicaDep, user: User) -> Response:
    screen = await asyncio.to_thread(_first_screen, replica, user.principal, None)
    return _page(request, replica, user, screen)


@router.get("/chat/shared/{token}")
async def shared_chat(request: Request, replica: ReplicaDep, user: User, token: str) -> Response:
    try:
        screen = await asyncio.to_thread(_shared_screen, replica, token)
    except NotFound as exc:
        return _not_found(request, exc)
    return render(request, "chat/shared.html", {**screen, "token": token})


@router.get("/chat/{conversation_id}")
async def one_chat(
    request: Request, replica: ReplicaDep, user: User, conversation_id: str
) -> Response:
    if not conversation_id.isdigit():
        return _not_found(request, store.not_found(conversation_id))
    try:
        screen = await asyncio.to_thread(
            _first_screen, replica, user.principal, int(conversation_id)
        )
    except NotFound as exc:
        return _not_found(request, exc)
    return _page(request, replica, user, screen)
