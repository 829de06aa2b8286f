"""Errors the SDK raises; this module is the one place that turns a response into an exception.

Every error the platform answers has OpenAI's shape, `{"error": {"message", "type", "param",
"code"}}` (see docs/api.md), and becomes an `APIError` carrying those four fields and the HTTP
status. A platform that cannot be reached, or a connection that breaks, is a `ConnectionFailed`
(status 0). A download whose bytes do not match their checksum is a `ChecksumMismatch`.
"""

from __future__ import annotations

from typing import Any

import httpx


class APIError(Exception):
    """The platform answered with an error.

    `status` is the HTTP status, `code` the stable machine-readable code (e.g. `not_found`,
    `permission_denied`), `type` OpenAI's error class, `param` the offending field (if any)
    and `message` what went wrong and what to do, for people.
    """

    def __init__(
        self,
        status: int,
        message: str,
        type: str = "",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(f"{status} {type or 'error'}: {message}")
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param


class ConnectionFailed(APIError):
    """The platform could not be reached, or the connection broke off (status 0)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message)


class ChecksumMismatch(OSError):
    """A downloaded file does not match its SHA-256; nothing was kept."""


def from_response(response: httpx.Response) -> APIError:
    """The error an error response carries (its body must have been read)."""
    body = _json_or_none(response)
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return from_error_object(err, response.status_code)
    if isinstance(body, dict) and "detail" in body:  # a proxy or framework in front
        return APIError(response.status_code, str(body["detail"]))
    return APIError(response.status_code, response.text[:500] or response.reason_phrase)


def from_error_object(err: dict[str, Any], status: int) -> APIError:
    """An `{"message", "type", "param", "code"}` object: a response's or a stream frame's."""
    code, param = err.get("code"), err.get("param")
    return APIError(
        status,
        str(err.get("message", "")),
        str(err.get("type") or ""),
        None if code is None else str(code),
        None if param is None else str(param),
    )


def raise_for_status(response: httpx.Response) -> None:
    """Raise the `APIError` of a response with status 400 or more (reading its body)."""
    if response.is_error:
        response.read()
        raise from_response(response)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
