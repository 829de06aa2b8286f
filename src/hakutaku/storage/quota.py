"""Quotas: what a home holds (measured from the files), the limits, and the check before upload.

Usage is measured from the disk rather than kept as a counter, so files changed outside the
API (a job writing into the home, an operator's `rm`) are always counted right. Uploads still
in progress are counted as reservations of their declared size, so two parallel uploads cannot
both squeeze under the same remaining room.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hakutaku.compute.units import format_bytes, parse_bytes
from hakutaku.storage.errors import QuotaExceeded


@dataclass(frozen=True, slots=True)
class Usage:
    """Bytes and files. Folders are not counted as files; sizes are apparent sizes."""

    bytes: int = 0
    files: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.bytes + other.bytes, self.files + other.files)


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int
    max_files: int


def measure(folder: Path) -> Usage:
    """Total size and number of files under `folder` (an absent folder holds nothing).

    `os.scandir` with an explicit stack: one `stat` per entry at most, no recursion limit, and
    symlinks are counted as files without being followed (a link cannot inflate the count).
    """
    total = files = 0
    stack = [os.fspath(folder)]
    while stack:
        current = stack.pop()
        try:
            entries = os.scandir(current)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        files += 1
                        total += entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:  # removed while we walked
                    continue
    return Usage(total, files)


def check_room(user: str, limits: Limits, used: Usage, reserved: Usage, adding: Usage) -> None:
    """Raise `QuotaExceeded` unless `used + reserved + adding` fits in `limits`.

    Only growth is refused: replacing a file by a smaller one is always allowed, so a user over
    quota (after an admin lowered it) can still clean up.
    """
    after = used + reserved + adding
    pending = ""
    if reserved.files:
        pending = (
            f" (of which {format_size(reserved.bytes)} in {reserved.files} unfinished "
            "uploads; finish or cancel them with `hai files uploads`)"
        )
    advice = (
        "Delete files you no longer need (`hai files rm`), or ask an admin to raise your quota "
        f"(`hai files quota set {user} ...`)."
    )
    if adding.bytes > 0 and after.bytes > limits.max_bytes:
        raise QuotaExceeded(
            f"Storage quota exceeded for {user}: this upload needs {format_size(adding.bytes)}, "
            f"but {format_size(used.bytes + reserved.bytes)} of "
            f"{format_size(limits.max_bytes)} is already used{pending}. {advice}"
        )
    if adding.files > 0 and after.files > limits.max_files:
        raise QuotaExceeded(
            f"File quota exceeded for {user}: {used.files + reserved.files} of "
            f"{limits.max_files} files are already used{pending}, and this upload adds "
            f"{adding.files}. {advice}"
        )


def parse_size(text: str | int) -> int:
    """Bytes from `1000`, `10G`, `10GB` or `10GiB` (all 10 × 1024³), `1.5T`, `8M`.

    The platform's one reading of sizes (`hakutaku.compute.units.parse_bytes`, Slurm's binary
    suffixes), so a quota of `10G` is the same amount as a job's `--mem 10G`.

    >>> parse_size("10G"), parse_size("1.5k"), parse_size("2MiB")
    (10737418240, 1536, 2097152)
    """
    return parse_bytes(text)


def format_size(n: int) -> str:
    """A short human size in powers of 1024 (`512 B`, `1.5 KiB`, `500 GiB`), as sizes are read."""
    return format_bytes(n)
