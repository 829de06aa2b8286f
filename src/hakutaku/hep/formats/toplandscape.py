"""Top Quark Tagging Landscape ("TopLandscape") layouts.

Original h5 (Zenodo 2603256; read with ``pandas.read_hdf(path, key="table")``): one row per
jet, columns ``E_0, PX_0, PY_0, PZ_0, E_1, ... PZ_199`` (the leading 200 constituents in
decreasing pT, zero-padded; float32), ``truthE, truthPX, truthPY, truthPZ`` (the matched top
quark's four-momentum, zero for QCD; float32), ``ttv`` (which of train/test/validation the
jet was assigned to; int64) and ``is_signal_new`` (1 top, 0 QCD; int64), stored by pandas
under the key ``table``.

Converted parquet (what ParT's ``utils/convert_top_datasets.py`` writes with
``ak.to_parquet(..., compression="LZ4", compression_level=4)``): fields, in order,
``label`` (int64, = is_signal_new), ``jet_pt, jet_eta, jet_phi, jet_energy, jet_mass``
(float32, the constituents' four-momentum sum), ``jet_nparticles`` (int64), ``part_px,
part_py, part_pz, part_energy, part_deta, part_dphi`` (var * float32; Δη sign-flipped by the
jet's η sign, Δφ wrapped, see `physics`).

Neither layout stores particle ids, charges, soft-drop mass or N-subjettiness: reading gives
``part_pid`` 0 ("unknown"), ``part_charge`` NaN, and NaN for the missing jet columns. Reading
the h5 computes the jet columns from the constituents, as the ParT converter does (the jet
columns a batch had before it was written as h5 are not stored). Writing the h5 keeps each
jet's 200 highest-pT constituents; the ``truth*``/``ttv`` columns come from the batch's
``truth_energy, truth_px, truth_py, truth_pz, ttv`` jet columns when present (else 0).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hakutaku.hep.formats import _common, labels, physics
from hakutaku.hep.jets import JetBatch

if TYPE_CHECKING:
    import awkward as ak

KEY = "table"
MAX_PARTICLES = 200
TRUTH_COLUMNS = {
    "truthE": "truth_energy",
    "truthPX": "truth_px",
    "truthPY": "truth_py",
    "truthPZ": "truth_pz",
}
_FOUR = (("E", "part_energy"), ("PX", "part_px"), ("PY", "part_py"), ("PZ", "part_pz"))
PARQUET_JET_FIELDS = ("jet_pt", "jet_eta", "jet_phi", "jet_energy", "jet_mass")
PARQUET_PART_FIELDS = ("part_px", "part_py", "part_pz", "part_energy", "part_deta", "part_dphi")


def h5_columns(n: int = MAX_PARTICLES) -> list[str]:
    """Column names of the original h5, in the public order."""
    cols = [f"{prefix}_{i}" for i in range(n) for prefix, _ in _FOUR]
    return [*cols, *TRUTH_COLUMNS, "ttv", "is_signal_new"]


def write_h5(batch: JetBatch, path: str | Path, ttv: int = 0) -> None:
    flag = labels.top_flag(batch)
    order = _common.pt_order(batch)
    width = MAX_PARTICLES
    blocks = [
        _common.flat_to_padded(
            np.asarray(batch.particles[name], dtype=np.float32)[order], batch.counts, width
        )
        for _, name in _FOUR
    ]
    values = np.stack(blocks, axis=2).reshape(len(batch), 4 * width)  # E_i, PX_i, PY_i, PZ_i
    truth = np.stack(
        [_common.jet_column_or(batch, name, 0.0) for name in TRUTH_COLUMNS.values()], axis=1
    ).astype(np.float32)
    floats = np.concatenate([values, truth], axis=1)
    names = h5_columns(width)
    frame = pd.DataFrame(floats, columns=names[: floats.shape[1]])
    frame["ttv"] = _common.jet_column_or(batch, "ttv", ttv).astype(np.int64)
    frame["is_signal_new"] = flag.astype(np.int64)
    # zlib (any HDF5 reader has it) at level 1: a fifth of the size, written faster.
    frame.to_hdf(path, key=KEY, mode="w", complevel=1, complib="zlib")


def count_h5(path: str | Path) -> int:
    """The number of jets in the file (from the table's header)."""
    with pd.HDFStore(path, mode="r") as store:
        storer = store.get_storer(KEY)
        rows = getattr(storer, "nrows", None)  # "table" format
        return int(rows if rows is not None else storer.shape[0])  # "fixed": (rows, columns)


def read_h5(path: str | Path, start: int | None = None, stop: int | None = None) -> JetBatch:
    """The jets ``start:stop`` of the file (all by default)."""
    return _h5_batch(pd.read_hdf(path, key=KEY, start=start, stop=stop), path)


def iterate_h5(path: str | Path, spans: Sequence[tuple[int, int]], step: int) -> Iterator[JetBatch]:
    """The jets of each (start, stop) span in turn, in pieces of at most `step`, reading only
    those rows, the file opened once."""
    step = max(int(step), 1)
    with pd.HDFStore(path, mode="r") as store:
        for start, stop in spans:
            for lo in range(start, stop, step):
                frame = pd.read_hdf(store, key=KEY, start=lo, stop=min(lo + step, stop))
                yield _h5_batch(frame, path)


def read_h5_labels(path: str | Path) -> tuple[np.ndarray, tuple[str, str]]:
    """(labels, label names) of every jet, reading the ``is_signal_new`` column only."""
    flag = _h5_column(path, "is_signal_new")
    return labels.from_flag(flag, labels.TOP_LABELS)


def _h5_column(path: str | Path, name: str, step: int = 100_000) -> np.ndarray:
    import h5py

    with h5py.File(path, "r") as f:
        group = f[KEY]
        # pandas' "fixed" layout stores each dtype's columns as one block: read one column of it.
        for i in range(int(group.attrs.get("nblocks", 0))):
            items = [
                x.decode() if isinstance(x, bytes) else str(x) for x in group[f"block{i}_items"]
            ]
            if name in items:
                return np.asarray(group[f"block{i}_values"][:, items.index(name)])
    # the "table" layout: read the rows in steps, keeping the one column
    n = count_h5(path)
    parts = [
        pd.read_hdf(path, key=KEY, start=lo, stop=min(lo + step, n))[name].to_numpy()
        for lo in range(0, n, step)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _h5_batch(frame: pd.DataFrame, path: str | Path) -> JetBatch:
    slots = sorted(
        {int(m.group(1)) for c in frame.columns if (m := re.fullmatch(r"E_(\d+)", str(c)))}
    )
    padded = {
        name: frame[[f"{prefix}_{i}" for i in slots]].to_numpy(dtype=np.float32)
        for prefix, name in _FOUR
    }
    mask = padded["part_energy"] > 0  # as the ParT converter: a slot is a particle where E > 0
    counts = mask.sum(axis=1).astype(np.int64)
    particles = {name: values[mask] for name, values in padded.items()}
    jets = _jets_from_constituents(particles, counts)
    for column, name in TRUTH_COLUMNS.items():
        if column in frame:
            jets[name] = frame[column].to_numpy()
    if "ttv" in frame:
        jets["ttv"] = frame["ttv"].to_numpy()
    label, names = labels.from_flag(frame["is_signal_new"].to_numpy(), labels.TOP_LABELS)
    return _batch(jets, particles, counts, label, names, "toplandscape-h5", path)


def _jets_from_constituents(particles: dict[str, np.ndarray], counts: np.ndarray) -> dict:
    four = physics.jet_four_momentum(
        particles["part_px"],
        particles["part_py"],
        particles["part_pz"],
        particles["part_energy"],
        counts,
    )
    jets = {k: v.astype(np.float32) for k, v in four.items()}
    jets["jet_nparticles"] = counts.copy()
    deta, dphi = physics.relative_coordinates(
        particles["part_px"],
        particles["part_py"],
        particles["part_pz"],
        counts,
        four["jet_eta"],
        four["jet_phi"],
    )
    particles["part_deta"] = deta.astype(np.float32)
    particles["part_dphi"] = dphi.astype(np.float32)
    return jets


def _batch(
    jets: dict[str, np.ndarray],
    particles: dict[str, np.ndarray],
    counts: np.ndarray,
    label: np.ndarray,
    names: tuple[str, ...],
    fmt: str,
    path: str | Path,
) -> JetBatch:
    n = int(counts.sum())
    particles = dict(particles)
    particles.setdefault("part_pid", np.zeros(n, dtype=np.int64))
    particles.setdefault("part_charge", np.full(n, np.nan, dtype=np.float32))
    return JetBatch(
        jets=_common.complete_jets(jets, len(counts)),
        particles=particles,
        counts=counts,
        labels=label,
        label_names=names,
        meta={"format": fmt, "source": str(path)},
    )


def write_parquet(batch: JetBatch, path: str | Path) -> None:
    flag = labels.top_flag(batch)
    deta, dphi = _common.relative_coordinates(batch)
    flat = {
        "part_px": batch.particles["part_px"],
        "part_py": batch.particles["part_py"],
        "part_pz": batch.particles["part_pz"],
        "part_energy": batch.particles["part_energy"],
        "part_deta": deta,
        "part_dphi": dphi,
    }
    _common.write_converted_parquet(
        batch, path, flag.astype(np.int64), flat, PARQUET_JET_FIELDS, PARQUET_PART_FIELDS
    )


def _parquet_batch(array: ak.Array, path: str | Path) -> JetBatch:
    jets, particles, counts, flag = _common.converted_columns(array)
    label, names = labels.from_flag(flag, labels.TOP_LABELS)
    return _batch(jets, particles, counts, label, names, "toplandscape-parquet", path)


_PARQUET = _common.ConvertedParquet(_parquet_batch, labels.TOP_LABELS)
read_parquet = _PARQUET.read
iterate_parquet = _PARQUET.iterate
read_parquet_labels = _PARQUET.labels
