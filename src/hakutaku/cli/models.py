"""`hai models ...`: list, register upstreams, set permissions."""

from __future__ import annotations

from typing import Annotated

import typer

from hakutaku.cli.common import client, platform_errors, print_json, print_table

models = typer.Typer(help="List and manage models.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
GroupOpt = Annotated[list[str] | None, typer.Option("--group", "-g", help="Repeatable.")]
UserOpt = Annotated[list[str] | None, typer.Option("--user", "-u", help="Repeatable.")]


@models.command("list")
def models_list(
    all_models: Annotated[bool, typer.Option("--all", help="Every model (admin).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The models your key may use (with --all: every registered model and its permissions)."""
    columns: tuple[str, ...]
    with platform_errors():
        c = client()
        if all_models:
            rows = c.models.list_all()
            columns = ("name", "kind", "public", "groups", "users", "workers", "upstream_base_url")
        else:
            rows = [{**m, "methods": sorted(m.get("methods") or {})} for m in c.models.list()]
            columns = ("id", "kind", "workers", "methods", "description")
    print_json(rows) if as_json else print_table(rows, columns)


@models.command("add-upstream")
def add_upstream(
    name: Annotated[str, typer.Argument(help="The platform's name for the model.")],
    base_url: Annotated[str, typer.Option(help="OpenAI-compatible base URL, e.g. .../v1")],
    api_key: Annotated[
        str | None, typer.Option(help="The upstream's key (stored encrypted).")
    ] = None,
    upstream_model: Annotated[
        str | None, typer.Option(help="The upstream's own model name (default: NAME).")
    ] = None,
    private: Annotated[bool, typer.Option(help="Only listed groups/users may use it.")] = False,
    group: GroupOpt = None,
    user: UserOpt = None,
    description: str = "",
) -> None:
    """Register an OpenAI-compatible upstream (vLLM, Ollama, a provider) as a model."""
    with platform_errors():
        client().models.add_upstream(
            name,
            base_url,
            api_key=api_key,
            upstream_model=upstream_model,
            public=not private,
            groups=group or [],
            users=user or [],
            description=description,
        )
    typer.echo(f"model {name} → {base_url} ({upstream_model or name})")


@models.command("permit")
def permit(
    name: str,
    public: Annotated[bool | None, typer.Option("--public/--private")] = None,
    group: GroupOpt = None,
    user: UserOpt = None,
) -> None:
    """Set who may use a model: --public, or --private with --group/--user lists."""
    with platform_errors():
        m = client().models.update(name, public=public, groups=group, users=user)
    who = "everyone" if m["public"] else f"groups={m['groups']} users={m['users']}"
    typer.echo(f"model {name}: {who}")


@models.command("remove")
def remove(name: str) -> None:
    """Remove an upstream model."""
    with platform_errors():
        client().models.remove(name)
    typer.echo(f"removed model {name}")
