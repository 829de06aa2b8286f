"""What every resource shares: its client, and how path segments and queries are written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from hakutaku import codec
from hakutaku.sdk.errors import ConnectionFailed, from_error_object

if TYPE_CHECKING:
    from hakutaku.sdk.client import Client

Record = dict[str, Any]
"""A JSON object as the server sent it (field names as in docs/openapi.json)."""


class Resource:
    """One `/api` resource, reached as an attribute of a `Client` (`client.jobs`, ...)."""

    def __init__(self, client: Client) -> None:
        self._client = client


def segment(value: str | int) -> str:
    """One path segment: every reserved character quoted, '/' included."""
    return quote(str(value), safe=":@")


def model_segment(name: str) -> str:
    """A model name in a path. '/' is kept: model names may hold it (`openai/gpt-4o-mini`)."""
    return quote(name, safe="/:@")


def query(**values: Any) -> dict[str, str | int | float | bool]:
    """Query parameters without those left out (None); times as ISO 8601."""
    out: dict[str, str | int | float | bool] = {}
    for key, value in values.items():
        if value is None:
            continue
        out[key] = value.isoformat() if isinstance(value, date) else value
    return out


def iter_frames(response: httpx.Response, error_status: int = 502) -> Iterator[Any]:
    """The frames of a streamed response (NDJSON, msgpack or SSE), closing it at the end.

    An error frame (the call failed after it had started) raises its `APIError`, with
    `error_status` as its status since the response itself said 200.
    """
    try:
        decoder = codec.FrameDecoder(codec.stream_media(response.headers.get("content-type")))
        for chunk in response.iter_raw():
            for item in decoder.feed(chunk):
                err = codec.stream_error(item, decoder.media)
                if err is not None:
                    raise from_error_object(err, error_status)
                yield item
    except httpx.TransportError as exc:
        raise ConnectionFailed(f"the stream broke off ({exc}); retry") from exc
    finally:
        response.close()
