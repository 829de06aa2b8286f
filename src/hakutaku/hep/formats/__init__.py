"""Read and write jets in the public datasets' file layouts.

    from hakutaku.hep import formats
    formats.write(batch, "top.parquet")              # layout from the extension and labels
    batch = formats.read(["a.root", "b.root"])       # one JetBatch, files concatenated

Formats (names for ``format=``; "root", "h5", "npz" are aliases of the first three):

=======================  =========  ===============================================  =========
name                     extension  layout                                           module
=======================  =========  ===============================================  =========
``jetclass``             .root      JetClass TTree ``tree``                          jetclass
``toplandscape-h5``      .h5        TopLandscape pandas h5 (``E_i, PX_i, ...``)      toplandscape
``qg-npz``               .npz       EnergyFlow quark/gluon ``X=(pt,y,phi,pid)``, y   quarkgluon
``toplandscape-parquet`` .parquet   ParT's converted TopLandscape                    toplandscape
``qg-parquet``           .parquet   ParT's converted QuarkGluon                      quarkgluon
=======================  =========  ===============================================  =========

With ``format=None`` (or "parquet") a writer picks the parquet flavour from the batch's labels
(top/QCD or quark/gluon, see `labels`), and a reader recognises a file by its extension, then
by its contents (ROOT, HDF5, zip/npz or parquet signature; the QuarkGluon parquet has
``part_pid``). Each module's docstring gives its exact names, dtypes and shapes; `labels`
gives how label names map to each layout's label columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from hakutaku.hep.formats import jetclass, labels, physics, quarkgluon, toplandscape
from hakutaku.hep.formats.labels import relabel
from hakutaku.hep.jets import JetBatch

FORMATS = ("jetclass", "toplandscape-h5", "toplandscape-parquet", "qg-npz", "qg-parquet")
ALIASES = {"root": "jetclass", "h5": "toplandscape-h5", "hdf5": "toplandscape-h5", "npz": "qg-npz"}
EXTENSIONS = {
    ".root": "jetclass",
    ".h5": "toplandscape-h5",
    ".hdf5": "toplandscape-h5",
    ".npz": "qg-npz",
    ".parquet": "parquet",
}
_SIGNATURES = (
    (b"root", "jetclass"),
    (b"\x89HDF", "toplandscape-h5"),
    (b"PK", "qg-npz"),
    (b"PAR1", "parquet"),
)

__all__ = [
    "ALIASES",
    "FORMATS",
    "detect_format",
    "jetclass",
    "labels",
    "physics",
    "quarkgluon",
    "read",
    "relabel",
    "toplandscape",
    "write",
]


def _canonical(format: str | None) -> str | None:
    if format is None:
        return None
    name = ALIASES.get(format.lower(), format.lower())
    if name not in (*FORMATS, "parquet"):
        raise ValueError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    return name


def _parquet_flavour(path: Path) -> str:
    import pyarrow.parquet as pq

    names = set(pq.read_schema(path).names)
    return "qg-parquet" if "part_pid" in names else "toplandscape-parquet"


def detect_format(path: str | Path) -> str:
    """The format of an existing file: by extension, else by its first bytes."""
    path = Path(path)
    name = EXTENSIONS.get(path.suffix.lower())
    if name is None:
        with open(path, "rb") as fh:
            head = fh.read(4)
        name = next((fmt for magic, fmt in _SIGNATURES if head.startswith(magic)), None)
        if name is None:
            raise ValueError(f"{path}: not a file in a known jet layout ({', '.join(FORMATS)})")
    return _parquet_flavour(path) if name == "parquet" else name


def write(batch: JetBatch, path: str | Path, format: str | None = None, **options: Any) -> Path:
    """Write `batch` to `path` in `format` (inferred from the extension and labels if None).

    Options go to the format's writer (``ttv`` for the TopLandscape h5, ``max_particles`` for
    the EnergyFlow npz).
    """
    path = Path(path)
    name = _canonical(format)
    if name is None:
        name = EXTENSIONS.get(path.suffix.lower())
        if name is None:
            raise ValueError(f"cannot tell the format from {path.name!r}; pass format=")
    if name == "parquet":
        if labels.is_top_batch(batch):
            name = "toplandscape-parquet"
        elif labels.is_qg_batch(batch):
            name = "qg-parquet"
        else:
            raise ValueError(
                f"labels {batch.label_names} fit neither the TopLandscape nor the QuarkGluon "
                "parquet layout"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    writer: Callable[..., object] = {
        "jetclass": jetclass.write,
        "toplandscape-h5": toplandscape.write_h5,
        "toplandscape-parquet": toplandscape.write_parquet,
        "qg-npz": quarkgluon.write_npz,
        "qg-parquet": quarkgluon.write_parquet,
    }[name]
    writer(batch, path, **options)
    return path


def _read_one(path: Path, name: str, options: dict[str, Any]) -> JetBatch:
    if name == "parquet":
        name = _parquet_flavour(path)
    readers: dict[str, Callable[..., JetBatch]] = {
        "jetclass": jetclass.read,
        "toplandscape-h5": toplandscape.read_h5,
        "toplandscape-parquet": toplandscape.read_parquet,
        "qg-npz": quarkgluon.read_npz,
        "qg-parquet": quarkgluon.read_parquet,
    }
    return readers[name](path, **options)


def read(
    paths: str | Path | Iterable[str | Path],
    format: str | None = None,
    *,
    label_names: Iterable[str] | None = None,
    max_jets: int | None = None,
    **options: Any,
) -> JetBatch:
    """Read one file or several (concatenated, in order) into one `JetBatch`.

    `format` applies to every file (detected per file if None). `label_names` maps the labels
    onto that set (see `relabel`); `max_jets` keeps the first jets only. Options go to the
    format's reader (``masses`` for the EnergyFlow npz).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files = [Path(p) for p in paths]
    if not files:
        raise ValueError("no files to read")
    name = _canonical(format)
    batches: list[JetBatch] = []
    total = 0
    for path in files:
        if max_jets is not None and total >= max_jets:
            break
        batch = _read_one(path, name or detect_format(path), options)
        if max_jets is not None and total + len(batch) > max_jets:
            batch = batch.select(np.arange(max_jets - total))
        batches.append(batch)
        total += len(batch)
    out = batches[0] if len(batches) == 1 else JetBatch.concat(batches)
    out.meta = {
        "format": batches[0].meta.get("format"),
        "source": [str(p) for p in files[: len(batches)]],
    }
    if label_names is not None:
        out = relabel(out, tuple(label_names))
    return out
