"""formats.write/read: choosing the layout, several files, label mapping."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from hakutaku.hep import formats
from tests.hep.formats.samples import make_batch


def named(batch):
    return [batch.label_names[i] for i in batch.labels]


def test_format_from_extension_labels_and_contents(tmp_path):
    top = make_batch(n=6, seed=1)
    qg = make_batch(n=5, names=("Zq", "Zg"), seed=2)
    cases = {
        formats.write(top, tmp_path / "a.root"): "jetclass",
        formats.write(top, tmp_path / "a.h5"): "toplandscape-h5",
        formats.write(top, tmp_path / "a.parquet"): "toplandscape-parquet",
        formats.write(qg, tmp_path / "b.parquet", format="parquet"): "qg-parquet",
        formats.write(qg, tmp_path / "b.npz"): "qg-npz",
        formats.write(qg, tmp_path / "c.dat", format="npz"): "qg-npz",
    }
    for path, fmt in cases.items():
        assert formats.detect_format(path) == fmt
        # Without an extension the file's signature tells.
        bare = tmp_path / f"bare-{path.name.replace('.', '-')}"
        shutil.copy(path, bare)
        assert formats.detect_format(bare) == fmt
        assert len(formats.read(bare)) == len(formats.read(path))
    with pytest.raises(ValueError, match="pass format"):
        formats.write(top, tmp_path / "x.txt")
    with pytest.raises(ValueError, match="unknown format"):
        formats.write(top, tmp_path / "x.root", format="csv")
    with pytest.raises(ValueError, match="neither"):
        formats.write(make_batch(n=3, names=("Hbb", "QCD")), tmp_path / "x.parquet")


def test_read_several_files_max_jets_and_label_names(tmp_path):
    a = make_batch(n=7, seed=3)
    b = make_batch(n=5, seed=4)
    pa_, pb = formats.write(a, tmp_path / "a.root"), formats.write(b, tmp_path / "b.root")
    both = formats.read([pa_, pb])
    assert len(both) == 12
    assert both.meta == {"format": "jetclass", "source": [str(pa_), str(pb)]}
    assert named(both) == named(a) + named(b)
    assert np.array_equal(both.counts, np.concatenate([a.counts, b.counts]))

    first9 = formats.read([pa_, pb], max_jets=9)
    assert len(first9) == 9 and np.array_equal(first9.counts, both.counts[:9])

    mapped = formats.read([pa_, pb], label_names=["QCD", "Tbqq"])
    assert mapped.label_names == ("QCD", "Tbqq")
    assert named(mapped) == named(both)
    with pytest.raises(ValueError, match="not in label_names"):
        formats.read(pa_, label_names=["QCD"] if "Tbqq" in named(a) else ["Tbqq"])

    # Files of different layouts can be read together; their label sets merge by name.
    h5 = formats.write(b, tmp_path / "b.h5")
    mixed = formats.read([pa_, h5])
    assert named(mixed) == named(a) + named(b)


def test_empty_batches_round_trip(tmp_path):
    for names, extensions in (
        (("Tbqq", "QCD"), ("root", "h5", "parquet")),
        (("Zq", "Zg"), ("npz", "parquet")),
    ):
        empty = make_batch(n=3, names=names).select(np.zeros(0, dtype=int))
        for ext in extensions:
            back = formats.read(formats.write(empty, tmp_path / f"empty-{names[0]}.{ext}"))
            assert len(back) == 0 and set(names) <= set(back.label_names)
