"""`hai users ...` and `hai keys ...` (through the platform's /api, with an admin key)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from hakutaku.cli.common import client, fail, platform_errors, print_json, print_table

users = typer.Typer(help="Manage users (admin).", no_args_is_help=True)
keys = typer.Typer(help="Manage API keys.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
USER_COLUMNS = ("id", "name", "role", "groups", "disabled", "email", "created_at")
KEY_COLUMNS = (
    "id",
    "prefix",
    "user",
    "name",
    "created_at",
    "expires_at",
    "revoked_at",
    "last_used_at",
    "rate_limit",
)


@users.command("add")
def users_add(
    name: str,
    role: Annotated[str, typer.Option(help="admin or user")] = "user",
    group: Annotated[list[str] | None, typer.Option("--group", "-g", help="Repeatable.")] = None,
    email: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a user."""
    with platform_errors():
        user = client().users.add(name, role=role, groups=group or [], email=email)
    print_json(user) if as_json else typer.echo(f"added user {user['name']} ({user['role']})")


@users.command("list")
def users_list(as_json: JsonOpt = False) -> None:
    """List users."""
    with platform_errors():
        rows = client().users.list()
    print_json(rows) if as_json else print_table(rows, USER_COLUMNS)


def _set_disabled(name: str, disabled: bool) -> None:
    with platform_errors():
        client().users.update(name, disabled=disabled)
    typer.echo(f"{'disabled' if disabled else 'enabled'} user {name}")


@users.command("disable")
def users_disable(name: str) -> None:
    """Disable a user: their keys stop working."""
    _set_disabled(name, True)


@users.command("enable")
def users_enable(name: str) -> None:
    """Enable a disabled user again."""
    _set_disabled(name, False)


@users.command("passwd")
def users_passwd(
    name: str,
    link: Annotated[
        bool, typer.Option("--link", help="Print a one-time sign-in link instead (admins).")
    ] = False,
    hours: Annotated[float, typer.Option(help="How long the link works.")] = 24.0,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a user's portal password (asked twice), or make a one-time sign-in link."""
    with platform_errors():
        if link:
            made = client().users.login_link(name, hours=hours)
            typer.echo(made["url"])
            typer.echo(f"(one sign-in, until {made['expires_at']}; then a new password)", err=True)
            return
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = typer.prompt("New password", hide_input=True)
            if typer.prompt("Again", hide_input=True) != password:
                fail("the two passwords differ")
        client().users.set_password(name, password)
    typer.echo(f"password set for {name}; their signed-in browsers were signed out")


@keys.command("create")
def keys_create(
    user: Annotated[str | None, typer.Argument(help="Owner (default: yourself).")] = None,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    expires_in_days: Annotated[float | None, typer.Option(help="Expire after N days.")] = None,
    rate_limit: Annotated[
        int | None,
        typer.Option(min=1, help="Model calls per minute (admins; default: HAI_RATE_LIMIT)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key. The secret is printed once; store it now."""
    expires = None
    if expires_in_days is not None:
        expires = datetime.now(UTC) + timedelta(days=expires_in_days)
    with platform_errors():
        created = client().keys.create(user, name=name, expires_at=expires, rate_limit=rate_limit)
    if as_json:
        print_json(created)
    else:
        typer.echo(created["key"])
        typer.echo(f"(key {created['id']} for {created['user']}; shown only once)", err=True)


@keys.command("list")
def keys_list(
    user: Annotated[str | None, typer.Option(help="Whose keys (admins).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List keys (prefixes only; secrets are never stored)."""
    with platform_errors():
        rows = client().keys.list(user or None)
    print_json(rows) if as_json else print_table(rows, KEY_COLUMNS)


@keys.command("limit")
def keys_limit(
    key: Annotated[str, typer.Argument(help="Key id or prefix.")],
    per_minute: Annotated[
        str, typer.Argument(metavar="CALLS_PER_MINUTE", help="A number, or 'default'.")
    ],
) -> None:
    """Set a key's own rate limit on model calls, or return it to the platform's default
    (HAI_RATE_LIMIT) (admin)."""
    if per_minute == "default":
        limit = None
    elif per_minute.isdigit() and int(per_minute) >= 1:
        limit = int(per_minute)
    else:
        fail(f"give calls per minute as a whole number >= 1, or 'default', not {per_minute!r}", 2)
    with platform_errors():
        row = client().keys.set_rate_limit(key, limit)
    shown = row["rate_limit"] or "the platform's default"
    typer.echo(f"key {row['id']} (hai-{row['prefix']}…): {shown} calls per minute")


@keys.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="Key id or prefix.")]) -> None:
    """Revoke a key."""
    with platform_errors():
        row = client().keys.revoke(key)
    typer.echo(f"revoked key {row['id']} (hai-{row['prefix']}…) of {row['user']}")
