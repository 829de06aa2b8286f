"""Path safety: API paths are relative POSIX paths that must stay inside one area's folder.

Two checks, both needed: `clean_path` refuses what is wrong as text (NUL, absolute, `..` above
the top) before anything touches the disk; `inside` resolves symlinks against the resolved
area root, so a link planted in a home that points elsewhere cannot be followed out of it.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from hakutaku.storage.errors import UnsafePath

AREAS = ("home", "public")
MAX_PATH_CHARS = 1024  # the width of uploads.path
MAX_NAME_BYTES = 255  # what POSIX file systems allow for one component


def clean_path(path: str, *, allow_top: bool = False) -> PurePosixPath:
    """`path` with empty parts, `.` and `..` folded away; refused if it is unsafe as text.

    `allow_top` accepts the area's own top (an empty path), which listing needs and writing
    must not get.

    >>> clean_path("data/./run1/../run2/x.root")
    PurePosixPath('data/run2/x.root')
    """
    if "\x00" in path:
        raise UnsafePath(path, "it contains a NUL byte")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise UnsafePath(path, "it contains a control character")
    if len(path) > MAX_PATH_CHARS:
        raise UnsafePath(path[:64] + "…", f"it is longer than {MAX_PATH_CHARS} characters")
    if path.startswith("/"):
        raise UnsafePath(path, "it is absolute")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise UnsafePath(path, "'..' climbs above the top of the area")
            parts.pop()
            continue
        if len(part.encode()) > MAX_NAME_BYTES:
            raise UnsafePath(path, f"a name is longer than {MAX_NAME_BYTES} bytes")
        parts.append(part)
    if not parts and not allow_top:
        raise UnsafePath(path, "it names the top of the area, not a file")
    return PurePosixPath(*parts)


def inside(area: Path, rel: PurePosixPath, *, follow_last: bool = True) -> Path:
    """The absolute path of `rel` in `area`, after checking that it stays there.

    Symlinks on the way are resolved and the result must lie under the resolved area root.
    With `follow_last=False` the last component is not followed (to delete or replace a link
    itself rather than what it points at); its parent is still checked.
    """
    root = area.resolve()
    if not rel.parts:
        return root
    if follow_last:
        target = (root / rel).resolve()
        if not target.is_relative_to(root):
            raise UnsafePath(str(rel), "it leads outside the area through a symbolic link")
        return target
    parent = (root / rel).parent.resolve()
    if not parent.is_relative_to(root):
        raise UnsafePath(str(rel), "it leads outside the area through a symbolic link")
    return parent / rel.name


def open_inside(root: Path, target: Path, rel: str, flags: int = 0) -> int:
    """`target` (from `inside`) opened for reading, after checking that what was opened still
    lies under the resolved `root`; the caller reads through the descriptor and closes it.

    `inside` resolved the path a moment ago, but whoever writes the folder (a user's job on
    Slurm, while the server may run as root) can swap a name on the way for a link in
    between. So the last part is opened without following a link, and the kernel's own name
    for what was opened (/proc/self/fd) must lie under the root. O_NONBLOCK: a FIFO does not
    hang the server waiting for a writer. FileNotFoundError when it is gone."""
    try:
        fd = os.open(target, flags | os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:  # ELOOP: the last part became a link
        raise UnsafePath(rel, f"it could not be opened safely ({exc.strerror})") from exc
    opened = Path(f"/proc/self/fd/{fd}")
    # Linux has /proc/self/fd; elsewhere `inside`'s check is the one made
    if opened.parent.is_dir() and not Path(os.readlink(opened)).is_relative_to(root.resolve()):
        os.close(fd)
        raise UnsafePath(rel, "it leads outside the area through a symbolic link")
    return fd


def relative_to_area(area: Path, absolute: Path) -> str:
    """`absolute` as the API names it: relative to the (resolved) area, '/'-separated."""
    return PurePosixPath(absolute.relative_to(area.resolve())).as_posix()
