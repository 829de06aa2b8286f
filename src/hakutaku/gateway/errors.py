"""OpenAI-shaped errors `{"error": {"message", "type", "param", "code"}}`, OpenAI statuses."""

from __future__ import annotations

import math

from starlette.responses import Response

from hakutaku.errors import PlatformError


class GatewayError(PlatformError):
    """A refusal or failure on /v1: a PlatformError whose status is given per instance."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code, status=status, type=type, headers=headers)


def error_response(exc: PlatformError) -> Response:
    return Response(
        exc.body(), status_code=exc.status, media_type="application/json", headers=exc.headers
    )


# Constructors for the refusals the gateway makes, so the wording stays consistent.


def bad_request(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, message, code="invalid_request", param=param)


def unknown_model(model: str) -> GatewayError:
    return GatewayError(
        404,
        f"The model '{model}' does not exist or you do not have access to it. "
        "List the models your key can use with GET /v1/models.",
        type="not_found_error",
        code="model_not_found",
        param="model",
    )


def forbidden_model(model: str) -> GatewayError:
    return GatewayError(
        403,
        f"Your key may not use the model '{model}'. Ask an admin to grant your user or group "
        "access (`hai models permit`).",
        type="permission_error",
        code="model_not_permitted",
        param="model",
    )


def unknown_method(model: str, method: str, known: list[str]) -> GatewayError:
    listed = ", ".join(sorted(known)) or "none"
    return GatewayError(
        404,
        f"The model '{model}' has no method '{method}'. Its methods: {listed}.",
        type="not_found_error",
        code="method_not_found",
    )


def no_worker(model: str) -> GatewayError:
    return GatewayError(
        503,
        f"No healthy worker is serving the model '{model}' right now. Retry shortly; if this "
        "persists, an operator must start one (`hai worker ...`).",
        type="server_error",
        code="no_healthy_worker",
    )


MODEL_LOADING_RETRY_S = 5


def model_loading(model: str) -> GatewayError:
    """The platform's own chat model has no worker yet: it loads in the background."""
    return GatewayError(
        503,
        f"The chat model '{model}' is loading (it takes about 20 s after the platform starts). "
        f"Retry after {MODEL_LOADING_RETRY_S} s; if this persists, an operator must check its "
        "worker (`hai up` logs it to $HAI_HOME/logs/chat.log).",
        type="server_error",
        code="model_loading",
        headers={"retry-after": str(MODEL_LOADING_RETRY_S)},
    )


def overloaded(model: str) -> GatewayError:
    return GatewayError(
        429,
        f"The model '{model}' is at its concurrency limit. Retry after a short backoff.",
        type="rate_limit_error",
        code="model_overloaded",
    )


def rate_limited(limit: int, wait: float) -> GatewayError:
    seconds = max(1, math.ceil(wait))
    return GatewayError(
        429,
        f"Rate limit reached for this API key: {limit} model calls per minute. Try again in "
        f"{wait:.1f} s, or ask an admin to raise the key's limit (`hai keys limit`).",
        type="rate_limit_error",
        code="rate_limit_exceeded",
        headers={"retry-after": str(seconds)},
    )


def worker_failed(model: str, detail: str) -> GatewayError:
    return GatewayError(
        502,
        f"The worker serving the model '{model}' failed during the call ({detail}). "
        "Retry: the platform routes the next call to a healthy worker.",
        type="server_error",
        code="worker_failed",
    )


def worker_timeout(model: str, seconds: float) -> GatewayError:
    return GatewayError(
        504,
        f"The model '{model}' did not answer within {seconds:g} s. Retry with a smaller input, "
        "or ask an operator to raise HAI_WORKER_TIMEOUT.",
        type="server_error",
        code="worker_timeout",
    )


def upstream_failed(model: str, detail: str) -> GatewayError:
    return GatewayError(
        502,
        f"The upstream provider of the model '{model}' could not be reached ({detail}). "
        "Retry later; if this persists, an operator should check the upstream URL.",
        type="server_error",
        code="upstream_failed",
    )
