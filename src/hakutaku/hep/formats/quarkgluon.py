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

from pathlib import Path

import numpy as np

from hakutaku.hep.formats import _common, labels, physics
from hakutaku.hep.jets import JetBatch

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
    if masses not in ("pdg", "massless"):
        raise ValueError("masses must be 'pdg' or 'massless'")
    with np.load(path) as f:
        x = np.asarray(f["X"])[..., :4].astype(np.float64)
        flag = np.asarray(f["y"])
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


def read_parquet(path: str | Path) -> JetBatch:
    jets, particles, counts, flag = _common.read_converted_parquet(path)
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
