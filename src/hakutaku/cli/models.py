"""`hai models ...`: list, register upstreams, set permissions."""

from __future__ import annotations

from typing import Annotated

import typer

from hakutaku.cli.common import client, platform_errors, print_json, print_table

models = typer.Typer(help="List and manage models.", no_args_is_help=True)
tokens = typer.Typer(
    help="Worker tokens scoped to one model (for `hai worker` started by hand).",
    no_args_is_help=True,
)
models.add_typer(tokens, name="tokens")

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


@tokens.command("create")
def token_create(
    model: Annotated[str, typer.Argument(help="The model the token may register.")],
    note: Annotated[str, typer.Option(help="What the token is for.")] = "",
) -> None:
    """A token that registers workers of MODEL only; printed once."""
    with platform_errors():
        t = client().models.create_worker_token(model, note=note)
    typer.echo(f"worker token {t['id']} for model {model} (shown once):")
    typer.echo(t["token"])
    typer.echo(f"run: HAI_WORKER_TOKEN=... hai worker FILE.py:Class --name {model}", err=True)


@tokens.command("list")
def token_list(
    model: Annotated[str | None, typer.Option(help="Only this model's.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Your worker tokens (an admin's: every one), without their secrets."""
    with platform_errors():
        rows = client().models.worker_tokens(model)
    columns = ("id", "model", "note", "deployment_id", "created_at")
    print_json(rows) if as_json else print_table(rows, columns)


@tokens.command("revoke")
def token_revoke(token_id: str) -> None:
    """Revoke a worker token: workers using it are refused at their next heartbeat."""
    with platform_errors():
        client().models.revoke_worker_token(token_id)
    typer.echo(f"revoked worker token {token_id}")
