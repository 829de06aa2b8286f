"""Errors the SDK raises: one class carrying the platform's OpenAI-shaped error."""

from __future__ import annotations

from typing import Any

import httpx


class APIError(Exception):
    """The platform answered with an error; `status`, `type`, `code` and `message` say which."""

    def __init__(self, status: int, message: str, type: str = "", code: str | None = None) -> None:
        super().__init__(f"{status} {type or 'error'}: {message}")
        self.status = status
        self.message = message
        self.type = type
        self.code = code


class ConnectionFailed(APIError):
    """The platform could not be reached at all."""


def from_response(response: httpx.Response) -> APIError:
    try:
        body: Any = response.json()
        err = body.get("error") if isinstance(body, dict) else None
    except ValueError:
        err = None
    if isinstance(err, dict):
        return APIError(
            response.status_code,
            str(err.get("message", "")),
            str(err.get("type", "")),
            err.get("code"),
        )
    if isinstance(body := _safe_json(response), dict) and "detail" in body:
        return APIError(response.status_code, str(body["detail"]))
    return APIError(response.status_code, response.text[:500] or response.reason_phrase)


def _safe_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def from_frame(frame: dict[str, Any], status: int = 500) -> APIError:
    """An error frame inside a stream (the call failed after it had started)."""
    err = frame.get("__hai_error__") or frame.get("error") or {}
    return APIError(status, str(err.get("message", "")), str(err.get("type", "")), err.get("code"))
