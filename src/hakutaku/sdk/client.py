"""`from hakutaku import Client`: one object for the whole platform.

    client = Client()                        # URL and key from the environment (sdk/config.py)
    client.models.list()                     # GET /v1/models
    client.jobs.submit(["python", "train.py"], gpus="a800:1")
    client.openai.chat.completions.create(...)   # the official OpenAI client, same key

Each `/api` resource is an attribute (`users`, `keys`, `models`, `workers`, `compute`, `jobs`,
`deployments`, `workflows`, `files`, `prices`, `contributions`, `usage`, `apps`, `hub`) whose
methods return the server's JSON as plain dicts and lists; every error is an `APIError`
(docs/sdk.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

import httpx

from hakutaku.sdk import config
from hakutaku.sdk._resource import Record
from hakutaku.sdk.apps import Apps
from hakutaku.sdk.billing import Contributions, Prices
from hakutaku.sdk.chat import Chat
from hakutaku.sdk.compute import Compute
from hakutaku.sdk.deployments import Deployments
from hakutaku.sdk.errors import ConnectionFailed, raise_for_status
from hakutaku.sdk.files import Files
from hakutaku.sdk.hub import Hub
from hakutaku.sdk.identity import Keys, Users
from hakutaku.sdk.jobs import Jobs
from hakutaku.sdk.models import Models
from hakutaku.sdk.papers import Papers
from hakutaku.sdk.remote import RemoteModelProxy
from hakutaku.sdk.usage import Usage
from hakutaku.sdk.workers import Workers
from hakutaku.sdk.workflows import Workflows

if TYPE_CHECKING:
    import openai


class Client:
    """A connection to a Hakutaku platform, with one pooled HTTP client.

    `base_url` defaults to `HAI_URL`, else `http://HAI_HOST:HAI_PORT`; `api_key` to
    `HAI_API_KEY`, else the bootstrap admin key in `HAI_HOME` when readable
    (`hakutaku.sdk.config`). Without a key it raises ValueError. `timeout` is the longest wait,
    in seconds, for any one read; streams that follow a job's log wait without limit.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 300.0,
    ) -> None:
        self.base_url = config.base_url(base_url)
        key = config.api_key(api_key)
        if not key:
            raise ValueError(
                "No API key: pass api_key=..., set HAI_API_KEY, or run on the server host where "
                f"{config.bootstrap_key_path()} is readable."
            )
        self.api_key = key
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    # -- the resources --------------------------------------------------------------------

    @cached_property
    def users(self) -> Users:
        """Users (admin) and `me()`: `/api/users`, `/api/me`."""
        return Users(self)

    @cached_property
    def keys(self) -> Keys:
        """API keys: `/api/keys`."""
        return Keys(self)

    @cached_property
    def models(self) -> Models:
        """Models: the `/v1/models` listing, JSON calls, and the admin `/api/models`."""
        return Models(self)

    @cached_property
    def workers(self) -> Workers:
        """Registered workers (admin): `/api/workers`."""
        return Workers(self)

    @cached_property
    def compute(self) -> Compute:
        """Partitions, QOS, resources and the policy: `/api/compute`."""
        return Compute(self)

    @cached_property
    def jobs(self) -> Jobs:
        """Batch jobs: `/api/jobs`."""
        return Jobs(self)

    @cached_property
    def deployments(self) -> Deployments:
        """Models served by worker jobs: `/api/deployments`."""
        return Deployments(self)

    @cached_property
    def workflows(self) -> Workflows:
        """Campaigns of `hakutaku.workflows` journaled on the platform: `/api/workflows`."""
        return Workflows(self)

    @cached_property
    def files(self) -> Files:
        """Storage homes, the public area, uploads and quotas: `/api/files`."""
        return Files(self)

    @cached_property
    def prices(self) -> Prices:
        """The price table by month: `/api/prices`."""
        return Prices(self)

    @cached_property
    def contributions(self) -> Contributions:
        """Hardware contributed by groups, as credit: `/api/contributions`."""
        return Contributions(self)

    @cached_property
    def usage(self) -> Usage:
        """Model-call usage, monthly statements, the ledger: `/api/usage`."""
        return Usage(self)

    @cached_property
    def apps(self) -> Apps:
        """App sessions and trainings with their dashboard: `/api/apps`."""
        return Apps(self)

    @cached_property
    def hub(self) -> Hub:
        """The model zoo and dataset registry: `/api/hub`."""
        return Hub(self)

    @cached_property
    def papers(self) -> Papers:
        """Your PDFs, indexed for questions answered with citations: `/api/papers`."""
        return Papers(self)

    @cached_property
    def chat(self) -> Chat:
        """Chat conversations kept on the server, and asking a model in one: `/api/chat`."""
        return Chat(self)

    def remote_model(self, name: str) -> RemoteModelProxy:
        """A hosted model whose `@remote` methods are called as Python methods (msgpack)."""
        return RemoteModelProxy(self, name)

    @cached_property
    def openai(self) -> openai.OpenAI:
        """The official OpenAI client pointed at this platform's /v1, with the same key."""
        import openai

        return openai.OpenAI(base_url=f"{self.base_url}/v1", api_key=self.api_key)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- for the resources (private) --------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, read whole; an error status raises its `APIError`."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        raise_for_status(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; its JSON body (None when it has none, as for 204)."""
        response = self._request(method, path, **kwargs)
        return response.json() if response.content else None

    def _object(self, method: str, path: str, **kwargs: Any) -> Record:
        """`_json` for an endpoint that answers one JSON object."""
        return cast(Record, self._json(method, path, **kwargs))

    def _objects(self, method: str, path: str, **kwargs: Any) -> list[Record]:
        """`_json` for an endpoint that answers a JSON array of objects."""
        return cast(list[Record], self._json(method, path, **kwargs))

    def _open(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request whose body is left unread, for streaming; the caller closes it."""
        try:
            request = self._http.build_request(method, path, **kwargs)
            response = self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        try:
            raise_for_status(response)
        except BaseException:
            response.close()
            raise
        return response

    @contextmanager
    def _stream(
        self, method: str, path: str, *, what: str = "the response", **kwargs: Any
    ) -> Iterator[httpx.Response]:
        """`_open` as a context manager; a connection that breaks while the body is read is
        a `ConnectionFailed` saying that `what` broke off."""
        response = self._open(method, path, **kwargs)
        try:
            yield response
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{what} broke off ({exc}); retry") from exc
        finally:
            response.close()

    def _unreachable(self, exc: Exception) -> ConnectionFailed:
        return ConnectionFailed(
            f"cannot reach the platform at {self.base_url} ({exc}); is it running?"
        )
