"""`hai files`: list, upload, download, move, make folders and remove files in your home or the
public area."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from hakutaku.cli.common import client, fail, platform_errors, print_json, print_table
from hakutaku.sdk.files import Files
from hakutaku.storage.quota import format_size, parse_size

files = typer.Typer(help="Your storage home and the public data area.", no_args_is_help=True)
quota = typer.Typer(help="Storage usage and limits.", invoke_without_command=True)
files.add_typer(quota, name="quota")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PublicOpt = Annotated[bool, typer.Option("--public", help="The public area, not your home.")]
UserOpt = Annotated[str | None, typer.Option("--user", help="Another user's home (admins).")]
ENTRY_COLUMNS = ("name", "type", "size", "modified")
UPLOAD_COLUMNS = ("id", "area", "path", "received", "size", "updated_at")


def _files() -> Files:
    return client().files


def _area(public: bool) -> str:
    return "public" if public else "home"


@contextmanager
def _local_errors() -> Iterator[None]:
    """A local file that cannot be read or written is one line, not a traceback."""
    try:
        yield
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))


class _Progress:
    """A one-line progress report on stderr, at most every 5 % (only on a terminal); says so
    when an upload resumes."""

    def __init__(self, verb: str) -> None:
        self.verb = verb
        self.shown = -1
        self.first = True
        self.live = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if self.first and done and self.verb == "upload":
            typer.echo(f"resuming at {format_size(done)} of {format_size(total)}", err=True)
        self.first = False
        if not self.live:
            return
        percent = 100 * done // total if total else 100
        if percent >= self.shown + 5 or done == total:
            self.shown = percent
            typer.echo(f"\r{self.verb}: {percent:3d}% of {format_size(total)}", nl=False, err=True)
            if done == total:
                typer.echo("", err=True)


@files.command("ls")
def ls(
    path: Annotated[str, typer.Argument(help="Folder or file (default: the top).")] = "",
    public: PublicOpt = False,
    user: UserOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a folder of your home (or the public area)."""
    with platform_errors():
        listing = _files().list(path, area=_area(public), user=user)
    if as_json:
        print_json(listing)
        return
    rows = [
        {**e, "name": e["name"] + ("/" if e["type"] == "dir" else ""), "size": _size(e)}
        for e in listing["entries"]
    ]
    print_table(rows, ENTRY_COLUMNS)


def _size(entry: dict[str, Any]) -> str:
    return format_size(entry["size"]) if entry["type"] == "file" else "-"


@files.command("upload")
def upload(
    local: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    remote: Annotated[
        str | None, typer.Argument(help="Where it goes; ending in '/' keeps the name.")
    ] = None,
    public: PublicOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    chunk_size: Annotated[
        str | None, typer.Option(help="Bytes per request, e.g. 8M (default: server's maximum).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Upload a file in checksummed chunks; run it again after an interruption to resume."""
    target = remote or local.name
    if target.endswith("/"):
        target += local.name
    try:
        step = parse_size(chunk_size) if chunk_size else None
    except ValueError as exc:
        fail(str(exc), 2)
    with platform_errors(), _local_errors():
        entry = _files().upload(
            local,
            target,
            area=_area(public),
            overwrite=force,
            chunk_size=step,
            progress=None if as_json else _Progress("upload"),
        )
    if as_json:
        print_json(entry)
    else:
        typer.echo(f"uploaded {local} to {_area(public)}:{entry['path']} ({entry['size']} bytes)")


@files.command("download")
def download(
    remote: str,
    local: Annotated[Path | None, typer.Argument(help="File or folder (default: here).")] = None,
    public: PublicOpt = False,
    user: UserOpt = None,
) -> None:
    """Download a file."""
    with platform_errors(), _local_errors():
        written = _files().download(
            remote,
            local or Path("."),
            area=_area(public),
            user=user,
            progress=_Progress("download"),
        )
    typer.echo(f"downloaded {_area(public)}:{remote} to {written}")


@files.command("rm")
def rm(
    path: str,
    public: PublicOpt = False,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Folders too.")] = False,
) -> None:
    """Delete a file (or, with -r, a folder and everything in it)."""
    with platform_errors():
        entry = _files().delete(path, area=_area(public), recursive=recursive)
    typer.echo(f"deleted {_area(public)}:{entry['path']}{'/' if entry['type'] == 'dir' else ''}")


@files.command("mv")
def mv(
    path: Annotated[str, typer.Argument(help="The file or folder to move.")],
    to: Annotated[str, typer.Argument(help="Its new path; ending in '/' keeps the name.")],
    public: PublicOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Move or rename a file or folder (within your home, or within the public area)."""
    target = to + path.rstrip("/").rpartition("/")[2] if to.endswith("/") else to
    with platform_errors():
        entry = _files().move(path, target, area=_area(public), overwrite=force)
    if as_json:
        print_json(entry)
        return
    slash = "/" if entry["type"] == "dir" else ""
    typer.echo(f"moved {_area(public)}:{path.rstrip('/')}{slash} to {entry['path']}{slash}")


@files.command("mkdir")
def mkdir(
    path: str,
    public: PublicOpt = False,
    exist_ok: Annotated[
        bool,
        typer.Option("--exist-ok", "-p", help="No error if it exists (parents are always made)."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Make a folder (and any missing parents)."""
    with platform_errors():
        entry = _files().mkdir(path, area=_area(public), exist_ok=exist_ok)
    if as_json:
        print_json(entry)
    else:
        typer.echo(f"folder {_area(public)}:{entry['path']}/")


@files.command("uploads")
def uploads(
    cancel: Annotated[str | None, typer.Option(help="Cancel this upload (its id).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List your unfinished uploads, or cancel one (freeing its reserved quota)."""
    with platform_errors():
        if cancel:
            row = _files().cancel_upload(cancel)
            typer.echo(f"cancelled upload {row['id']} of {row['area']}:{row['path']}")
            return
        rows = _files().uploads()
    print_json(rows) if as_json else print_table(rows, UPLOAD_COLUMNS)


def _print_quota(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    reserved = ""
    if report["reserved_files"]:
        reserved = (
            f" (+{format_size(report['reserved_bytes'])} in "
            f"{report['reserved_files']} unfinished uploads)"
        )
    typer.echo(
        f"{report['user']}: {format_size(report['used_bytes'])} of "
        f"{format_size(report['max_bytes'])}, {report['used_files']} of "
        f"{report['max_files']} files{reserved}"
        f"{'' if report['custom'] else ' (default limits)'}"
    )


@quota.callback()
def quota_default(ctx: typer.Context) -> None:
    """Storage usage and limits; `hai files quota` alone shows yours."""
    if ctx.invoked_subcommand is None:
        quota_show()


@quota.command("show")
def quota_show(user: UserOpt = None, as_json: JsonOpt = False) -> None:
    """Show usage and limits (yours, or a user's for admins)."""
    with platform_errors():
        report = _files().quota(user)
    _print_quota(report, as_json)


@quota.command("set")
def quota_set(
    user: str,
    max_bytes: Annotated[
        str | None, typer.Option("--bytes", help="e.g. 500G, 2T, 64GiB (G = 1024³ bytes).")
    ] = None,
    max_files: Annotated[int | None, typer.Option("--files", help="Number of files.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a user's storage limits (admin)."""
    if max_bytes is None and max_files is None:
        fail("give --bytes, --files or both", 2)
    try:
        limit = parse_size(max_bytes) if max_bytes is not None else None
    except ValueError as exc:
        fail(str(exc), 2)
    with platform_errors():
        report = _files().set_quota(user, max_bytes=limit, max_files=max_files)
    _print_quota(report, as_json)


@quota.command("reset")
def quota_reset(user: str, as_json: JsonOpt = False) -> None:
    """Give a user the default limits again (admin)."""
    with platform_errors():
        report = _files().reset_quota(user)
    _print_quota(report, as_json)
