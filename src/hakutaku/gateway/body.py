"""Parsing the JSON bodies of OpenAI-style requests, with errors that say what to send."""

from __future__ import annotations

from typing import Any

import orjson

from hakutaku.gateway.errors import GatewayError, bad_request


def parse_json_object(raw: bytes, what: str) -> dict[str, Any]:
    if not raw:
        raise bad_request(f"The {what} request has an empty body; send a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(
            f"The {what} request body is not valid JSON ({exc}). Send a JSON object with "
            "'Content-Type: application/json'."
        ) from exc
    if not isinstance(body, dict):
        raise bad_request(
            f"The {what} request body must be a JSON object, not {type(body).__name__}."
        )
    return body


def required_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise GatewayError(
            400,
            "'model' is required and must be a non-empty string; list models with GET /v1/models.",
            code="invalid_model",
            param="model",
        )
    return model
