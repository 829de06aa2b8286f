"""The parts of OpenAI's chat.completions request the gateway itself must understand.

Everything else in the body passes through to the model untouched; validating it fully is
the model's job, so new OpenAI fields work without a gateway release.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hakutaku.gateway.body import parse_json_object, required_model
from hakutaku.gateway.errors import GatewayError


@dataclass(slots=True)
class ChatRequest:
    body: dict[str, Any]
    model: str
    stream: bool
    include_usage: bool


def parse_chat(raw: bytes) -> ChatRequest:
    body = parse_json_object(raw, "chat completion")
    model = required_model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise GatewayError(
            400,
            "'messages' is required and must be a non-empty array of {role, content} objects.",
            code="invalid_messages",
            param="messages",
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise GatewayError(
                400,
                f"messages[{i}] must be an object with a string 'role' (system, user, assistant).",
                code="invalid_messages",
                param=f"messages[{i}]",
            )
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise GatewayError(400, "'stream' must be true or false.", param="stream")
    options = body.get("stream_options") or {}
    include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
    return ChatRequest(body=body, model=model, stream=stream, include_usage=include_usage)
