"""`hai apps`: interactive app sessions (Jupyter Lab, a terminal, …) from the shell — the apps
on offer, your sessions, launch (and wait until it runs), show, extend, stop, its URL.

A session is shown as its card (`client.apps`), with `url` the full portal address (what a
browser opens, signed in) in every output, `--json` included."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from hakutaku.cli.common import client, err_console, fail, platform_errors, print_json, print_table
from hakutaku.compute.units import format_duration
from hakutaku.sdk.client import Client

apps = typer.Typer(
    help="Interactive app sessions (Jupyter Lab, Terminal, …): launch, list, extend, stop.",
    no_args_is_help=True,
)

APP_COLUMNS = ("name", "title", "cpus", "mem", "time")
SESSION_COLUMNS = ("id", "app", "phase", "ended", "node", "left", "url")
# the card's durations (seconds), as `show` prints them
DURATIONS = ("time_limit", "seconds_left", "extend_room")

Card = dict[str, Any]


@apps.command("list")
def list_apps(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The apps on offer, with their default CPUs, memory and time."""
    with platform_errors():
        rows = client().apps.list()
    print_json(rows) if as_json else print_table(rows, APP_COLUMNS)


@apps.command("sessions")
def sessions(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Your sessions, newest first: phase (starting | running | ended), why it ended, node,
    time left, URL."""
    with platform_errors():
        c = client()
        cards = [_full(c, card) for card in c.apps.sessions()]
    if as_json:
        print_json(cards)
        return
    rows = [{**card, "left": _left(card)} for card in cards]
    print_table(rows, SESSION_COLUMNS)


@apps.command("launch")
def launch(
    app: Annotated[str, typer.Argument(help="An app's name (`hai apps list`).")],
    cpus: Annotated[int | None, typer.Option("--cpus", "-c", help="Default: the app's.")] = None,
    mem: Annotated[str | None, typer.Option(help="Memory, e.g. 4G. Default: the app's.")] = None,
    time: Annotated[
        str | None, typer.Option("--time", "-t", help="e.g. 2:00:00. Default: the app's.")
    ] = None,
    partition: Annotated[str | None, typer.Option("--partition", "-p")] = None,
    qos: Annotated[str | None, typer.Option("--qos", "-q")] = None,
    account: Annotated[str | None, typer.Option(help="Group billed.")] = None,
    folder: Annotated[
        str | None,
        typer.Option(help="The folder the app works on (relative to your home, or absolute)."),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", "-w", help="Until it runs (exit 1 if it ends first).")
    ] = False,
    timeout: Annotated[float | None, typer.Option(help="Seconds, with --wait.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the session's card.")] = False,
) -> None:
    """Launch an app as your job; prints the session's id and its portal URL."""
    with platform_errors():
        c = client()
        card = c.apps.launch(
            app,
            folder=folder,
            cpus=cpus,
            mem=mem,
            time=time,
            partition=partition,
            qos=qos,
            account=account,
        )
        if wait:
            card = _wait(c, card["id"], "running", timeout)
    card = _full(c, card)
    if as_json:
        print_json(card)
    else:
        print(card["id"])
        print(card["url"])
    if card["phase"] == "ended":
        fail(f"session {card['id']} ended without running: {_why(card)}")


@apps.command("show")
def show(session_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One session's card."""
    with platform_errors():
        c = client()
        card = _full(c, c.apps.get(session_id))
    if as_json:
        print_json(card)
        return
    for key, value in card.items():
        if key in DURATIONS and value is not None:
            value = format_duration(value)
        print(f"{key:>15}: {_text(value)}")


@apps.command("extend")
def extend(
    session_id: str,
    by: Annotated[str, typer.Option("--by", help="Extra time: 30m, 1h, 1h30m or Slurm's 1:00:00.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Give a session more time, within its QOS's and partition's limits."""
    with platform_errors():
        c = client()
        card = _full(c, c.apps.extend(session_id, by))
    if as_json:
        print_json(card)
        return
    room = card["extend_room"]
    more = f"up to {format_duration(room)} more may be asked" if room else "no more may be asked"
    print(
        f"session {session_id}: time limit {format_duration(card['time_limit'])}, "
        f"{_left(card) or '-'} left ({more})"
    )


@apps.command("stop")
def stop(
    session_id: str,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Until it has ended.")] = False,
    timeout: Annotated[float | None, typer.Option(help="Seconds, with --wait.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Stop a session (cancels its job)."""
    with platform_errors():
        c = client()
        card = c.apps.stop(session_id)
        if wait:
            card = _wait(c, session_id, "ended", timeout)
    card = _full(c, card)
    if as_json:
        print_json(card)
    elif card["phase"] == "ended":
        print(f"session {session_id}: ended ({card['ended']})")
    else:
        print(f"session {session_id}: stopping ({card['reason'] or card['phase']})")


@apps.command("url")
def url(session_id: str) -> None:
    """A session's portal address (open it in a browser where you are signed in)."""
    with platform_errors():
        c = client()
        print(c.apps.url(c.apps.get(session_id)))


# ----------------------------------------------------------------------------- helpers


def _wait(
    c: Client, session_id: str, until: Literal["running", "ended"], timeout: float | None
) -> Card:
    """Wait for the session, telling stderr the scheduler's reason each time it changes."""
    said = [""]

    def tell(card: Card) -> None:
        reason = card["reason"] if card["phase"] == "starting" else ""
        if reason and reason != said[0]:
            err_console.print(f"session {session_id}: waiting: {reason}", highlight=False)
        said[0] = reason

    try:
        return c.apps.wait(session_id, until=until, timeout=timeout, on_poll=tell)
    except TimeoutError as exc:
        fail(str(exc))


def _full(c: Client, card: Card) -> Card:
    return {**card, "url": c.apps.url(card)}


def _left(card: Card) -> str | None:
    left = card.get("seconds_left")
    return None if left is None else format_duration(left)


def _why(card: Card) -> str:
    ended, reason = card.get("ended") or "ended", card.get("reason") or ""
    return f"{ended} ({reason})" if reason and reason != ended else ended


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(map(str, value)) or "-"
    return str(value)
