"""HTTP for `POST /v1/chat/completions` (SSE streaming and not)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp

from hakutaku.gateway.context import Gateway
from hakutaku.gateway.handler import Parsed, handle_call
from hakutaku.gateway.openai_chat.protocol import parse_chat
from hakutaku.gateway.openai_chat.service import METHOD, complete


def _parse(_gw: Gateway, _request: Request, body: bytes) -> Parsed:
    chat = parse_chat(body)
    return Parsed(chat.model, METHOD, lambda gw, call, entry: complete(gw, call, entry, chat))


async def chat_completions(request: Request) -> ASGIApp:
    return await handle_call(request, "chat", _parse)
