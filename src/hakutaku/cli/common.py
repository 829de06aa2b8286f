"""What the `hai` commands share: an SDK client (URL and key as `Client()` finds them), error
printing, table output."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from hakutaku.sdk.client import Client
from hakutaku.sdk.errors import APIError

err_console = Console(stderr=True)
out_console = Console()


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def client() -> Client:
    try:
        return Client()
    except ValueError as exc:
        fail(str(exc), 2)


@contextmanager
def platform_errors() -> Iterator[None]:
    """Turn platform errors into one readable line and a non-zero exit code."""
    try:
        yield
    except APIError as exc:
        fail(f"{exc.message} ({exc.status}{', ' + exc.code if exc.code else ''})")


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    table = Table(*columns, box=None, header_style="bold")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    out_console.print(table)


def money(amount: float | None) -> str | None:
    """Fixed-point to a billionth (minutes of a CPU cost millionths), never `4.9e-05`."""
    if amount is None:
        return None
    return f"{amount:.9f}".rstrip("0").rstrip(".") or "0"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(map(str, value)) or "-"
    return str(value)
