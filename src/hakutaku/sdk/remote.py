"""A proxy for a hosted model: `client.remote_model("name").method(...)` calls it remotely.

Arguments and results travel as msgpack, so numpy arrays go both ways as native arrays.
Generator methods return an iterator that yields each item as the worker produces it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from hakutaku import codec
from hakutaku.sdk._resource import iter_frames, model_segment
from hakutaku.sdk.errors import APIError

if TYPE_CHECKING:
    from hakutaku.sdk.client import Client

STREAMING_KINDS = ("generator", "asyncgen")


class RemoteModelProxy:
    """`client.remote_model(name)`: its `@remote` methods as Python methods."""

    def __init__(self, client: Client, name: str) -> None:
        self._client = client
        self._name = name
        self._info: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def info(self) -> dict[str, Any]:
        """The model's record from GET /v1/models/{name}, including its methods."""
        if self._info is None:
            self._info = self._client.models.get(self._name)
        return self._info

    @property
    def methods(self) -> dict[str, dict[str, Any]]:
        return dict(self.info.get("methods") or {})

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args, **kwargs: self.call(method, *args, **kwargs)

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self.methods]

    def __repr__(self) -> str:
        return f"<RemoteModel {self._name!r} at {self._client.base_url}>"

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call `method` with Python arguments, bound by the method's parameter names."""
        spec = self.methods.get(method)
        if spec is None:
            known = ", ".join(sorted(self.methods)) or "none"
            raise APIError(
                404, f"The model '{self._name}' has no method '{method}'. Its methods: {known}."
            )
        payload = self._bind(method, spec.get("params", []), args, kwargs)
        body = codec.encode(payload, codec.MSGPACK)
        path = f"/v1/models/{model_segment(self._name)}/{method}"
        headers = {"content-type": codec.MSGPACK, "accept": codec.MSGPACK}
        if spec.get("kind") in STREAMING_KINDS:
            return self._stream(path, body, headers)
        response = self._client._request("POST", path, content=body, headers=headers)
        return codec.decode(
            response.content, codec.media_type(response.headers.get("content-type"))
        )

    def _bind(
        self, method: str, params: list[str], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        if len(args) > len(params):
            raise TypeError(
                f"{self._name}.{method}() takes {len(params)} positional arguments "
                f"({', '.join(params)}) but {len(args)} were given"
            )
        payload = dict(zip(params, args, strict=False))
        for key, value in kwargs.items():
            if key in payload:
                raise TypeError(f"{self._name}.{method}() got multiple values for argument {key!r}")
            payload[key] = value
        return payload

    def _stream(self, path: str, body: bytes, headers: dict[str, str]) -> Iterator[Any]:
        # Opened when iteration starts, as a generator function's body runs.
        response = self._client._open("POST", path, content=body, headers=headers)
        yield from iter_frames(response)
