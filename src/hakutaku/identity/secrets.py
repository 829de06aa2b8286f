"""Secrets generated on first start and kept in HAI_HOME (mode 600)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from hakutaku.config import Settings, read_secret_file, write_secret_file


def _ensure(path: Path, make: str) -> str:
    existing = read_secret_file(path)
    if existing:
        return existing
    write_secret_file(path, make)
    return make


def ensure_server_secret(settings: Settings) -> bytes:
    """The HMAC key for API keys and the root of the upstream-key cipher."""
    if settings.server_secret:
        return settings.server_secret.encode()
    return _ensure(settings.server_secret_path, secrets.token_urlsafe(48)).encode()


def ensure_worker_token(settings: Settings) -> str:
    if settings.worker_token:
        return settings.worker_token
    return _ensure(settings.worker_token_path, "hai-worker." + secrets.token_urlsafe(32))


def secret_fingerprint(server_secret: bytes) -> str:
    """A value that identifies the secret without revealing it (kept in the database)."""
    return hashlib.sha256(b"hai-secret-check:" + server_secret).hexdigest()


class SecretBox:
    """Encrypts secrets the platform must use later (upstream API keys) with the server secret."""

    def __init__(self, server_secret: bytes) -> None:
        key = base64.urlsafe_b64encode(hashlib.sha256(b"hai-secretbox:" + server_secret).digest())
        self._fernet = Fernet(key)

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "cannot decrypt a stored secret: the server secret in HAI_HOME changed; "
                "re-add the upstream with its API key"
            ) from exc
