"""Files read part by part: how many jets a file holds, where a read can start, and jets
``start:stop`` in pieces — what a streaming reader needs to keep its memory bounded.

    from hakutaku.hep.formats import ranges
    n = ranges.count(path, "jetclass")
    for piece in ranges.iterate(path, "jetclass", [(0, n)], step=2000):   # JetBatch pieces
        ...

A piece equals ``read(path).select(range(lo, hi))`` for its rows (with only the columns asked
for, where the format can read fewer). How each layout reads a
range (`chunks` gives the boundaries where starting a read costs nothing extra):

====================  ==============================================  ======================
format                a read of rows ``start:stop``                   cheap starts
====================  ==============================================  ======================
jetclass (ROOT)       the baskets that hold those entries             any entry
toplandscape-h5       those rows (PyTables slices; "fixed" or "table" any row
                      pandas layout)
toplandscape-parquet  the row groups that hold them; within a row     row-group boundaries
qg-parquet            group, the rows before ``start`` are decoded
                      and dropped
qg-npz                the ``X`` member decompressed from its start:   the file's start only
                      the rows before ``start`` are decompressed and
                      dropped (a column-major ``X`` is read whole)
====================  ==============================================  ======================

So every layout streams with memory bounded by the piece size; only the npz (and a parquet
file's inside of a row group) cannot be entered in the middle cheaply, and a streaming reader
should read those from the start of a file (or row group) to its end in one go.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import numpy as np

from hakutaku.hep.formats import _parquet, jetclass, quarkgluon, toplandscape
from hakutaku.hep.jets import JetBatch

# Formats a read can start anywhere in at no extra cost.
SEEKABLE = frozenset({"jetclass", "toplandscape-h5"})
_COUNT = {
    "jetclass": jetclass.count,
    "toplandscape-h5": toplandscape.count_h5,
    "toplandscape-parquet": _parquet.count,
    "qg-parquet": _parquet.count,
    "qg-npz": quarkgluon.count_npz,
}
_LABELS = {
    "jetclass": jetclass.read_labels,
    "toplandscape-h5": toplandscape.read_h5_labels,
    "toplandscape-parquet": toplandscape.read_parquet_labels,
    "qg-parquet": quarkgluon.read_parquet_labels,
    "qg-npz": quarkgluon.read_npz_labels,
}


def count(path: str | Path, format: str) -> int:
    """The number of jets in the file, from its metadata (nothing is decompressed)."""
    return _COUNT[format](path)


def chunks(path: str | Path, format: str, size: int, n: int | None = None) -> list[tuple[int, int]]:
    """(start, stop) ranges covering the file, each at most `size` jets where the format can
    start a read anywhere, else split at the places it can (parquet row groups, npz: none)."""
    n = count(path, format) if n is None else n
    size = max(int(size), 1)
    if format in SEEKABLE:
        return [(lo, min(lo + size, n)) for lo in range(0, n, size)]
    if format in ("toplandscape-parquet", "qg-parquet"):
        groups = [g for g in _parquet.row_groups(path) if g[1] > g[0]]
        return _merge_small(groups, size)
    return [(0, n)] if n else []


def iterate(
    path: str | Path,
    format: str,
    spans: Sequence[tuple[int, int]],
    step: int,
    columns: Collection[str] | None = None,
    **options: str,
) -> Iterator[JetBatch]:
    """The jets of each (start, stop) span in turn, in pieces of at most `step` jets, the file
    opened once. `columns`: the jet and constituent columns the caller needs, a hint that the
    ROOT and parquet readers use to read less (the others read every column)."""
    if format == "jetclass":
        return jetclass.iterate(path, spans, step, columns)
    if format == "toplandscape-h5":
        return toplandscape.iterate_h5(path, spans, step)
    if format == "toplandscape-parquet":
        return toplandscape.iterate_parquet(path, spans, step, columns)
    if format == "qg-parquet":
        return quarkgluon.iterate_parquet(path, spans, step, columns)
    if format == "qg-npz":
        return quarkgluon.iterate_npz(path, spans, step, **options)
    raise ValueError(f"unknown format {format!r}")


def read_labels(path: str | Path, format: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """(labels, label names) of every jet in the file, reading its label columns only."""
    return _LABELS[format](path)


def _merge_small(groups: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """Join consecutive row groups while together they stay within `size` rows."""
    merged: list[tuple[int, int]] = []
    for lo, hi in groups:
        if merged and hi - merged[-1][0] <= size:
            merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged
