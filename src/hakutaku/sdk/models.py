"""`client.models`: the models your key may use, calls with JSON, and (admins) the registry.

    client.models.list()                               # GET /v1/models
    client.models.call("lab", "add", {"a": 2, "b": 40})          # 42
    for item in client.models.call("lab", "count", {"n": 3}):    # generator methods stream
        ...
    client.models.add_upstream("qwen-7b", "http://gpu01:8001/v1")   # admin
    client.models.update("qwen-7b", public=False, groups=["cms"])
    client.models.create_worker_token("my-tagger")["token"]   # a token for that model only

Model names are used in paths as they are (they may contain '/'); the server judges them.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any

from hakutaku import codec
from hakutaku.sdk._resource import Record, Resource, iter_frames, model_segment, segment


class Models(Resource):
    """`/v1/models` (any key) and `/api/models` (admin).

    A `/v1` model object: `id`, `kind` (`worker` or `upstream`), `description`, and for worker
    models `methods` and live `workers`. A registry record (`/api/models`): `name`, `kind`,
    `description`, `public`, `groups`, `users`, `upstream_base_url`, `upstream_model`,
    `has_upstream_key`, `workers`.
    """

    # -- /v1: any key -------------------------------------------------------------------------

    def list(self) -> builtins.list[Record]:
        """The models your key may use, sorted by id (GET /v1/models); worker models only
        while a worker is live."""
        data: builtins.list[Record] = self._client._object("GET", "/v1/models")["data"]
        return data

    def get(self, name: str) -> Record:
        """One model (GET /v1/models/{name}); 404 `model_not_found`, or 403
        `model_not_permitted` for a private model your key may not use."""
        return self._client._object("GET", f"/v1/models/{model_segment(name)}")

    def call(self, model: str, method: str, arguments: Mapping[str, Any] | None = None) -> Any:
        """Call a hosted model's method with keyword `arguments`, JSON both ways
        (POST /v1/models/{model}/{method}).

        Returns the result (numpy arrays arrive as nested lists), or, for a generator method,
        an iterator over its items as the worker yields them (it holds a connection until it
        is exhausted or closed). For numpy arrays both ways, use `client.remote_model(name)`
        (msgpack) instead.
        """
        response = self._client._open(
            "POST",
            f"/v1/models/{model_segment(model)}/{method}",
            content=codec.encode(dict(arguments or {}), codec.JSON),
            headers={"content-type": codec.JSON, "accept": codec.JSON},
        )
        if response.headers.get("x-hai-stream") == "1":
            return iter_frames(response)
        try:
            data = response.read()
        finally:
            response.close()
        return codec.decode(data, codec.media_type(response.headers.get("content-type")))

    # -- /api/models: admin ------------------------------------------------------------------

    def list_all(self) -> builtins.list[Record]:
        """Every registered model with who may use it (GET /api/models; admin)."""
        return self._client._objects("GET", "/api/models")

    def add_upstream(
        self,
        name: str,
        base_url: str,
        *,
        api_key: str | None = None,
        upstream_model: str | None = None,
        description: str = "",
        public: bool = True,
        groups: Sequence[str] = (),
        users: Sequence[str] = (),
    ) -> Record:
        """Register (or replace) an OpenAI-compatible server (vLLM, Ollama, a provider) as the
        model `name` (POST /api/models/upstream; admin). `api_key` is the upstream's own key,
        stored encrypted; left out on a replacement, the stored one is kept. `upstream_model`
        is the upstream's name for the model (default `name`). Private models (`public=False`)
        are for the listed `groups` and `users` only."""
        body = {
            "name": name,
            "base_url": base_url,
            "api_key": api_key,
            "upstream_model": upstream_model,
            "description": description,
            "public": public,
            "groups": builtins.list(groups),
            "users": builtins.list(users),
        }
        return self._client._object("POST", "/api/models/upstream", json=body)

    def update(
        self,
        name: str,
        *,
        public: bool | None = None,
        groups: Sequence[str] | None = None,
        users: Sequence[str] | None = None,
        description: str | None = None,
    ) -> Record:
        """Change who may use a model, or its description (PATCH /api/models/{name}; admin);
        what is left out (None) stays. Lists replace the old ones."""
        body: Record = {}
        if public is not None:
            body["public"] = public
        if groups is not None:
            body["groups"] = builtins.list(groups)
        if users is not None:
            body["users"] = builtins.list(users)
        if description is not None:
            body["description"] = description
        return self._client._object("PATCH", f"/api/models/{model_segment(name)}", json=body)

    def remove(self, name: str) -> None:
        """Remove an upstream model (DELETE /api/models/{name}; admin). A worker-hosted model
        cannot be removed (400): stop its workers instead."""
        self._client._request("DELETE", f"/api/models/{model_segment(name)}")

    # -- /api/worker-tokens: the model's owner or an admin ------------------------------------

    def create_worker_token(self, model: str, *, note: str = "") -> Record:
        """A worker token that can register workers of `model` only (POST /api/worker-tokens).

        The first user to ask for a free name becomes the model's owner; others get 403
        `model_not_yours`. The record's `token` is shown once: give it to the worker as
        HAI_WORKER_TOKEN."""
        body = {"model": model, "note": note}
        return self._client._object("POST", "/api/worker-tokens", json=body)

    def worker_tokens(self, model: str | None = None) -> builtins.list[Record]:
        """Your worker tokens (an admin's: all), without their secrets (GET /api/worker-tokens)."""
        params = {"model": model} if model is not None else None
        return self._client._objects("GET", "/api/worker-tokens", params=params)

    def revoke_worker_token(self, token_id: str) -> None:
        """Revoke a worker token (DELETE /api/worker-tokens/{id}): its workers' next heartbeat
        is refused and they stop."""
        self._client._request("DELETE", f"/api/worker-tokens/{segment(token_id)}")
