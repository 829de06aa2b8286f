"""Storage refusals: each says what was wrong and what to do, rendered as OpenAI-shaped errors."""

from __future__ import annotations

from hakutaku.errors import Conflict, PlatformError


class UnsafePath(PlatformError):
    """A path that is malformed or would leave the caller's area (400)."""

    code = "invalid_path"

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"Refused path {path!r}: {reason}. Paths are relative to the area (your home or "
            "the public area), use '/' between folders and stay inside it.",
            param="path",
        )
        self.path, self.reason = path, reason  # for a caller that words its own refusal


class QuotaExceeded(PlatformError):
    """Accepting the upload would take the user past their quota (413, nothing was written)."""

    status = 413
    code = "quota_exceeded"

    def __init__(self, message: str) -> None:
        super().__init__(message, param="size")


class ChecksumMismatch(PlatformError):
    """The received bytes do not have the declared SHA-256 (the upload is discarded)."""

    code = "checksum_mismatch"

    def __init__(self, expected: str, actual: str, upload_id: str) -> None:
        super().__init__(
            f"SHA-256 of the received bytes is {actual}, not the declared {expected}: the file "
            f"was corrupted in transit or changed while uploading. Upload {upload_id} was "
            "discarded; start the upload again.",
            param="sha256",
        )


class OffsetMismatch(Conflict):
    """A chunk sent at an offset other than where the upload stands (409, to resume from)."""

    code = "offset_mismatch"

    def __init__(self, upload_id: str, offset: int, received: int) -> None:
        super().__init__(
            f"Upload {upload_id} has received {received} bytes, so the next chunk must be sent "
            f"with offset={received}, not {offset}. Resume from there "
            f"(GET /api/files/uploads/{upload_id} shows the progress).",
            param="offset",
        )
        self.received = received


class SizeExceeded(PlatformError):
    """A chunk that would take an upload past the size declared when it was created (413)."""

    status = 413
    code = "size_exceeded"

    def __init__(self, upload_id: str, size: int, received: int, chunk: int) -> None:
        super().__init__(
            f"A chunk of {chunk} bytes at offset {received} would take upload {upload_id} past "
            f"its declared size of {size} bytes. Send only the remaining {size - received} "
            "bytes, or start a new upload with the right size.",
            param="offset",
        )


class InsufficientStorage(PlatformError):
    """The storage root's file system has no room for the upload (507)."""

    status = 507
    type = "server_error"
    code = "insufficient_storage"
