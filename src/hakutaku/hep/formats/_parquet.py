"""Parquet files read by row ranges: counts from the footer, rows in record batches.

A parquet file is split into row groups, the unit a reader can seek to; inside a row group
the rows are decoded in order. The converted TopLandscape and QuarkGluon files (and the ones
written here, by ``ak.to_parquet``) hold one row group per file, so a range that does not
start at a row group's first row decodes the rows before it and drops them: memory stays
bounded by `step`, but time grows with the offset. `row_groups` gives the boundaries where a
range is cheap to start.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import awkward as ak
import numpy as np


def count(path: str | Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def row_groups(path: str | Path) -> list[tuple[int, int]]:
    """(start, stop) rows of each row group, in order."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    bounds, start = [], 0
    for i in range(meta.num_row_groups):
        stop = start + meta.row_group(i).num_rows
        bounds.append((start, stop))
        start = stop
    return bounds


def iterate(
    path: str | Path,
    spans: Sequence[tuple[int, int]],
    step: int,
    columns: Collection[str] | None = None,
) -> Iterator[ak.Array]:
    """The rows of each (start, stop) span in turn, as awkward arrays of at most `step` rows;
    `columns`: only those (all by default)."""
    import pyarrow.parquet as pq

    groups = row_groups(path)
    with pq.ParquetFile(path) as pf:
        names = None if columns is None else [n for n in pf.schema_arrow.names if n in columns]
        for start, stop in spans:
            wanted = [i for i, (lo, hi) in enumerate(groups) if lo < stop and hi > start]
            if start >= stop or not wanted:
                continue
            position = groups[wanted[0]][0]
            batches = pf.iter_batches(
                batch_size=max(int(step), 1), row_groups=wanted, columns=names
            )
            for record in batches:
                lo, hi = position, position + record.num_rows
                position = hi
                if hi <= start:
                    continue  # rows before the span in its first row group: decoded, dropped
                first, last = max(start, lo), min(stop, hi)
                yield ak.from_arrow(record.slice(first - lo, last - first))
                if hi >= stop:
                    break


def read(path: str | Path, start: int | None = None, stop: int | None = None) -> ak.Array:
    """Rows ``start:stop`` (all by default) as one awkward array."""
    if start is None and stop is None:
        return ak.from_parquet(path)
    n = count(path)
    lo, hi = (0 if start is None else start), (n if stop is None else min(stop, n))
    pieces = list(iterate(path, [(lo, hi)], max(hi - lo, 1)))
    if not pieces:
        return ak.from_parquet(path)[0:0]
    return ak.concatenate(pieces) if len(pieces) > 1 else pieces[0]


def column(path: str | Path, name: str) -> np.ndarray:
    """One flat column of the whole file (e.g. the labels), reading nothing else."""
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=[name]).column(name).to_numpy()
