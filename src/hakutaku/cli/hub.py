"""`hai hub`: the model zoo and dataset registry on the platform (or in a local folder).

hai hub list                                   architectures
hai hub weights ARCH                           its weights versions
hai hub push ARCH FILE --version V --config '{"features": "kin", "num_classes": 2}'
hai hub pull ARCH [VERSION] [--out FILE]       download (and check) a weights file
hai hub datasets list | show NAME [--version V]

Every command talks to the server the SDK finds (HAI_URL, HAI_API_KEY; see sdk/config.py);
`--folder DIR` works on a folder hub instead, as the library does without a server.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from hakutaku.cli.common import fail, print_json, print_table
from hakutaku.hub.backend import HubStore
from hakutaku.hub.store import FolderHub
from hakutaku.sdk.errors import APIError

hub = typer.Typer(help="Model architectures, weights and datasets.", no_args_is_help=True)
datasets = typer.Typer(help="The dataset registry.", no_args_is_help=True)
hub.add_typer(datasets, name="datasets")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
FolderOpt = Annotated[
    Path | None, typer.Option("--folder", help="A folder hub instead of the server.")
]


def _store(folder: Path | None) -> HubStore:
    if folder is not None:
        return FolderHub(folder)
    from hakutaku.hub.remote_store import RemoteHub

    try:
        return RemoteHub()
    except ValueError as exc:
        fail(str(exc), 2)


@contextmanager
def _errors() -> Iterator[None]:
    """What the hub refuses is one line and a non-zero exit, not a traceback."""
    try:
        yield
    except typer.Exit:  # a RuntimeError too: already reported
        raise
    except APIError as exc:
        fail(f"{exc.message} ({exc.status}{', ' + exc.code if exc.code else ''})")
    except (LookupError, ValueError, PermissionError, OSError, RuntimeError) as exc:
        fail(str(exc))


def _json_option(name: str, text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError as exc:
        fail(f"{name} must be a JSON object: {exc}", 2)
    if not isinstance(value, dict):
        fail(f"{name} must be a JSON object", 2)
    return value


@hub.command("list")
def list_architectures(folder: FolderOpt = None, as_json: JsonOpt = False) -> None:
    """Architectures: the built-in taggers and those registered."""
    from hakutaku.hep.models import ARCHITECTURES

    with _errors():
        user = _store(folder).user_architectures()
    rows = [
        {"name": n, "builder": "(built-in)", "docs": ARCHITECTURES[n].title} for n in ARCHITECTURES
    ]
    rows += [{"name": n, **entry} for n, entry in user.items()]
    rows.sort(key=lambda r: r["name"])
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ("name", "builder", "docs"))


@hub.command("weights")
def weights(architecture: str, folder: FolderOpt = None, as_json: JsonOpt = False) -> None:
    """The weights versions of an architecture, oldest first."""
    with _errors():
        cards = _store(folder).weights(architecture)
    rows = [asdict(c) for c in cards]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        row["sha256"] = row["sha256"][:12]
        row["metrics"] = json.dumps(row["metrics"]) if row["metrics"] else ""
    columns = ("version", "sha256", "size", "licence", "metrics", "created_by", "created_at")
    print_table(rows, columns)


@hub.command("push")
def push(
    architecture: str,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    version: Annotated[str, typer.Option(help="A new version name, e.g. top-v1.")],
    config: Annotated[
        str | None, typer.Option(help='Builder keywords as JSON, e.g. {"features": "kin"}.')
    ] = None,
    metrics: Annotated[str | None, typer.Option(help="JSON object of metrics.")] = None,
    training_data: Annotated[str, typer.Option(help="What they were trained on.")] = "",
    licence: str = "",
    author: Annotated[str, typer.Option(help="Who made them.")] = "",
    description: str = "",
    private: Annotated[bool, typer.Option("--private", help="Only you and admins see them.")] = (
        False
    ),
    folder: FolderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a weights file (a state_dict); it is checked to load into the declared build."""
    from hakutaku.hub import models

    with _errors():
        card = models.register_weights(
            architecture,
            file,
            version=version,
            config=_json_option("--config", config),
            metrics=_json_option("--metrics", metrics),
            training_data=training_data,
            licence=licence,
            author=author,
            description=description,
            public=not private,
            hub=_store(folder),
        )
    if as_json:
        print_json(asdict(card))
    else:
        typer.echo(f"registered {architecture}/{card.version} (sha256 {card.sha256})")


@hub.command("pull")
def pull(
    architecture: str,
    version: Annotated[str, typer.Argument(help="A version, or latest.")] = "latest",
    out: Annotated[Path | None, typer.Option(help="Where to write (default: ARCH-VERSION.pt).")] = (
        None
    ),
    folder: FolderOpt = None,
) -> None:
    """Download a weights file, checked against its sha256."""
    store = _store(folder)
    with _errors():
        card = store.find_weights(architecture, version)
        source = store.weights_file(card)
        target = out or Path(f"{card.architecture}-{card.version}.pt")
        shutil.copyfile(source, target)
    typer.echo(f"wrote {target} ({card.architecture}/{card.version}, sha256 {card.sha256})")


@datasets.command("list")
def datasets_list(folder: FolderOpt = None, as_json: JsonOpt = False) -> None:
    """Dataset cards your key may see."""
    with _errors():
        cards = _store(folder).datasets()
    rows = [asdict(c) for c in cards]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        row["files"] = len(row["files"])
        row["public"] = "public" if row["public"] else "private"
    columns = ("name", "version", "format", "files", "size_bytes", "licence", "public", "owner")
    print_table(rows, columns)


@datasets.command("show")
def datasets_show(
    name: str,
    version: Annotated[str, typer.Option(help="A version, or latest.")] = "latest",
    folder: FolderOpt = None,
) -> None:
    """One dataset card, as JSON."""
    with _errors():
        card = _store(folder).find_dataset(name, version)
    print_json(asdict(card))
