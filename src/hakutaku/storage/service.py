"""The storage root: who may use which area; listing, reading, moving, new folders, deleting;
quotas.

Layout under the root (`HAI_STORAGE_ROOT`, default `$HAI_HOME/storage`):

    home/<user>/   one per user, made on first use; counted against the user's quota
    public/        readable by every user; writable by admins and the data-admin group
    .uploads/      part files of unfinished uploads (outside every area, so never listed)
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hakutaku.config import Settings
from hakutaku.db.models import StorageQuota, Upload, User
from hakutaku.errors import Conflict, Forbidden, NotFound, PlatformError
from hakutaku.identity.auth import Principal
from hakutaku.identity.service import get_user
from hakutaku.storage.errors import UnsafePath
from hakutaku.storage.paths import AREAS, clean_path, inside, open_inside, relative_to_area
from hakutaku.storage.quota import Limits, Usage, measure

LOCK_STRIPES = 64


@dataclass(frozen=True, slots=True)
class Entry:
    """A file, folder or symbolic link, as listings show it (links are not followed)."""

    name: str
    path: str  # relative to the area
    type: str  # file | dir | link
    size: int
    modified: datetime


@dataclass(frozen=True, slots=True)
class QuotaReport:
    user: str
    used: Usage
    reserved: Usage  # declared sizes of unfinished uploads into the home
    limits: Limits
    custom: bool  # an admin set this user's limits


@dataclass(frozen=True, slots=True)
class Area:
    """One resolved area for one request: its folder and whose quota it counts against."""

    name: str  # home | public
    folder: Path
    owner_id: int | None  # the home's user; None for public (no per-user quota there)
    owner: str | None


def entry_of(path: Path, area_folder: Path) -> Entry:
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        kind = "link"
    elif stat.S_ISDIR(st.st_mode):
        kind = "dir"
    else:
        kind = "file"
    return Entry(
        name=path.name,
        path=relative_to_area(area_folder, path),
        type=kind,
        size=st.st_size if kind == "file" else 0,
        modified=datetime.fromtimestamp(st.st_mtime, UTC),
    )


def _entry_of_item(item: os.DirEntry[str], prefix: str) -> Entry:
    st = item.stat(follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        kind = "link"
    elif stat.S_ISDIR(st.st_mode):
        kind = "dir"
    else:
        kind = "file"
    return Entry(
        name=item.name,
        path=prefix + item.name,
        type=kind,
        size=st.st_size if kind == "file" else 0,
        modified=datetime.fromtimestamp(st.st_mtime, UTC),
    )


class Storage:
    def __init__(self, settings: Settings) -> None:
        self.root = settings.storage_path
        self.defaults = Limits(settings.storage_max_bytes, settings.storage_max_files)
        self.data_admin_group = settings.data_admin_group
        # A chunk travels as the whole request body, which the server caps.
        self.chunk_size_max = settings.max_body_bytes
        # Striped locks: bounded memory however many users and uploads pass through.
        self._stripes = [threading.Lock() for _ in range(LOCK_STRIPES)]

    # -- layout and access --------------------------------------------------------------------

    @property
    def homes(self) -> Path:
        return self.root / "home"

    @property
    def public(self) -> Path:
        return self.root / "public"

    @property
    def parts(self) -> Path:
        return self.root / ".uploads"

    def lock(self, key: str | int) -> threading.Lock:
        return self._stripes[hash(key) % LOCK_STRIPES]

    def may_write_public(self, who: Principal) -> bool:
        return who.is_admin or self.data_admin_group in who.groups

    def area(
        self, s: Session, who: Principal, area: str, user: str | None = None, *, write: bool
    ) -> Area:
        """The folder of `area` for this caller, after the access check."""
        if area not in AREAS:
            raise PlatformError(f"Unknown area {area!r}: use 'home' or 'public'.", param="area")
        if area == "public":
            if user is not None:
                raise PlatformError("`user` applies to the home area only.", param="user")
            if write and not self.may_write_public(who):
                raise Forbidden(
                    "The public area is read-only for you: only admins and members of the "
                    f"{self.data_admin_group!r} group may write it. Ask an admin to add you "
                    "to that group, or upload into your home."
                )
            self.public.mkdir(parents=True, exist_ok=True)
            return Area("public", self.public, None, None)
        if user is None or user == who.user:
            home = self.homes / who.user
            home.mkdir(parents=True, exist_ok=True)
            return Area("home", home, who.user_id, who.user)
        if not who.is_admin:
            raise Forbidden("Only admins may read other users' homes.", param="user")
        if write:
            raise Forbidden(
                f"Admins may read {user}'s home but not write or delete in it; "
                "use the public area to share data with them.",
                param="user",
            )
        owner = get_user(s, user)  # 404 for an unknown user
        return Area("home", self.homes / owner.name, owner.id, owner.name)

    def home_of(self, owner: User) -> Area:
        """A user's home, read on the platform's own authority (e.g. the PDF a conversation
        shared by its owner cites); the caller has made its own access check."""
        return Area("home", self.homes / owner.name, owner.id, owner.name)

    # -- files --------------------------------------------------------------------------------

    def listing(self, area: Area, path: str) -> tuple[str, list[Entry]]:
        """The entries of a folder (or the one entry of a file), sorted by name."""
        rel = clean_path(path, allow_top=True)
        target = inside(area.folder, rel)
        if not rel.parts and not target.exists():
            return "dir", []  # another user's home that was never used
        if not target.exists():
            raise NotFound(f"No file or folder {rel.as_posix()!r} in the {area.name} area.")
        if not target.is_dir():
            return "file", [entry_of(target, area.folder)]
        # Entries straight from scandir: one lstat each and no path resolution per entry
        # (a folder of 100 000 files lists in well under a second).
        prefix = f"{rel.as_posix()}/" if rel.parts else ""
        entries = []
        with os.scandir(target) as found:
            for item in found:
                try:
                    entries.append(_entry_of_item(item, prefix))
                except FileNotFoundError:  # removed while listing
                    continue
        return "dir", sorted(entries, key=lambda e: e.name)

    def open_to_read(self, area: Area, path: str) -> int:
        """The file `path` names, opened and checked (`open_inside`): a descriptor the caller
        reads through and closes, so a name swapped for a link meanwhile changes nothing."""
        target = inside(area.folder, clean_path(path))
        if target.is_dir():
            raise PlatformError(
                f"{path!r} is a folder: list it with GET /api/files/list?area={area.name}"
                f"&path={path} (`hai files ls`).",
                param="path",
            )
        try:
            fd = open_inside(area.folder, target, path)
        except FileNotFoundError:
            raise NotFound(f"No file {path!r} in the {area.name} area.", param="path") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or a device: never read
            os.close(fd)
            raise PlatformError(f"{path!r} is not a regular file; it is not read.", param="path")
        return fd

    def delete(self, area: Area, path: str, *, recursive: bool = False) -> Entry:
        """Remove a file, a link (not what it points at) or a folder (`recursive` if not empty)."""
        target = inside(area.folder, clean_path(path), follow_last=False)
        try:
            entry = entry_of(target, area.folder)
        except FileNotFoundError:
            raise NotFound(f"No file or folder {path!r} in the {area.name} area.") from None
        if entry.type != "dir":
            target.unlink(missing_ok=True)
        elif recursive:
            shutil.rmtree(target)  # does not follow links inside the tree
        else:
            try:
                target.rmdir()
            except OSError:
                raise Conflict(
                    f"The folder {path!r} is not empty: delete it with recursive=true "
                    "(`hai files rm -r`).",
                    param="path",
                    code="folder_not_empty",
                ) from None
        return entry

    def make_folder(self, area: Area, path: str, *, exist_ok: bool = False) -> tuple[Entry, bool]:
        """Make the folder `path` and any missing parents; (its entry, whether it was made).

        An existing folder is refused (409 `folder_exists`) unless `exist_ok`; a file or link
        of that name always is. Folders count against no quota (they hold no bytes and are not
        files), so making one can never take a home past its limits.
        """
        rel = clean_path(path)
        target = inside(area.folder, rel, follow_last=False)
        name = rel.as_posix()
        for _attempt in range(2):
            existing = _kind_at(target)
            if existing == "dir" and exist_ok:
                return entry_of(target, area.folder), False
            if existing is not None:
                raise _taken(name, existing, "path")
            make_parents(area, name, target)
            try:
                target.mkdir()
            except FileExistsError:
                continue  # made meanwhile by someone else: answer as if it had been there
            return entry_of(target, area.folder), True
        raise _taken(name, _kind_at(target) or "dir", "path")

    def move(self, area: Area, path: str, to: str, *, overwrite: bool = False) -> Entry:
        """Move or rename a file, link or folder to `to` in the same area; its new entry.

        Never replaces a folder. Replaces an existing file only with `overwrite`, and then
        atomically; without it the move is a hard link plus an unlink for files (a name taken
        meanwhile is never clobbered) and rename(2) for folders. Parents of `to` are made as
        needed. Usage stays the same (or shrinks, when a file is replaced), so a move cannot
        take a home past its quota; moves between areas are not offered, as they would.
        """
        source_rel = clean_path(path)
        try:
            target_rel = clean_path(to)
            target = inside(area.folder, target_rel, follow_last=False)
        except UnsafePath as exc:
            exc.param = "to"
            raise
        source = inside(area.folder, source_rel, follow_last=False)
        name, new_name = source_rel.as_posix(), target_rel.as_posix()
        kind = _kind_at(source)
        if kind is None:
            raise NotFound(f"No file or folder {name!r} in the {area.name} area.", param="path")
        if target_rel == source_rel:
            return entry_of(source, area.folder)
        if kind == "dir" and target_rel.is_relative_to(source_rel):
            raise PlatformError(
                f"The folder {name!r} cannot be moved into itself ({new_name!r}).",
                param="to",
                code="move_into_itself",
            )
        existing = _kind_at(target)
        # Only a file replaces a file, and only when asked.
        if existing is not None and (existing == "dir" or kind == "dir" or not overwrite):
            raise _taken(new_name, existing, "to", moving=name)
        make_parents(area, new_name, target)
        try:
            if kind == "dir":
                _rename_folder(source, target, new_name)
            elif overwrite:
                os.replace(source, target)
            else:
                _move_no_clobber(source, target, new_name)
        except FileNotFoundError:
            raise NotFound(
                f"{name!r} was removed while it was being moved.", param="path"
            ) from None
        return entry_of(target, area.folder)

    # -- quotas -------------------------------------------------------------------------------

    def limits(self, s: Session, user_id: int) -> tuple[Limits, bool]:
        row = s.get(StorageQuota, user_id)
        if row is None:
            return self.defaults, False
        return Limits(row.max_bytes, row.max_files), True

    def reserved(self, s: Session, user_id: int) -> Usage:
        """Declared sizes of the user's unfinished uploads into their home."""
        count, total = s.execute(
            select(func.count(), func.coalesce(func.sum(Upload.size), 0)).where(
                Upload.user_id == user_id, Upload.area == "home", Upload.state == "open"
            )
        ).one()
        return Usage(int(total), int(count))

    def quota_report(self, s: Session, user: User) -> QuotaReport:
        limits, custom = self.limits(s, user.id)
        used = measure(self.homes / user.name)
        return QuotaReport(user.name, used, self.reserved(s, user.id), limits, custom)

    def set_quota(
        self, s: Session, user: User, max_bytes: int | None, max_files: int | None
    ) -> QuotaReport:
        """Set a user's limits; a limit not given keeps its current value."""
        for name, value in (("max_bytes", max_bytes), ("max_files", max_files)):
            if value is not None and value < 0:
                raise PlatformError(f"{name} must be zero or more, not {value}.", param=name)
        current, _ = self.limits(s, user.id)
        row = s.get(StorageQuota, user.id)
        if row is None:
            row = StorageQuota(user_id=user.id)
            s.add(row)
        row.max_bytes = current.max_bytes if max_bytes is None else max_bytes
        row.max_files = current.max_files if max_files is None else max_files
        s.flush()
        return self.quota_report(s, user)

    def reset_quota(self, s: Session, user: User) -> QuotaReport:
        row = s.get(StorageQuota, user.id)
        if row is not None:
            s.delete(row)
            s.flush()
        return self.quota_report(s, user)


def target_path(area: Area, path: str) -> tuple[PurePosixPath, Path]:
    """The cleaned relative path and the absolute place a new file would go (not followed)."""
    rel = clean_path(path)
    return rel, inside(area.folder, rel, follow_last=False)


def make_parents(area: Area, rel: str, target: Path) -> None:
    """Make the folders above `target`, then check again that it stays inside the area."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise Conflict(
            f"A parent of {rel!r} exists as a file, not a folder.",
            param="path",
            code="not_a_folder",
        ) from None
    # Checked again once the folders exist: a link could have been planted meanwhile.
    rel_again = PurePosixPath(target.relative_to(area.folder.resolve()))
    inside(area.folder, rel_again, follow_last=False)


def _kind_at(path: Path) -> str | None:
    """file | dir | link for what is at `path` (links not followed); None if nothing is."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    except NotADirectoryError:  # a parent is a file: nothing can be there
        return None
    if stat.S_ISLNK(mode):
        return "link"
    return "dir" if stat.S_ISDIR(mode) else "file"


def _taken(rel: str, kind: str, param: str, *, moving: str | None = None) -> Conflict:
    if kind == "dir":
        hint = (
            f" To move {moving!r} into it, give the path inside it ({rel}/"
            f"{PurePosixPath(moving).name})."
            if moving
            else ""
        )
        return Conflict(
            f"{rel!r} is already a folder.{hint}",
            param=param,
            code="folder_exists",
        )
    if moving is None:
        return Conflict(
            f"{rel!r} already exists as a file; choose another name.",
            param=param,
            code="file_exists",
        )
    return Conflict(
        f"{rel!r} already exists. Pass overwrite=true (`hai files mv --force`) to replace it "
        "(a file only replaces a file), or choose another name.",
        param=param,
        code="file_exists",
    )


def _move_no_clobber(source: Path, target: Path, rel: str) -> None:
    try:
        # A hard link never replaces an existing name: no-clobber, atomically (the link
        # itself when `source` is a symbolic link).
        os.link(source, target, follow_symlinks=False)
    except FileExistsError:
        raise _taken(rel, _kind_at(target) or "file", "to", moving=source.name) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if target.exists() or target.is_symlink():  # no hard links here: check, then rename
            raise _taken(rel, _kind_at(target) or "file", "to", moving=source.name) from None
        os.rename(source, target)
        return
    source.unlink()


def _rename_folder(source: Path, target: Path, rel: str) -> None:
    if target.exists() or target.is_symlink():  # taken since the check above
        raise _taken(rel, _kind_at(target) or "file", "to", moving=source.name)
    try:
        os.rename(source, target)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            raise _taken(rel, _kind_at(target) or "file", "to", moving=source.name) from None
        raise
