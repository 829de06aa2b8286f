"""Quark/gluon jet layouts (Komiske, Metodiev, Thaler; EnergyFlow, Zenodo 3164691).

EnergyFlow npz (``QG_jets*.npz``): ``X`` float64 of shape (n_jets, M, 4) holding each
constituent's ``(pt, y, phi, pid)`` — rapidity ``y``, azimuth within π of the jet's, the PDG
id as a float — zero-padded to the file's largest multiplicity M; ``y`` float64, 1 for quark
and 0 for gluon jets (EnergyFlow's ``qg_jets`` documentation).

Converted parquet (what ParT's ``utils/convert_qg_datasets.py`` writes with
``ak.to_parquet(..., compression="LZ4", compression_level=4)``): fields, in order, ``label``
(float64, = y), ``jet_pt, jet_eta, jet_phi, jet_energy, jet_mass`` (float32), ``jet_nparticles``
(int64), ``part_px, part_py, part_pz, part_energy, part_deta, part_dphi, part_pid,
part_isNeutralHadron, part_isPhoton, part_isChargedHadron, part_isElectron, part_isMuon,
part_charge`` (var * float32), constituents in decreasing pT.

The npz stores no energy or pz: reading rebuilds them from (pt, y) and the particle's mass,
``E = mT cosh y``, ``pz = mT sinh y`` with ``mT = sqrt(pt² + m²)`` and m from the PDG id
(`physics.PDG_MASS`, Pythia 8's masses) — or, with ``masses="massless"``, m = 0 and η = y as
ParT's converter assumes. Charges come from the PDG id. Reading orders each jet's constituents
by decreasing pT (as the ParT converter does) and computes the jet columns from the
constituents' sum (the layout stores no jet columns; soft-drop mass and τ_N are NaN).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from hakutaku.hep.formats import _common, labels, physics
from hakutaku.hep.jets import JetBatch

if TYPE_CHECKING:
    import awkward as ak

PARQUET_JET_FIELDS = ("jet_pt", "jet_eta", "jet_phi", "jet_energy", "jet_mass")
PARQUET_PART_FIELDS = (
    "part_px",
    "part_py",
    "part_pz",
    "part_energy",
    "part_deta",
    "part_dphi",
    "part_pid",
    "part_isNeutralHadron",
    "part_isPhoton",
    "part_isChargedHadron",
    "part_isElectron",
    "part_isMuon",
    "part_charge",
)


def write_npz(batch: JetBatch, path: str | Path, max_particles: int | None = None) -> None:
    """EnergyFlow layout; M = the largest multiplicity (or `max_particles`, truncating)."""
    flag = labels.quark_flag(batch)
    order = _common.pt_order(batch)
    p = {k: np.asarray(v)[order] for k, v in batch.particles.items()}
    pt, _, phi = physics.pt_eta_phi(p["part_px"], p["part_py"], p["part_pz"])
    y = physics.rapidity(p["part_energy"], p["part_pz"])
    jet_phi = np.repeat(_jet_phi(batch), batch.counts)
    phi = jet_phi + physics.wrap_phi(phi - jet_phi)  # within π of the jet, as EnergyFlow's
    if "part_pid" not in p:
        raise ValueError("the EnergyFlow layout needs part_pid")
    pid = np.asarray(p["part_pid"], dtype=np.float64)
    width = int(batch.counts.max(initial=0)) if max_particles is None else max_particles
    columns = [_common.flat_to_padded(v, batch.counts, width) for v in (pt, y, phi, pid)]
    x = np.stack(columns, axis=2).astype(np.float64)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, X=x, y=flag.astype(np.float64))


def _jet_phi(batch: JetBatch) -> np.ndarray:
    if "jet_phi" in batch.jets:
        return np.asarray(batch.jets["jet_phi"], dtype=np.float64)
    p = batch.particles
    four = physics.jet_four_momentum(
        p["part_px"], p["part_py"], p["part_pz"], p["part_energy"], batch.counts
    )
    return four["jet_phi"]


def read_npz(path: str | Path, masses: str = "pdg") -> JetBatch:
    _check_masses(masses)
    with np.load(path) as f:
        x = np.asarray(f["X"])
        flag = np.asarray(f["y"])
    return _npz_batch(x, flag, masses, path)


def count_npz(path: str | Path) -> int:
    """The number of jets in the file (from the header of its ``X`` array)."""
    with zipfile.ZipFile(path) as archive, archive.open("X.npy") as fh:
        shape, _, _ = _npy_header(fh)
    return int(shape[0])


def iterate_npz(
    path: str | Path, spans: Sequence[tuple[int, int]], step: int, masses: str = "pdg"
) -> Iterator[JetBatch]:
    """The jets of each (start, stop) span in turn, in pieces of at most `step`, decompressing
    ``X`` as it goes.

    A compressed npz member can only be read from its beginning: the rows before a span are
    decompressed and dropped (memory stays bounded by `step`; time grows with the offset, and
    a span before the previous one starts the member again). A column-major ``X`` is read
    whole.
    """
    _check_masses(masses)
    step = max(int(step), 1)
    with zipfile.ZipFile(path) as archive:
        with archive.open("y.npy") as fh:
            flag = np.lib.format.read_array(fh)
        reader = _RowReader(archive)
        try:
            for start, stop in spans:
                for lo in range(start, stop, step):
                    hi = min(lo + step, stop)
                    yield _npz_batch(reader.rows(lo, hi), flag[lo:hi], masses, path)
        finally:
            reader.close()


class _RowReader:
    """Rows of the ``X`` member of an open npz, read forward (restarted to go back)."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.fh: IO[bytes] | None = None
        self.position = 0
        self.whole: np.ndarray | None = None
        self._open()

    def _open(self) -> None:
        self.close()
        self.fh = self.archive.open("X.npy")
        self.shape, fortran, self.dtype = _npy_header(self.fh)
        self.position = 0
        self.row = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        if fortran and len(self.shape) > 1:
            # Column-major rows are not contiguous in the member: read it whole, once.
            self.whole = np.lib.format.read_array(self.fh).reshape(self.shape, order="F")

    def rows(self, lo: int, hi: int) -> np.ndarray:
        if self.whole is not None:
            return self.whole[lo:hi]
        if lo < self.position:
            self._open()
        assert self.fh is not None
        _skip(self.fh, (lo - self.position) * self.row)
        raw = self.fh.read((hi - lo) * self.row)
        self.position = hi
        return np.frombuffer(raw, dtype=self.dtype).reshape((hi - lo, *self.shape[1:]))

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def read_npz_labels(path: str | Path) -> tuple[np.ndarray, tuple[str, str]]:
    """(labels, label names) of every jet, reading the ``y`` array only."""
    with zipfile.ZipFile(path) as archive, archive.open("y.npy") as fh:
        flag = np.lib.format.read_array(fh)
    return labels.from_flag(flag, labels.QG_LABELS)


def _npy_header(fh: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fh)
    return np.lib.format.read_array_header_2_0(fh)


def _skip(fh: IO[bytes], size: int, block: int = 1 << 24) -> None:
    while size > 0:
        got = len(fh.read(min(size, block)))
        if not got:
            raise ValueError("the npz member ends before the rows asked for")
        size -= got


def _check_masses(masses: str) -> None:
    if masses not in ("pdg", "massless"):
        raise ValueError("masses must be 'pdg' or 'massless'")


def _npz_batch(x: np.ndarray, flag: np.ndarray, masses: str, path: str | Path) -> JetBatch:
    x = np.asarray(x)[..., :4].astype(np.float64)
    flag = np.asarray(flag)
    order = np.argsort(-x[:, :, 0], axis=1, kind="stable")
    x = np.take_along_axis(x, order[:, :, None], axis=1)
    mask = x[:, :, 0] > 0
    counts = mask.sum(axis=1).astype(np.int64)
    pt, y, phi, pid = (x[:, :, i][mask] for i in range(4))
    pid = np.rint(pid).astype(np.int64)
    m = physics.pdg_mass(pid) if masses == "pdg" else np.zeros_like(pt)
    mt = np.sqrt(pt**2 + m**2)
    particles = {
        "part_px": pt * np.cos(phi),
        "part_py": pt * np.sin(phi),
        "part_pz": mt * np.sinh(y),
        "part_energy": mt * np.cosh(y),
        "part_pid": pid,
        "part_charge": physics.pdg_charge(pid),
    }
    four = physics.jet_four_momentum(
        particles["part_px"],
        particles["part_py"],
        particles["part_pz"],
        particles["part_energy"],
        counts,
    )
    deta, dphi = physics.relative_coordinates(
        particles["part_px"],
        particles["part_py"],
        particles["part_pz"],
        counts,
        four["jet_eta"],
        four["jet_phi"],
    )
    particles["part_deta"], particles["part_dphi"] = deta, dphi
    jets = dict(four)
    jets["jet_nparticles"] = counts.copy()
    label, names = labels.from_flag(flag, labels.QG_LABELS)
    return JetBatch(
        jets=_common.complete_jets(jets, len(counts)),
        particles=particles,
        counts=counts,
        labels=label,
        label_names=names,
        meta={"format": "qg-npz", "source": str(path), "masses": masses},
    )


def write_parquet(batch: JetBatch, path: str | Path) -> None:
    flag = labels.quark_flag(batch)
    deta, dphi = _common.relative_coordinates(batch)
    p = batch.particles
    if "part_pid" not in p:
        raise ValueError("the QuarkGluon parquet layout needs part_pid")
    flat = {
        "part_px": p["part_px"],
        "part_py": p["part_py"],
        "part_pz": p["part_pz"],
        "part_energy": p["part_energy"],
        "part_deta": deta,
        "part_dphi": dphi,
        "part_pid": p["part_pid"],
        "part_charge": _common.charges(batch),
        **_common.onehots(batch),
    }
    _common.write_converted_parquet(
        batch, path, flag.astype(np.float64), flat, PARQUET_JET_FIELDS, PARQUET_PART_FIELDS
    )


def _parquet_batch(array: ak.Array, path: str | Path) -> JetBatch:
    jets, particles, counts, flag = _common.converted_columns(array)
    if "part_pid" in particles:
        particles["part_pid"] = np.rint(particles["part_pid"]).astype(np.int64)
    label, names = labels.from_flag(flag, labels.QG_LABELS)
    return JetBatch(
        jets=_common.complete_jets(jets, len(counts)),
        particles=particles,
        counts=counts,
        labels=label,
        label_names=names,
        meta={"format": "qg-parquet", "source": str(path)},
    )


_PARQUET = _common.ConvertedParquet(_parquet_batch, labels.QG_LABELS)
read_parquet = _PARQUET.read
iterate_parquet = _PARQUET.iterate
read_parquet_labels = _PARQUET.labels
