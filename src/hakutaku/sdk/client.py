"""`from hakutaku import Client`: one object for models, remote models and the admin API."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx

from hakutaku.config import Settings, cli_api_key
from hakutaku.sdk.errors import ConnectionFailed, from_response
from hakutaku.sdk.files import Files
from hakutaku.sdk.jobs import Jobs
from hakutaku.sdk.remote import RemoteModelProxy

if TYPE_CHECKING:
    import openai


class Client:
    """A connection to a Hakutaku platform.

    `base_url` defaults to HAI_URL (else http://HAI_HOST:HAI_PORT) and `api_key` to HAI_API_KEY
    (else the bootstrap admin key in HAI_HOME, when readable).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 300.0,
    ) -> None:
        settings = Settings()
        self.base_url = (base_url or settings.server_url).rstrip("/")
        key = api_key or cli_api_key(settings)
        if not key:
            raise ValueError(
                "No API key: pass api_key=..., set HAI_API_KEY, or run on the server host where "
                f"{settings.bootstrap_key_path} is readable."
            )
        self.api_key = key
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    # -- the public surface -------------------------------------------------------------------

    @cached_property
    def models(self) -> Models:
        return Models(self)

    @cached_property
    def files(self) -> Files:
        return Files(self)

    @cached_property
    def jobs(self) -> Jobs:
        return Jobs(self)

    def remote_model(self, name: str) -> RemoteModelProxy:
        return RemoteModelProxy(self, name)

    @cached_property
    def openai(self) -> openai.OpenAI:
        """The official OpenAI client pointed at this platform's /v1."""
        import openai

        return openai.OpenAI(base_url=f"{self.base_url}/v1", api_key=self.api_key)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- low level ----------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; a platform that cannot be reached is a `ConnectionFailed`."""
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ConnectionFailed(
                0, f"cannot reach the platform at {self.base_url} ({exc}); is it running?"
            ) from exc

    def _request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        if response.status_code >= 400:
            raise from_response(response)
        return response.json() if response.content else None


class Models:
    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self) -> list[dict[str, Any]]:
        """The models your key may use (GET /v1/models)."""
        return self._client._request_json("GET", "/v1/models")["data"]

    def get(self, name: str) -> dict[str, Any]:
        return self._client._request_json("GET", f"/v1/models/{name}")
