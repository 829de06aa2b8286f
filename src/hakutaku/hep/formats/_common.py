"""Helpers the format modules share: derived constituent columns, jet columns, pT order."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hakutaku.hep.formats import _parquet, labels, physics
from hakutaku.hep.jets import JET_COLUMNS, JetBatch

if TYPE_CHECKING:
    import awkward as ak


def relative_coordinates(batch: JetBatch) -> tuple[np.ndarray, np.ndarray]:
    """(part_deta, part_dphi): the batch's own if it has them, else computed to its jet axis."""
    p = batch.particles
    if "part_deta" in p and "part_dphi" in p:
        return np.asarray(p["part_deta"]), np.asarray(p["part_dphi"])
    return physics.relative_coordinates(
        p["part_px"],
        p["part_py"],
        p["part_pz"],
        batch.counts,
        batch.jets["jet_eta"],
        batch.jets["jet_phi"],
    )


def charges(batch: JetBatch) -> np.ndarray:
    p = batch.particles
    if "part_charge" in p:
        return np.asarray(p["part_charge"], dtype=np.float64)
    if "part_pid" in p:
        return physics.pdg_charge(p["part_pid"])
    return np.full(int(batch.counts.sum()), np.nan)


def has_pid(batch: JetBatch) -> bool:
    """True when the batch identifies its particles (one-hots, or known PDG ids)."""
    p = batch.particles
    if all(c in p for c in physics.PID_COLUMNS):
        return True
    return "part_pid" in p and (len(p["part_pid"]) == 0 or bool(np.any(p["part_pid"] != 0)))


def onehots(batch: JetBatch) -> dict[str, np.ndarray]:
    """The five PID one-hots (float32): the batch's own if present, else from PDG id + charge."""
    p = batch.particles
    if all(c in p for c in physics.PID_COLUMNS):
        return {c: np.asarray(p[c], dtype=np.float32) for c in physics.PID_COLUMNS}
    if "part_pid" not in p:
        raise ValueError("the batch has neither PID one-hots nor part_pid")
    return physics.pid_onehots(p["part_pid"], charges(batch))


def column_or(batch: JetBatch, name: str, fill: float = 0.0) -> np.ndarray:
    """A constituent column, or `fill` where the batch does not have it."""
    if name in batch.particles:
        return np.asarray(batch.particles[name])
    return np.full(int(batch.counts.sum()), fill)


def jet_column_or(batch: JetBatch, name: str, fill: float = np.nan) -> np.ndarray:
    if name in batch.jets:
        return np.asarray(batch.jets[name])
    return np.full(len(batch), fill)


def complete_jets(jets: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Add the standard jet columns a layout does not store, as NaN (float32)."""
    out = dict(jets)
    for name in JET_COLUMNS:
        if name not in out:
            out[name] = np.full(n, np.nan, dtype=np.float32)
    return out


def pt_order(batch: JetBatch) -> np.ndarray:
    """Flat indices that put each jet's constituents in decreasing pT (stable: ties keep order)."""
    p = batch.particles
    pt = np.hypot(np.asarray(p["part_px"], np.float64), np.asarray(p["part_py"], np.float64))
    jet = np.repeat(np.arange(len(batch)), batch.counts)
    return np.lexsort((-pt, jet))


def flat_to_padded(values: np.ndarray, counts: np.ndarray, width: int) -> np.ndarray:
    """(n_jets, width) zero-padded array from flat values (each jet truncated to `width`)."""
    counts = np.asarray(counts, dtype=np.int64)
    out = np.zeros((len(counts), width), dtype=np.asarray(values).dtype)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    position = np.arange(len(values)) - np.repeat(offsets[:-1], counts)
    keep = position < width
    rows = np.repeat(np.arange(len(counts)), counts)
    out[rows[keep], position[keep]] = np.asarray(values)[keep]
    return out


def write_converted_parquet(
    batch: JetBatch,
    path: str | Path,
    label: np.ndarray,
    flat: dict[str, np.ndarray],
    jet_fields: tuple[str, ...],
    part_fields: tuple[str, ...],
) -> None:
    """The parquet layout of ParT's dataset converters: `label`, float32 `jet_*`, int64
    `jet_nparticles`, jagged float32 `part_*` (the same for TopLandscape and QuarkGluon)."""
    import awkward as ak

    fields: dict[str, object] = {"label": label}
    for name in jet_fields:
        fields[name] = jet_column_or(batch, name).astype(np.float32)
    fields["jet_nparticles"] = batch.counts.astype(np.int64)
    for name in part_fields:
        fields[name] = ak.unflatten(np.asarray(flat[name], dtype=np.float32), batch.counts)
    ak.to_parquet(ak.Array(fields), path, compression="LZ4", compression_level=4)


def converted_columns(
    array: ak.Array,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """(jets, particles, counts, label column) of rows in the converters' parquet layout."""
    import awkward as ak

    counts = ak.to_numpy(ak.num(array["part_energy"])).astype(np.int64)
    particles = {
        name: ak.to_numpy(ak.flatten(array[name]))
        for name in array.fields
        if name.startswith("part_")
    }
    jets = {name: ak.to_numpy(array[name]) for name in array.fields if name.startswith("jet_")}
    jets["jet_nparticles"] = jets.get("jet_nparticles", counts).astype(np.int64)
    return jets, particles, counts, ak.to_numpy(array["label"])


@dataclass(frozen=True)
class ConvertedParquet:
    """Reading one format's files in the converters' parquet layout: `to_batch` makes a batch
    of rows read (an awkward array) from a path, `label_names` are the (signal, background)
    its `label` column flags."""

    to_batch: Callable[[ak.Array, str | Path], JetBatch]
    label_names: tuple[str, str]

    def read(self, path: str | Path, start: int | None = None, stop: int | None = None) -> JetBatch:
        """The jets ``start:stop`` of the file (all by default)."""
        return self.to_batch(_parquet.read(path, start, stop), path)

    def iterate(
        self,
        path: str | Path,
        spans: Sequence[tuple[int, int]],
        step: int,
        columns: Collection[str] | None = None,
    ) -> Iterator[JetBatch]:
        """The jets of each (start, stop) span in pieces of at most `step` (see `_parquet`)."""
        wanted = None if columns is None else {*columns, "label", "part_energy"}
        for array in _parquet.iterate(path, spans, step, wanted):
            yield self.to_batch(array, path)

    def labels(self, path: str | Path) -> tuple[np.ndarray, tuple[str, str]]:
        """The labels of every jet (read from the `label` column alone) and their names."""
        return labels.from_flag(_parquet.column(path, "label"), self.label_names)
