"""formats.ranges: counts from metadata, pieces equal to the whole file's rows, labels only."""

from __future__ import annotations

import numpy as np
import pytest

from hakutaku.hep import formats
from hakutaku.hep.formats import ranges
from hakutaku.hep.jets import JetBatch
from tests.hep.formats.samples import make_batch


def assert_same(a: JetBatch, b: JetBatch) -> None:
    assert a.label_names == b.label_names
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert sorted(a.jets) == sorted(b.jets) and sorted(a.particles) == sorted(b.particles)
    for name in a.jets:
        np.testing.assert_array_equal(a.jets[name], b.jets[name], err_msg=name)
    for name in a.particles:
        np.testing.assert_array_equal(a.particles[name], b.particles[name], err_msg=name)


CASES = [
    ("a.root", ("Tbqq", "QCD")),
    ("a.h5", ("Tbqq", "QCD")),
    ("a.parquet", ("Tbqq", "QCD")),
    ("b.parquet", ("Zq", "Zg")),
    ("b.npz", ("Zq", "Zg")),
]


@pytest.mark.parametrize(("name", "classes"), CASES)
def test_pieces_are_the_rows_of_the_whole_file(tmp_path, name, classes) -> None:
    path = formats.write(make_batch(n=37, names=classes, seed=5), tmp_path / name)
    fmt = formats.detect_format(path)
    whole = formats.read(path)
    assert ranges.count(path, fmt) == len(whole) == 37
    labels, names = ranges.read_labels(path, fmt)
    np.testing.assert_array_equal(labels, whole.labels)
    assert names == whole.label_names
    for start, stop, step in ((0, 37, 37), (0, 37, 5), (11, 30, 4), (36, 37, 8), (5, 5, 3)):
        pieces = list(ranges.iterate(path, fmt, [(start, stop)], step))
        assert all(0 < len(p) <= step for p in pieces)
        assert sum(len(p) for p in pieces) == stop - start
        if pieces:
            assert_same(JetBatch.concat(pieces), whole.select(np.arange(start, stop)))


def test_chunks_follow_what_each_format_can_seek(tmp_path) -> None:
    top = make_batch(n=25, seed=1)
    qg = make_batch(n=25, names=("Zq", "Zg"), seed=2)
    root = formats.write(top, tmp_path / "a.root")
    h5 = formats.write(top, tmp_path / "a.h5")
    pq = formats.write(top, tmp_path / "a.parquet")
    npz = formats.write(qg, tmp_path / "b.npz")
    assert ranges.chunks(root, "jetclass", 10) == [(0, 10), (10, 20), (20, 25)]
    assert ranges.chunks(h5, "toplandscape-h5", 10) == [(0, 10), (10, 20), (20, 25)]
    # ak.to_parquet writes one row group; the npz can only be read from its start.
    assert ranges.chunks(pq, "toplandscape-parquet", 10) == [(0, 25)]
    assert ranges.chunks(npz, "qg-npz", 10) == [(0, 25)]


def test_parquet_row_groups_and_the_h5_table_layout(tmp_path) -> None:
    import pandas as pd
    import pyarrow.parquet as pq

    top = make_batch(n=25, seed=3)
    single = formats.write(top, tmp_path / "one.parquet")
    grouped = tmp_path / "groups.parquet"
    pq.write_table(pq.read_table(single), grouped, row_group_size=10)
    fmt = formats.detect_format(grouped)
    assert ranges.chunks(grouped, fmt, 10) == [(0, 10), (10, 20), (20, 25)]
    assert ranges.chunks(grouped, fmt, 20) == [(0, 20), (20, 25)]
    pieces = list(ranges.iterate(grouped, fmt, [(12, 23)], 4))
    assert_same(JetBatch.concat(pieces), formats.read(single).select(np.arange(12, 23)))

    fixed = formats.write(top, tmp_path / "fixed.h5")
    table = tmp_path / "table.h5"
    pd.read_hdf(fixed, key="table").to_hdf(table, key="table", format="table", mode="w")
    assert ranges.count(table, "toplandscape-h5") == 25
    np.testing.assert_array_equal(ranges.read_labels(table, "toplandscape-h5")[0], top.labels)
    pieces = list(ranges.iterate(table, "toplandscape-h5", [(3, 25)], 7))
    assert_same(JetBatch.concat(pieces), formats.read(fixed).select(np.arange(3, 25)))
