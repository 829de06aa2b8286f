"""Which files a data argument names: files, folders, globs, and labelled groups.

    resolve(["data/top/a.root", "data/qcd", "data/more/*.root", "Tbqq:data/top2/*.root"])

Each spec is one of

- a file (any layout `hakutaku.hep.formats` reads; the format is found per file);
- a folder: the data files directly inside it (``.root, .parquet, .h5, .hdf5, .npz``), sorted
  — not those in subfolders, so a folder holding ``train/`` and ``test/`` is not mixed up;
- a glob, expanded here (``*``, ``?``, ``[...]``; ``**`` crosses folders), so a quoted
  pattern works and the shell's own expansion works too: its data files, sorted;
- ``LABEL:SPEC``, a labelled group as in weaver-core's ``--data-train name:pattern``: every jet
  in those files is of class LABEL, whatever the files' own label columns say (weaver-core's
  name only groups files; here it also names the class, which is what a folder of one process
  means). A spec that exists as a path is a path, even with a colon in it.

Specs are expanded in order; a file named twice is kept once (the first time), and a file
given two different labels is refused. Anything that names no data file is an error saying
which spec and what to try.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

DATA_EXTENSIONS = (".root", ".parquet", ".h5", ".hdf5", ".npz")
_LABELLED = re.compile(r"^([A-Za-z_][A-Za-z0-9_.+-]*):(.+)$")
_GLOB_CHARS = re.compile(r"[*?\[]")


class DataSpecError(ValueError):
    """A data spec that names no data files (or names them inconsistently)."""


@dataclass(frozen=True)
class DataFile:
    """One input file; `label` is the class of all its jets (a labelled group), or None for
    the labels the file itself stores."""

    path: Path
    label: str | None = None

    def __str__(self) -> str:
        return f"{self.label}:{self.path}" if self.label else str(self.path)


Spec = str | Path | DataFile


def parse(spec: str | Path) -> tuple[str | None, str]:
    """(label or None, the pattern) of one spec."""
    if isinstance(spec, Path):
        return None, str(spec)
    match = _LABELLED.match(spec)
    # "root://host//file" is a URL, not a group called "root"; an existing path is a path.
    if match is None or match.group(2).startswith("//") or Path(spec).exists():
        return None, spec
    return match.group(1), match.group(2)


def is_data_file(path: Path) -> bool:
    return path.suffix.lower() in DATA_EXTENSIONS


def expand(pattern: str) -> list[Path]:
    """The data files one (unlabelled) spec names, sorted; DataSpecError when none."""
    path = Path(pattern).expanduser()
    if _GLOB_CHARS.search(pattern):
        return _expand_glob(pattern, path)
    if path.is_dir():
        return _folder_files(path)
    if path.is_file():
        return [path]
    raise DataSpecError(f"no such data file or directory: {pattern}")


def resolve(specs: Iterable[Spec]) -> list[DataFile]:
    """Every data file the specs name, in the order given (each spec's files sorted)."""
    out: list[DataFile] = []
    seen: dict[Path, DataFile] = {}
    for spec in specs:
        if isinstance(spec, DataFile):
            label, paths = spec.label, [spec.path]
        else:
            label, pattern = parse(spec)
            paths = expand(pattern)
        for path in paths:
            key = path.resolve()
            previous = seen.get(key)
            if previous is not None:
                if previous.label != label:
                    raise DataSpecError(
                        f"{path} is given twice with different labels "
                        f"({previous.label or 'its own'} and {label or 'its own'})"
                    )
                continue
            seen[key] = DataFile(path, label)
            out.append(seen[key])
    if not out:
        raise DataSpecError("no data given: name files, folders or globs")
    return out


def _expand_glob(pattern: str, path: Path) -> list[Path]:
    matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
    files: list[Path] = []
    for match in matches:
        if match.is_dir():
            files += _folder_files(match, required=False)
        elif is_data_file(match):
            files.append(match)
    if files:
        return sorted(set(files))
    if matches:
        raise DataSpecError(
            f"{pattern!r} matches {len(matches)} path(s) but no data file "
            f"({', '.join(DATA_EXTENSIONS)}): e.g. {matches[0]}"
        )
    fixed = _fixed_prefix(path)
    where = (
        f"{fixed} does not exist"
        if not fixed.exists()
        else f"nothing in {fixed} matches {str(path.relative_to(fixed))!r}"
    )
    raise DataSpecError(
        f"{pattern!r} matches no files ({where}): check the pattern, or give the folder itself"
    )


def _folder_files(folder: Path, required: bool = True) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_data_file(p))
    if files or not required:
        return files
    first = next((p for p in sorted(folder.rglob("*")) if p.is_file() and is_data_file(p)), None)
    hint = ""
    if first is not None:
        hint = (
            f"; its subfolders do (e.g. {first.parent}): give them, or the glob "
            f"'{folder}/**/*{first.suffix}'"
        )
    raise DataSpecError(
        f"the folder {folder} holds no data files ({', '.join(DATA_EXTENSIONS)}){hint}"
    )


def _fixed_prefix(path: Path) -> Path:
    """The leading folders of a glob that contain no wildcard."""
    parts: list[str] = []
    for part in path.parts[:-1]:
        if _GLOB_CHARS.search(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")
