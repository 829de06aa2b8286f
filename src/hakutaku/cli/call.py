"""`hai call MODEL METHOD --json '{...}'`: call a hosted model from the shell."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Annotated

import typer

from hakutaku.cli.common import client, fail, platform_errors


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
    with platform_errors():
        result = client().models.call(model, method, kwargs)
        if not isinstance(result, Iterator):
            sys.stdout.write(json.dumps(result, indent=2) + "\n")
            return
        for item in result:
            sys.stdout.write(json.dumps(item) + "\n")
            sys.stdout.flush()
