"""`hai workflows ...`: run a campaign file under your platform user, list, show and cancel
campaigns.

`run` starts the file with this interpreter in a child process whose environment names the
platform and your key (HAI_URL, HAI_API_KEY) and asks for the platform journal
(HAI_WORKFLOW_JOURNAL=platform, see hakutaku.workflows.environment): the campaign is then
journaled through `/api/workflows` as yours, listed, cancellable from anywhere and billed to
you. `--profile` and `--name` override what the file says.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from hakutaku.cli.common import client, fail, platform_errors, print_json, print_table
from hakutaku.errors import PlatformError
from hakutaku.workflows.store import check_name

workflows = typer.Typer(
    help="Campaigns of hakutaku.workflows: run a campaign file, list, show, cancel.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
UserOpt = Annotated[
    str | None, typer.Option("--user", help="An admin: the campaign's owner, if several.")
]
CAMPAIGN_COLUMNS = ("name", "owner", "profile", "state", "runs", "tasks", "cpu_s", "heard")
TASK_COLUMNS = ("key", "state", "tries", "cpus", "started", "wall_s", "cpu_s")
CANCEL_WAIT_SECONDS = 60.0


def _counts(tasks: dict[str, int]) -> str:
    return ", ".join(f"{state} {n}" for state, n in tasks.items()) or "none"


def _clock(stamp: str | None) -> str | None:
    """HH:MM:SS of an ISO time (the day is the campaign's; --json has it all)."""
    return stamp[11:19] if stamp else None


def _task_rows(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **t,
            "tries": t["attempts"],
            "started": _clock(t["started_at"]),
            "wall_s": f"{t['wall_seconds']:.1f}",
            "cpu_s": f"{t['cpu_seconds']:.1f}",
        }
        for t in tasks
    ]


def _rows(campaigns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **c,
            "tasks": _counts(c["tasks"]),
            "cpu_s": f"{c['cpu_seconds']:.1f}",
            "heard": c["updated_at"][:16].replace("T", " "),  # the last heartbeat
        }
        for c in campaigns
    ]


@workflows.command(
    "run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def run(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The campaign file (Python).")],
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", help="Where its tasks run: local, slurm, ... (default: the file's)."
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The campaign's name (default: the file's).")
    ] = None,
) -> None:
    """Run a campaign file under your platform user; arguments after it go to the file."""
    from hakutaku.workflows import environment
    from hakutaku.workflows.profiles import PROFILES  # Parsl: only for `run`

    if not file.is_file():
        fail(f"no campaign file {file} (give the path of a Python file that opens a Campaign)", 2)
    if profile is not None and profile not in PROFILES:
        fail(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}", 2)
    if name is not None:
        try:
            check_name(name)
        except PlatformError as exc:
            fail(exc.message, 2)
    c = client()
    with platform_errors():
        me = c.users.me()
    env = {
        **os.environ,
        "HAI_URL": c.base_url,
        "HAI_API_KEY": c.api_key,
        environment.JOURNAL_VARIABLE: environment.PLATFORM,
    }
    for variable, value in ((environment.PROFILE_VARIABLE, profile),
                            (environment.NAME_VARIABLE, name)):  # fmt: skip
        if value is None:
            env.pop(variable, None)
        else:
            env[variable] = value
    c.close()
    typer.echo(f"running {file} as {me['name']} on {c.base_url}", err=True)
    child = subprocess.Popen([sys.executable, str(file), *ctx.args], env=env)
    try:
        code = child.wait()
    except KeyboardInterrupt:  # the child got it too: let its campaign close
        code = child.wait()
    raise typer.Exit(code)


@workflows.command("list")
def listing(
    user: Annotated[str | None, typer.Option("--user", help="An admin: this user's.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="running, finished, ...")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Your campaigns, newest first (an admin's: everyone's)."""
    with platform_errors():
        rows = client().workflows.list(user=user, state=state)
    print_json(rows) if as_json else print_table(_rows(rows), CAMPAIGN_COLUMNS)


@workflows.command("show")
def show(
    name: str,
    user: UserOpt = None,
    state: Annotated[str | None, typer.Option("--state", help="Only tasks in this state.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """A campaign and its tasks: state, attempts, start, end, wall and CPU time."""
    with platform_errors():
        d = client().workflows.get(name, user=user, state=state)
    if as_json:
        print_json(d)
        return
    for key in ("name", "owner", "profile", "state", "runs", "run_dir", "host", "pid",
                "updated_at"):  # fmt: skip
        typer.echo(f"{key:>12}: {d[key] if d[key] is not None else '-'}")
    typer.echo(f"{'tasks':>12}: {_counts(d['tasks'])}")
    typer.echo(f"{'time':>12}: {d['cpu_seconds']:.1f} CPU s, {d['wall_seconds']:.1f} wall s")
    typer.echo("")
    columns: tuple[str, ...] = TASK_COLUMNS
    if any(t["cards"] for t in d["task_list"]):
        columns = (*columns[:4], "cards", *columns[4:])
    print_table(_task_rows(d["task_list"]), columns)


@workflows.command("cancel")
def cancel(
    name: str,
    user: UserOpt = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until the campaign has ended (60 s at most).")
    ] = False,
) -> None:
    """Cancel a running campaign: its steering process cancels its tasks within seconds."""
    c = client()
    with platform_errors():
        d = c.workflows.cancel(name, user=user)
    if d["state"] != "running":
        typer.echo(f"campaign {name}: {d['state']} (its steering process was gone)")
        return
    typer.echo(f"campaign {name}: cancel asked; its steering process stops its tasks")
    if not wait:
        return
    deadline = time.monotonic() + CANCEL_WAIT_SECONDS
    while d["state"] == "running":
        if time.monotonic() > deadline:
            fail(
                f"campaign {name} is still running after {CANCEL_WAIT_SECONDS:.0f} s; its "
                f"steering process on {d['host']} (pid {d['pid']}) has not stopped",
                1,
            )
        time.sleep(0.5)
        with platform_errors():
            d = c.workflows.get(name, user=user, limit=1)
    typer.echo(f"campaign {name}: {d['state']}")
