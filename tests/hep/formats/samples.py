"""Synthetic jets for the format tests: random but physical four-momenta, pT-ordered."""

from __future__ import annotations

import numpy as np

from hakutaku.hep.jets import JetBatch

# PDG id → (mass, charge), written out here so the tests do not lean on the code under test.
PARTICLES = {
    22: (0.0, 0.0),
    11: (0.000511, -1.0),
    -11: (0.000511, 1.0),
    13: (0.10566, -1.0),
    -13: (0.10566, 1.0),
    211: (0.13957, 1.0),
    -211: (0.13957, -1.0),
    321: (0.49368, 1.0),
    -321: (0.49368, -1.0),
    2212: (0.93827, 1.0),
    -2212: (0.93827, -1.0),
    2112: (0.93957, 0.0),
    130: (0.49761, 0.0),
}
# The class each id belongs to in the PID one-hots.
CLASS = {
    22: "part_isPhoton",
    11: "part_isElectron",
    -11: "part_isElectron",
    13: "part_isMuon",
    -13: "part_isMuon",
    211: "part_isChargedHadron",
    -211: "part_isChargedHadron",
    321: "part_isChargedHadron",
    -321: "part_isChargedHadron",
    2212: "part_isChargedHadron",
    -2212: "part_isChargedHadron",
    2112: "part_isNeutralHadron",
    130: "part_isNeutralHadron",
}


def make_batch(
    n: int = 12,
    names: tuple[str, ...] = ("Tbqq", "QCD"),
    seed: int = 0,
    max_particles: int = 60,
    counts: np.ndarray | None = None,
) -> JetBatch:
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, max_particles, n) if counts is None else np.asarray(counts)
    n = len(counts)
    jet_eta = rng.uniform(-2, 2, n)
    jet_phi = rng.uniform(-np.pi, np.pi, n)
    total = int(counts.sum())
    pt = rng.exponential(20.0, total) + 0.5
    eta = np.repeat(jet_eta, counts) + rng.normal(0, 0.2, total)
    phi = np.repeat(jet_phi, counts) + rng.normal(0, 0.2, total)
    pid = rng.choice(list(PARTICLES), total)
    mass = np.array([PARTICLES[p][0] for p in pid])
    charge = np.array([PARTICLES[p][1] for p in pid])
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    jet = np.repeat(np.arange(n), counts)
    order = np.lexsort((-pt, jet))
    px, py, pz, energy, pid, charge = (a[order] for a in (px, py, pz, energy, pid, charge))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    jx, jy, jz, je = (np.add.reduceat(a, starts) for a in (px, py, pz, energy))
    jpt = np.hypot(jx, jy)
    jets = {
        "jet_pt": jpt,
        "jet_eta": np.arcsinh(jz / jpt),
        "jet_phi": np.arctan2(jy, jx),
        "jet_energy": je,
        "jet_mass": np.sqrt(np.maximum(je**2 - jx**2 - jy**2 - jz**2, 0.0)),
        "jet_sdmass": rng.uniform(0, 200, n),
        "jet_nparticles": counts.astype(np.int64),
        **{f"jet_tau{i}": rng.uniform(0, 1, n) for i in range(1, 5)},
    }
    return JetBatch(
        jets=jets,
        particles={
            "part_px": px,
            "part_py": py,
            "part_pz": pz,
            "part_energy": energy,
            "part_pid": pid.astype(np.int64),
            "part_charge": charge,
        },
        counts=counts,
        labels=rng.integers(0, len(names), n),
        label_names=names,
    )


def eta_phi(px, py, pz):
    pt = np.hypot(px, py)
    return np.arcsinh(pz / pt), np.arctan2(py, px)


def expected_deta_dphi(batch: JetBatch) -> tuple[np.ndarray, np.ndarray]:
    """Δη·sign(η_jet) and Δφ wrapped to [−π, π), computed jet by jet."""
    detas, dphis = [], []
    for i in range(len(batch)):
        p = batch.jet_particles(i)
        eta, phi = eta_phi(p["part_px"], p["part_py"], p["part_pz"])
        jet_eta, jet_phi = batch.jets["jet_eta"][i], batch.jets["jet_phi"][i]
        sign = 1.0 if jet_eta >= 0 else -1.0
        detas.append((eta - jet_eta) * sign)
        d = phi - jet_phi
        d = np.where(d >= np.pi, d - 2 * np.pi, d)
        d = np.where(d < -np.pi, d + 2 * np.pi, d)
        dphis.append(d)
    return np.concatenate(detas), np.concatenate(dphis)
