"""The portal's cookies, CSRF tokens, signed short-lived values and the sign-in limiter.

- The session cookie `hai_session` is HttpOnly, SameSite=Lax, Path=/, and Secure when the
  platform is served over HTTPS (HAI_PORTAL_SECURE_COOKIES, default: HAI_URL is https://).
  No token is ever given to JavaScript or kept in localStorage.
- Every state-changing request of a signed-in browser carries its session's CSRF token: as
  the form field `csrf_token`, or the `X-CSRF-Token` header that htmx sends (base.html).
  Before sign-in (the sign-in form, the SSO round trip), a signed cookie `hai_pre` carries a
  random token that the form must repeat, and the SSO state, nonce and PKCE verifier.
- Failed sign-ins are counted per user name and per address in each replica's memory:
  HAI_PORTAL_LOGIN_ATTEMPTS in 5 minutes, then refused until the window has passed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response

PRE_COOKIE = "hai_pre"
PRE_MAX_AGE = 15 * 60  # seconds a sign-in form or an SSO round trip may take
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LOGIN_WINDOW = 300.0


def set_cookie(
    response: Response, name: str, value: str, *, max_age: int | None, secure: bool
) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, samesite="lax", secure=secure
    )


def clear_cookie(response: Response, name: str, *, secure: bool) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=secure)


# -- signed values (the pre-session cookie) ------------------------------------------------------


def sign(secret: bytes, value: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(orjson.dumps({**value, "t": int(time.time())})).decode()
    mac = hmac.new(secret, b"hai-pre:" + body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def unsign(secret: bytes, text: str | None, max_age: float = PRE_MAX_AGE) -> dict[str, Any]:
    """The value `sign` made, if it is ours and young enough; else an empty dict."""
    if not text or "." not in text or len(text) > 4096:
        return {}
    body, _, mac = text.rpartition(".")
    good = hmac.new(secret, b"hai-pre:" + body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, good):
        return {}
    try:
        value = orjson.loads(base64.urlsafe_b64decode(body.encode()))
    except (ValueError, orjson.JSONDecodeError):
        return {}
    if not isinstance(value, dict) or time.time() - float(value.get("t", 0)) > max_age:
        return {}
    return value


def same_token(given: str | None, expected: str | None) -> bool:
    return bool(given and expected) and hmac.compare_digest(str(given), str(expected))


# -- where a sign-in may send the browser next ----------------------------------------------------


def local_path(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this site, else `default` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


# -- sign-in limiter ------------------------------------------------------------------------------


class LoginLimiter:
    """Failed sign-ins per key (a user name, an address) within a sliding window."""

    def __init__(self, allowed: int, window: float = LOGIN_WINDOW, max_keys: int = 100_000):
        self.allowed = allowed
        self.window = window
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def wait(self, *keys: str) -> float:
        """Seconds until a sign-in under these keys may be tried again (0: now)."""
        now = time.monotonic()
        longest = 0.0
        for key in keys:
            times = self._failures.get(key)
            if not times:
                continue
            while times and now - times[0] > self.window:
                times.popleft()
            if len(times) >= self.allowed:
                longest = max(longest, self.window - (now - times[0]))
        return longest

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        if len(self._failures) >= self.max_keys:
            self._failures = {k: v for k, v in self._failures.items() if v and now - v[-1] < 60}
        for key in keys:
            self._failures.setdefault(key, deque(maxlen=self.allowed)).append(now)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)
