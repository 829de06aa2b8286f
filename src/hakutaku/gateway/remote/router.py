"""HTTP for remote models: `POST /v1/models/{model}/{method}`.

Model names may contain '/', so the path after `/v1/models/` is split here: the model is the
longest prefix of whole segments that names a registered model, and the rest is the method
(one segment). With no registered prefix, the model is everything before the last segment
(that name then gets the usual 404).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.types import ASGIApp

from hakutaku.gateway.context import Gateway
from hakutaku.gateway.handler import Parsed, handle_call
from hakutaku.gateway.remote.service import call_remote


def split_model_path(registered: Callable[[str], object], path: str) -> tuple[str, str]:
    """(model, method) of `a/b/method`: the longest prefix `registered` knows is the model."""
    cut = len(path)
    while (cut := path.rfind("/", 0, cut)) > 0:
        if registered(path[:cut]) is not None:
            return path[:cut], path[cut + 1 :]
    model, _, method = path.rpartition("/")
    return model, method


def _parse(gw: Gateway, request: Request, body: bytes) -> Parsed:
    model, method = split_model_path(gw.registry.model, request.path_params["path"])
    content_type = request.headers.get("content-type")
    accept = request.headers.get("accept")
    return Parsed(
        model,
        method,
        lambda gw, call, entry: call_remote(gw, call, entry, body, content_type, accept),
    )


async def remote_call(request: Request) -> ASGIApp:
    return await handle_call(request, "remote", _parse)
