"""Calls to the platform's /v1 as the caller: embeddings and chat for papers.

They go through the gateway over HTTP with the caller's own credentials (their API key, or
their portal session with its CSRF token), so they are checked, rate limited and metered
exactly like the caller's own /v1 calls: papers never bypass a limit or bill someone else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
from numpy.typing import NDArray
from starlette.requests import Request

from hakutaku.errors import PlatformError
from hakutaku.identity.sessions import SESSION_COOKIE

EMBED_BATCH = 64
TIMEOUT_S = 300.0  # a small CPU model answers a few hundred tokens in well under this


@dataclass(frozen=True)
class Credentials:
    """What identifies the caller to /v1: headers to send, nothing else."""

    headers: dict[str, str]

    @classmethod
    def of_request(cls, request: Request, csrf: str | None = None) -> Credentials:
        """The credentials a request came with: its bearer key, else its session cookie (with
        the session's CSRF token, which /v1 needs for a POST made with a cookie)."""
        if auth := request.headers.get("authorization"):
            return cls({"authorization": auth})
        token = request.cookies.get(SESSION_COOKIE, "")
        csrf = csrf or request.headers.get("x-csrf-token", "")
        return cls({"cookie": f"{SESSION_COOKIE}={token}", "x-csrf-token": csrf})


class GatewayCaller:
    """Blocking /v1 calls to `server_url` as one caller (run it in a worker thread)."""

    def __init__(self, server_url: str, credentials: Credentials) -> None:
        self._url = server_url.rstrip("/")
        self._credentials = credentials

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            with httpx.Client(timeout=TIMEOUT_S, trust_env=False) as client:
                r = client.post(self._url + path, json=body, headers=self._credentials.headers)
        except httpx.HTTPError as exc:
            raise PlatformError(
                f"the platform's gateway ({self._url}) could not be reached for {path}: "
                f"{type(exc).__name__}. Check HAI_URL points at this platform.",
                status=502,
                code="gateway_unreachable",
                type="server_error",
            ) from None
        if r.status_code >= 400:
            raise _relayed(r, path)
        reply: dict[str, Any] = r.json()
        return reply

    def embed(self, model: str, texts: list[str]) -> NDArray[np.float32]:
        """L2-normalised vectors of the texts, in order (batches of EMBED_BATCH)."""
        rows: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH):
            reply = self.post(
                "/v1/embeddings", {"model": model, "input": texts[start : start + EMBED_BATCH]}
            )
            rows.extend(d["embedding"] for d in sorted(reply["data"], key=lambda d: d["index"]))
        out = np.asarray(rows, dtype=np.float32).reshape(len(texts), -1)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.where(norms == 0, 1, norms)).astype(np.float32)

    def chat(
        self, model: str, messages: list[dict[str, str]], max_tokens: int
    ) -> tuple[str, dict[str, int]]:
        """The answer's text and usage (greedy: the same question gives the same answer)."""
        reply = self.post(
            "/v1/chat/completions",
            {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0},
        )
        return str(reply["choices"][0]["message"]["content"] or ""), dict(reply.get("usage") or {})


def _relayed(r: httpx.Response, path: str) -> PlatformError:
    """The gateway's refusal, passed on with its status, code and message."""
    try:
        err = r.json()["error"]
        message, code = str(err["message"]), err.get("code")
    except (ValueError, KeyError, TypeError):
        message, code = r.text[:300], None
    headers = {"retry-after": r.headers["retry-after"]} if "retry-after" in r.headers else None
    return PlatformError(
        f"{path} refused the call: {message}",
        status=r.status_code,
        code=code if isinstance(code, str) else "gateway_error",
        type="server_error" if r.status_code >= 500 else "invalid_request_error",
        headers=headers,
    )
