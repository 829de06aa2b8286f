"""Streaming real generated jets: every jet once per epoch across DataLoader workers, files
mixed, seeds reproducible, the same jets and labels as reading the files whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hakutaku.hep import formats
from hakutaku.hep.stream import JetSource, JetStream, loader
from hakutaku.hep.stream.split import is_validation


def opened(files: list[Path], **options: int) -> JetSource:
    source = JetSource.open(files, scan=True, **options)
    assert (source.label_names, source.groups) == JetSource.open(files, **options).scan()
    return source


def epoch_ids(stream: JetStream, epoch: int, workers: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """(file, entry) of every jet the epoch yields, in order, and the labels of each batch."""
    stream.set_epoch(epoch)
    ids, labels = [], []
    for _, y, where in loader(stream, workers):
        ids.append(where.numpy())
        labels.append(y.numpy())
    return np.concatenate(ids), labels


def test_each_jet_once_per_epoch_across_workers(top_qcd_files: dict[str, list[Path]]) -> None:
    files = top_qcd_files["train"]  # 2 top + 2 QCD files, 200 jets each
    source = opened(files)
    assert source.label_names == ("QCD", "Tbqq") and source.n_jets == 800
    train, val = source.split(0.25, seed=3)
    everything: set[tuple[int, int]] = {(f, e) for f in range(4) for e in range(200)}
    for workers in (0, 1, 3):
        seen: dict[str, set[tuple[int, int]]] = {}
        for name, part in (("train", train), ("val", val)):
            # small reads: many pieces, each split into training and validation jets
            stream = JetStream(part, "kin", 128, 64, shuffle=name == "train", seed=1,
                               buffer_jets=150, open_files=2, read_step=40)  # fmt: skip
            ids, _ = epoch_ids(stream, epoch=0, workers=workers)
            rows = {tuple(map(int, r)) for r in ids}
            assert len(rows) == len(ids) == part.n_jets, (workers, name)  # none twice
            seen[name] = rows
        assert not seen["train"] & seen["val"]
        assert seen["train"] | seen["val"] == everything
        for f in range(4):  # the split is the hash's, whoever reads
            expected = is_validation(files[f].name, np.arange(200), 0.25, 3)
            assert {e for g, e in seen["val"] if g == f} == set(np.flatnonzero(expected))


def test_streamed_jets_are_the_files_jets(top_qcd_files: dict[str, list[Path]]) -> None:
    files = top_qcd_files["train"]
    source = opened(files)
    whole = [formats.read(f) for f in files]
    stream = JetStream(source, "kin", 128, 50, shuffle=True, seed=2, buffer_jets=300)
    from hakutaku.hep.inputs import to_tensors

    for (inputs, labels, ids), _ in zip(loader(stream, 2), range(4), strict=False):
        for row, (f, e) in enumerate(ids.numpy()):
            jet = whole[f].select([e])
            assert source.label_names[labels[row]] == jet.label_names[jet.labels[0]]
            expected = to_tensors(jet, "kin", 128)
            for key, value in expected.items():
                np.testing.assert_allclose(inputs[key][row], value[0], rtol=1e-6, atol=1e-6)


def test_shuffling_mixes_files_and_classes(top_qcd_files: dict[str, list[Path]]) -> None:
    source = opened(top_qcd_files["train"])
    stream = JetStream(source, "kin", 128, 64, shuffle=True, seed=5, buffer_jets=400,
                       open_files=4, read_step=50)  # fmt: skip
    for workers in (0, 2):
        ids, labels = epoch_ids(stream, 0, workers)
        first = ids[:64]
        assert len(set(first[:, 0])) >= 3, first[:, 0]  # the first batch draws on most files
        for y in labels[:-2]:  # full batches (each worker's last may be short): both classes
            assert 0.15 < y.mean() < 0.85, [round(float(b.mean()), 2) for b in labels]
        # within a file the jets do not come in file order
        entries = ids[ids[:, 0] == ids[0, 0], 1]
        assert not np.all(np.diff(entries) > 0)


def test_seeds_and_epochs_give_reproducible_orders(top_qcd_files: dict[str, list[Path]]) -> None:
    source = opened(top_qcd_files["train"])

    def order(seed: int, epoch: int, workers: int = 2) -> np.ndarray:
        stream = JetStream(source, "kin", 128, 64, shuffle=True, seed=seed, buffer_jets=200,
                           read_step=50)  # fmt: skip
        return epoch_ids(stream, epoch, workers)[0]

    first = order(seed=7, epoch=0)
    np.testing.assert_array_equal(first, order(seed=7, epoch=0))
    assert not np.array_equal(first, order(seed=7, epoch=1))  # a new order each epoch
    assert not np.array_equal(first, order(seed=8, epoch=0))
    # the file order is drawn anew each epoch: which file a reader starts on changes
    starts = {tuple(order(seed=7, epoch=e, workers=0)[:1, 0]) for e in range(4)}
    assert len(starts) > 1


@pytest.mark.parametrize("suffix", [".parquet", ".h5"])
def test_other_layouts_stream_every_jet(
    top_qcd_files: dict[str, list[Path]], tmp_path: Path, suffix: str
) -> None:
    converted = []
    for path in top_qcd_files["test"]:  # 75 jets a file
        batch = formats.read(path, label_names=("Tbqq", "QCD"))
        converted.append(formats.write(batch, tmp_path / (path.stem + suffix)))
    source = opened(converted, chunk_jets=40)
    assert sorted(source.label_names) == ["QCD", "Tbqq"]
    train, val = source.split(0.2, seed=0)
    total = 0
    for part in (train, val):
        stream = JetStream(part, "kin", 128, 32, shuffle=part is train, seed=0, buffer_jets=100,
                           read_step=30)  # fmt: skip
        ids, _ = epoch_ids(stream, 0, workers=2)
        assert len({tuple(r) for r in ids}) == len(ids) == part.n_jets
        total += len(ids)
    assert total == 300


def test_npz_streams_every_jet(tmp_path: Path) -> None:
    from tests.hep.formats.samples import make_batch

    paths = [
        formats.write(make_batch(n=30 + i, names=("Zq", "Zg"), seed=i), tmp_path / f"qg{i}.npz")
        for i in range(3)
    ]
    source = opened(paths)
    stream = JetStream(source, "kinpid", 128, 16, shuffle=True, seed=0, buffer_jets=40,
                       read_step=10)  # fmt: skip
    ids, _ = epoch_ids(stream, 0, workers=2)
    assert len({tuple(r) for r in ids}) == len(ids) == 30 + 31 + 32


def test_max_jets_takes_every_file_s_share(top_qcd_files: dict[str, list[Path]]) -> None:
    source = opened(top_qcd_files["train"], max_jets=300)
    assert source.counts == (75, 75, 75, 75) and source.label_names == ("QCD", "Tbqq")
    stream = JetStream(source, "kin", 128, 64, shuffle=False)
    ids, _ = epoch_ids(stream, 0, workers=0)
    assert ids[:, 1].max() == 74 and len(ids) == 300
