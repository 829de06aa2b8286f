"""The one routing table of `/v1`, dispatched before the app's middleware and router.

The call endpoints are the hot path: they check the key and the body size themselves and
need none of what the FastAPI stack adds, so `/v1` never enters it. Model names may contain
`/` (`openai/gpt-4o-mini`), so paths under `/v1/models/` are matched here by hand:

    GET  /v1/models                    the models the key may use
    GET  /v1/models/{model}            one of them ({model} may contain '/')
    POST /v1/models/{model}/{method}   a remote model's method; the model is the longest
                                       registered prefix of the path (see remote/router.py)
    POST /v1/chat/completions
    POST /v1/embeddings
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Scope

from hakutaku.gateway.embeddings.router import embeddings
from hakutaku.gateway.errors import GatewayError
from hakutaku.gateway.models.router import get_model, list_models
from hakutaku.gateway.openai_chat.router import chat_completions
from hakutaku.gateway.remote.router import remote_call

Endpoint = Callable[[Request], Awaitable[ASGIApp]]

PREFIX = "/v1/"
MODELS = "/v1/models/"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    endpoint: Endpoint


EXACT: dict[str, tuple[Route, ...]] = {
    "/v1/models": (Route("GET", list_models),),
    "/v1/chat/completions": (Route("POST", chat_completions),),
    "/v1/embeddings": (Route("POST", embeddings),),
}
# Under /v1/models/: GET names a model, POST a model's method.
UNDER_MODELS = (Route("GET", get_model), Route("POST", remote_call))


def is_gateway_path(path: str) -> bool:
    return path.startswith(PREFIX) or path == "/v1"


def resolve(scope: Scope) -> Endpoint:
    """The endpoint for a /v1 request; raises GatewayError 404 / 405 otherwise."""
    path: str = scope["path"]
    routes = EXACT.get(path)
    if routes is None and path.startswith(MODELS) and len(path) > len(MODELS):
        scope["path_params"] = {"path": path[len(MODELS) :]}
        routes = UNDER_MODELS
    if routes is None:
        raise GatewayError(
            404,
            f"No gateway endpoint at {path}. The gateway serves GET /v1/models, "
            "POST /v1/chat/completions, POST /v1/embeddings and POST /v1/models/{model}/{method}.",
            type="not_found_error",
            code="not_found",
        )
    method = scope["method"]
    for route in routes:
        if route.method == method:
            return route.endpoint
    allowed = ", ".join(r.method for r in routes)
    raise GatewayError(
        405,
        f"Method {method} is not allowed on {path}; use {allowed}.",
        code="method_not_allowed",
        headers={"allow": allowed},
    )
