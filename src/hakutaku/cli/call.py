"""`hai call MODEL METHOD --json '{...}'` and `hai usage`."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from hakutaku import codec
from hakutaku.cli.common import client, fail, platform_errors, print_json, print_table
from hakutaku.sdk.errors import from_frame, from_response


def call(
    model: str,
    method: str,
    args_json: Annotated[
        str, typer.Option("--json", "-j", help="Keyword arguments as a JSON object.")
    ] = "{}",
) -> None:
    """Call a method of a hosted model; streamed results print one JSON value per line."""
    try:
        kwargs = json.loads(args_json)
    except json.JSONDecodeError as exc:
        fail(f"--json is not valid JSON ({exc}); give an object like '{{\"x\": [1, 2]}}'", 2)
    if not isinstance(kwargs, dict):
        fail("--json must be a JSON object of keyword arguments, e.g. '{\"x\": [1, 2]}'", 2)
    c = client()
    with (
        platform_errors(),
        c._http.stream(
            "POST",
            f"/v1/models/{model}/{method}",
            content=codec.encode(kwargs, codec.JSON),
            headers={"content-type": codec.JSON, "accept": codec.JSON},
        ) as response,
    ):
        if response.status_code >= 400:
            response.read()
            raise from_response(response)
        if response.headers.get("x-hai-stream") != "1":
            sys.stdout.write(json.dumps(json.loads(response.read()), indent=2) + "\n")
            return
        decoder = codec.FrameDecoder(codec.NDJSON)
        for chunk in response.iter_raw():
            for item in decoder.feed(chunk):
                if isinstance(item, dict) and codec.ERROR_KEY in item:
                    raise from_frame(item, 502)
                sys.stdout.write(json.dumps(item) + "\n")
                sys.stdout.flush()


def usage(
    user: Annotated[str | None, typer.Option(help="Whose usage (admins).")] = None,
    model: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Model-call usage: calls, errors and tokens per user, model and method."""
    params = {k: v for k, v in (("user", user), ("model", model)) if v}
    with platform_errors():
        rows = client()._request_json("GET", "/api/usage", params=params)
    columns = ("user", "model", "method", "calls", "errors", "prompt_tokens", "completion_tokens")
    print_json(rows) if as_json else print_table(rows, columns)
