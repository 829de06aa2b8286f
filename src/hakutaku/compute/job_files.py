"""A job's folder, read by its owner: listing it and picking a file to send.

The folder (`ComputeService.job_dir`) holds the job's script, the backends' own files, its
output.log and whatever the job writes there. Paths are checked as the storage areas check
theirs (`clean_path` as text, `inside` against symlinks), and one file is never shown:

- `request.json` (local backend): the job's whole environment and command, which for an app
  session hold the session's secret (JUPYTER_TOKEN, HAI_APP_SECRET) and for any job the
  server's environment it started from. The secret is what the apps proxy shows the app; a
  browser or a leaked API key must not get it from the folder. A link to it is refused too.

Slurm's `slurm.sh` is shown: the environment goes to sbatch as its process environment,
never into a file, and app specs give the secret in `env`, not on the command line.
"""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from hakutaku.errors import NotFound, PlatformError
from hakutaku.storage.errors import UnsafePath
from hakutaku.storage.paths import clean_path, inside, open_inside
from hakutaku.storage.service import Entry

HIDDEN = frozenset({"request.json"})  # in the folder's top; see the module's docstring
TEXT_SNIFF = 8192  # bytes looked at to tell text from binary


class UnsafeJobPath(PlatformError):
    """A path that is malformed or would leave the job's folder (400 `invalid_path`)."""

    code = "invalid_path"

    def __init__(self, job_id: int, path: str, reason: str) -> None:
        super().__init__(
            f"Refused path {path!r}: {reason}. Paths are relative to job {job_id}'s folder, "
            "use '/' between folders and stay inside it.",
            param="path",
        )


class HiddenJobFile(NotFound):
    """A file the platform keeps for itself in the folder (404, named as such)."""

    code = "hidden_file"

    def __init__(self, job_id: int, path: str) -> None:
        super().__init__(
            f"{path!r} in job {job_id}'s folder is the platform's own: it holds the job's "
            "environment, which may carry secrets, so it is not shown. The job's record "
            f"(GET /api/jobs/{job_id}) has its command and resources.",
            param="path",
        )


def _resolve(job_id: int, folder: Path, path: str, *, allow_top: bool) -> tuple[str, Path]:
    """`path` cleaned, and where it leads in `folder`; refused if unsafe or hidden."""
    try:
        rel = clean_path(path, allow_top=allow_top)
        target = inside(folder, rel)
    except UnsafePath as exc:
        reason = exc.reason.replace("the area", "the job's folder")  # the storage areas' words
        raise UnsafeJobPath(job_id, exc.path, reason) from exc
    root = folder.resolve()
    if _is_hidden(rel) or any(target == root / name for name in HIDDEN):
        raise HiddenJobFile(job_id, rel.as_posix())
    return (rel.as_posix() if rel.parts else ""), target  # the top: "", not "."


def _is_hidden(rel: PurePosixPath) -> bool:
    return len(rel.parts) == 1 and rel.parts[0] in HIDDEN


def _open_checked(job_id: int, root: Path, target: Path, rel: str, flags: int) -> int:
    """`target` opened and checked as storage opens its files (`open_inside`: what was opened
    must still lie in the folder, whatever the job swapped meanwhile), and not the hidden
    file by another name; everything is then read through the descriptor."""
    try:
        fd = open_inside(root, target, rel, flags)
    except FileNotFoundError as exc:
        message = f"No file or folder {rel!r} in job {job_id}'s folder."
        raise NotFound(message, param="path") from exc
    except UnsafePath as exc:
        reason = exc.reason.replace("the area", "the job's folder")
        raise UnsafeJobPath(job_id, rel, reason) from exc
    opened = Path(f"/proc/self/fd/{fd}")
    if opened.parent.is_dir() and any(Path(os.readlink(opened)) == root / n for n in HIDDEN):
        os.close(fd)
        raise HiddenJobFile(job_id, rel)
    return fd


def listing(job_id: int, folder: Path, path: str = "") -> tuple[str, list[Entry]]:
    """A folder's entries (or one file's entry), sorted by name; links are shown, not
    followed. The folder of a job that has not started yet lists empty."""
    rel, target = _resolve(job_id, folder, path, allow_top=True)
    root = folder.resolve()
    if not rel and not target.exists():
        return "dir", []
    if not target.exists():
        raise NotFound(f"No file or folder {rel!r} in job {job_id}'s folder.", param="path")
    if not target.is_dir():
        return "file", [_entry((root / rel).lstat(), rel)]
    fd = _open_checked(job_id, root, target, rel, os.O_DIRECTORY)
    prefix = f"{rel}/" if rel else ""
    entries = []
    try:
        with os.scandir(fd) as found:
            for item in found:
                if not rel and item.name in HIDDEN:
                    continue
                try:
                    entries.append(_entry(item.stat(follow_symlinks=False), prefix + item.name))
                except FileNotFoundError:  # removed while listing
                    continue
    finally:
        os.close(fd)
    return "dir", sorted(entries, key=lambda e: e.name)


def _entry(st: os.stat_result, rel: str) -> Entry:
    """An entry from its lstat, named by `rel` (its path in the job's folder)."""
    if stat.S_ISLNK(st.st_mode):
        kind = "link"
    elif stat.S_ISDIR(st.st_mode):
        kind = "dir"
    else:
        kind = "file"
    size = st.st_size if kind == "file" else 0
    modified = datetime.fromtimestamp(st.st_mtime, UTC)
    return Entry(PurePosixPath(rel).name, rel, kind, size, modified)


def open_file(job_id: int, folder: Path, path: str) -> tuple[str, int]:
    """The file that `path` names, opened and checked: its name and a descriptor the caller
    closes. 404 when missing, 400 for a folder."""
    rel, target = _resolve(job_id, folder, path, allow_top=False)
    if not target.exists():
        raise NotFound(f"No file {rel!r} in job {job_id}'s folder.", param="path")
    if target.is_dir():
        raise PlatformError(
            f"{rel!r} is a folder: list it with GET /api/jobs/{job_id}/files?path={rel} "
            f"(`hai jobs files {job_id} {rel}`).",
            param="path",
        )
    fd = _open_checked(job_id, folder.resolve(), target, rel, 0)
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or device a job made: not sent
        os.close(fd)
        raise PlatformError(f"{rel!r} is not a regular file; it is not sent.", param="path")
    return PurePosixPath(rel).name, fd


def looks_like_text(fd: int) -> bool:
    """UTF-8 without NUL bytes in its first TEXT_SNIFF bytes (a character cut at the end is
    allowed): what a browser may be shown as text/plain."""
    head = os.pread(fd, TEXT_SNIFF, 0)
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and len(head) == TEXT_SNIFF
    return True
