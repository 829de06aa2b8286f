"""Errors raised by platform services; the HTTP layers map them to status codes."""

from __future__ import annotations


class PlatformError(Exception):
    """A failure with a message meant for the caller: what was wrong and what to do."""

    status = 400
    type = "invalid_request_error"
    code = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


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
