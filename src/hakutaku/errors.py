"""The platform's one error type and its wire shapes.

Services raise `PlatformError` (or a subclass) with a message meant for the caller: what was
wrong and what to do. Every HTTP layer — the control API, the gateway and the worker runtime —
turns it into the same OpenAI-shaped body, `{"error": {"message", "type", "param", "code"}}`,
and a stream that fails after it has started ends with the same error as its last frame.
"""

from __future__ import annotations

from typing import Any

import orjson

from hakutaku import codec


class PlatformError(Exception):
    """A failure with a message meant for the caller: what was wrong and what to do.

    Subclasses fix `status`, `type` and `code`; an instance may override them.
    """

    status = 400
    type = "invalid_request_error"
    code = "invalid_request"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = headers
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type

    def body(self) -> bytes:
        return error_body(self.message, self.type, self.code, self.param)

    def frame(self, media: str) -> bytes:
        return error_frame(media, self.message, self.type, self.code)


class NotFound(PlatformError):
    status = 404
    type = "not_found_error"
    code = "not_found"


class Conflict(PlatformError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"


class Unauthorized(PlatformError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class Forbidden(PlatformError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


def error_object(
    message: str, type: str, code: str | None, param: str | None = None
) -> dict[str, Any]:
    return {"message": message, "type": type, "param": param, "code": code}


def error_body(message: str, type: str, code: str | None, param: str | None = None) -> bytes:
    """The body of an error response: `{"error": {"message", "type", "param", "code"}}`."""
    return orjson.dumps({"error": error_object(message, type, code, param)})


def error_frame(media: str, message: str, type: str, code: str | None) -> bytes:
    """The last frame of a stream that failed after it started, in the stream's own framing:
    an SSE `data: {"error": ...}` event (OpenAI's shape), else a frame `{ERROR_KEY: ...}`."""
    err = error_object(message, type, code)
    if media.startswith(codec.SSE):
        return codec.encode_frame({"error": err}, codec.SSE)
    stream = codec.MSGPACK if "msgpack" in media else codec.NDJSON
    return codec.encode_frame({codec.ERROR_KEY: err}, stream)
