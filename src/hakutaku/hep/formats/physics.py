"""Kinematics and particle identification shared by the format readers/writers and features.

Conventions (those of the public datasets' own tools, so that values written here equal the
values the public files hold):

- Δη to the jet axis is sign-flipped for jets at negative η:
  ``part_deta = (η_part − η_jet) · sign(η_jet)`` with sign(0) taken as +1. This is what
  ParT's ``utils/convert_top_datasets.py`` / ``convert_qg_datasets.py`` write, and what the
  JetClass files hold (``dataloader.py``: "np.where(jet_eta>0, part_eta-jet_eta,
  -(part_eta-jet_eta))").
- Δφ is ``φ_part − φ_jet`` wrapped into [−π, π) (``vector``'s ``deltaphi``).
- Particle-ID one-hots (``part_isChargedHadron``, ``part_isNeutralHadron``,
  ``part_isPhoton``, ``part_isElectron``, ``part_isMuon``) from the PDG id and charge: photon
  ``pid == 22``; electron ``|pid| == 11``; muon ``|pid| == 13``; hadrons (``|pid| ≥ 100``)
  are charged or neutral by their charge. For the particle ids in the EnergyFlow quark/gluon
  files (±211, ±321, ±2212, 130, ±2112, 22, ±11, ±13) this equals the table in ParT's
  ``convert_qg_datasets.py``; it extends it to the other long-lived hadrons a generator can
  leave stable (K0S, Λ, Σ, Ξ, Ω).
"""

from __future__ import annotations

import numpy as np

# Masses (GeV) and charges (e) of the particles a generator leaves in the final state, as in
# Pythia 8.3's particle data (what the generated and the EnergyFlow samples were made with);
# antiparticles have the same mass and the opposite charge. Used to rebuild (E, pz) from the
# EnergyFlow (pt, y, phi, pid) layout.
PDG_MASS: dict[int, float] = {
    22: 0.0,
    11: 0.000511,
    13: 0.10566,
    12: 0.0,
    14: 0.0,
    16: 0.0,
    211: 0.13957,
    321: 0.49368,
    2212: 0.93827,
    2112: 0.93957,
    130: 0.49761,
    310: 0.49761,
    3122: 1.11568,
    3112: 1.19745,
    3222: 1.18937,
    3312: 1.32171,
    3322: 1.31486,
    3334: 1.67245,
}
PDG_CHARGE: dict[int, float] = {
    22: 0.0,
    11: -1.0,
    13: -1.0,
    12: 0.0,
    14: 0.0,
    16: 0.0,
    211: 1.0,
    321: 1.0,
    2212: 1.0,
    2112: 0.0,
    130: 0.0,
    310: 0.0,
    3122: 0.0,
    3112: -1.0,
    3222: 1.0,
    3312: -1.0,
    3322: 0.0,
    3334: -1.0,
}

PID_COLUMNS = (
    "part_isChargedHadron",
    "part_isNeutralHadron",
    "part_isPhoton",
    "part_isElectron",
    "part_isMuon",
)


def _lookup(table: dict[int, float], pid: np.ndarray, default: float, odd: bool) -> np.ndarray:
    pid = np.asarray(pid).astype(np.int64)
    keys = np.array(sorted(table), dtype=np.int64)
    values = np.array([table[k] for k in keys], dtype=np.float64)
    apid = np.abs(pid)
    where = np.searchsorted(keys, apid).clip(0, len(keys) - 1)
    found = keys[where] == apid
    out = np.where(found, values[where], default)
    if odd:
        out = np.where(pid < 0, -out, out)
    return out


def pdg_mass(pid: np.ndarray) -> np.ndarray:
    """Mass (GeV) for each PDG id; 0 for ids not in `PDG_MASS`."""
    return _lookup(PDG_MASS, pid, 0.0, odd=False)


def pdg_charge(pid: np.ndarray) -> np.ndarray:
    """Charge for each PDG id; NaN for ids not in `PDG_CHARGE` (and for 0, "unknown")."""
    return _lookup(PDG_CHARGE, pid, np.nan, odd=True)


def pid_onehots(pid: np.ndarray, charge: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The five PID one-hots (float32 0/1) from PDG ids and charges (charges looked up if None)."""
    pid = np.asarray(pid).astype(np.int64)
    charge = pdg_charge(pid) if charge is None else np.asarray(charge, dtype=np.float64)
    apid = np.abs(pid)
    hadron = apid >= 100
    charged = np.nan_to_num(charge) != 0
    flags = {
        "part_isChargedHadron": hadron & charged,
        "part_isNeutralHadron": hadron & ~charged,
        "part_isPhoton": pid == 22,
        "part_isElectron": apid == 11,
        "part_isMuon": apid == 13,
    }
    return {k: v.astype(np.float32) for k, v in flags.items()}


def representative_pid(onehots: dict[str, np.ndarray], charge: np.ndarray) -> np.ndarray:
    """A PDG id standing for each (one-hot class, charge), for layouts that store no PDG id.

    Charged hadron → ±211, neutral hadron → 130, photon → 22, electron → ∓11, muon → ∓13
    (particle ids carry the opposite sign of the lepton charge), anything else → 0 (unknown).
    `pid_onehots(representative_pid(h, q), q)` gives back `h`.
    """
    sign = np.sign(np.nan_to_num(np.asarray(charge, dtype=np.float64))).astype(np.int64)
    pid = np.zeros(len(sign), dtype=np.int64)
    pid = np.where(onehots["part_isChargedHadron"] > 0, 211 * sign, pid)
    pid = np.where(onehots["part_isNeutralHadron"] > 0, 130, pid)
    pid = np.where(onehots["part_isPhoton"] > 0, 22, pid)
    pid = np.where(onehots["part_isElectron"] > 0, -11 * sign, pid)
    pid = np.where(onehots["part_isMuon"] > 0, -13 * sign, pid)
    return pid


# ----------------------------------------------------------------------------- kinematics


def wrap_phi(dphi: np.ndarray) -> np.ndarray:
    """An angle difference wrapped into [−π, π)."""
    return (np.asarray(dphi) + np.pi) % (2 * np.pi) - np.pi


def pt_eta_phi(px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> tuple[np.ndarray, ...]:
    px, py, pz = (np.asarray(a, dtype=np.float64) for a in (px, py, pz))
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(pz / pt)
    return pt, eta, np.arctan2(py, px)


def rapidity(energy: np.ndarray, pz: np.ndarray) -> np.ndarray:
    energy, pz = np.asarray(energy, np.float64), np.asarray(pz, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.5 * np.log((energy + pz) / (energy - pz))


def jet_four_momentum(
    px: np.ndarray, py: np.ndarray, pz: np.ndarray, energy: np.ndarray, counts: np.ndarray
) -> dict[str, np.ndarray]:
    """Jet (pt, eta, phi, energy, mass) as the sum of its constituents (E-scheme), in float64."""
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)

    def total(values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if not len(values):
            return np.zeros(len(counts))
        sums = np.add.reduceat(values, starts.clip(max=len(values) - 1))
        return np.where(counts > 0, sums, 0.0)

    jx, jy, jz, je = total(px), total(py), total(pz), total(energy)
    pt, eta, phi = pt_eta_phi(jx, jy, jz)
    mass = np.sqrt(np.maximum(je**2 - jx**2 - jy**2 - jz**2, 0.0))
    return {"jet_pt": pt, "jet_eta": eta, "jet_phi": phi, "jet_energy": je, "jet_mass": mass}


def relative_coordinates(
    px: np.ndarray,
    py: np.ndarray,
    pz: np.ndarray,
    counts: np.ndarray,
    jet_eta: np.ndarray,
    jet_phi: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(part_deta, part_dphi) of each constituent to its jet axis, in the public convention."""
    _, eta, phi = pt_eta_phi(px, py, pz)
    counts = np.asarray(counts, dtype=np.int64)
    jet_eta = np.repeat(np.asarray(jet_eta, dtype=np.float64), counts)
    jet_phi = np.repeat(np.asarray(jet_phi, dtype=np.float64), counts)
    sign = np.where(np.sign(jet_eta) == 0, 1.0, np.sign(jet_eta))
    return (eta - jet_eta) * sign, wrap_phi(phi - jet_phi)
