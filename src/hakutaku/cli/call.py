"""`hai call MODEL METHOD --json '{...}'`: call a hosted model from the shell."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from hakutaku import codec
from hakutaku.cli.common import client, fail, platform_errors
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
