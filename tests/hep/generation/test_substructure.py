"""Soft-drop mass and N-subjettiness: hand-computed cases, and agreement with FastJet contrib."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hakutaku.hep.generation.substructure import nsubjettiness, soft_drop_mass, substructure


def massless(pt, y, phi):
    """(px, py, pz, E) of massless particles from (pt, rapidity, phi)."""
    pt, y, phi = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (pt, y, phi))
    return pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(y), pt * np.cosh(y)


def jets_of(*particle_lists):
    """Flat (px, py, pz, E) and counts from several jets, each a list of (pt, y, phi)."""
    columns = [massless(*zip(*jet, strict=True)) for jet in particle_lists]
    flat = [np.concatenate([c[k] for c in columns]) for k in range(4)]
    counts = np.array([len(jet) for jet in particle_lists])
    return (*flat, counts)


def pair_mass(pt1, y1, phi1, pt2, y2, phi2):
    return math.sqrt(2 * pt1 * pt2 * (math.cosh(y1 - y2) - math.cos(phi1 - phi2)))


# -- N-subjettiness --------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_tau_n_vanishes_for_a_jet_of_n_particles(n):
    rng = np.random.default_rng(n)
    jet = [(rng.uniform(20, 200), rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3)) for _ in range(n)]
    taus = nsubjettiness(*jets_of(jet), radius=0.8)[0]
    assert taus[n - 1] == 0.0
    assert np.all(taus[n - 1 :] == 0.0)  # and every tau_M with M >= n
    if n > 1:
        assert taus[n - 2] > 0.0


def test_tau1_of_two_particles_by_hand():
    # Two massless particles at y = 0; the one axis is their E-scheme sum (at y = 0).
    pt1, phi1, pt2, phi2, r0 = 300.0, 0.2, 100.0, -0.2, 0.8
    axis_phi = math.atan2(
        pt1 * math.sin(phi1) + pt2 * math.sin(phi2), pt1 * math.cos(phi1) + pt2 * math.cos(phi2)
    )
    expected = (pt1 * abs(phi1 - axis_phi) + pt2 * abs(phi2 - axis_phi)) / ((pt1 + pt2) * r0)
    taus = nsubjettiness(*jets_of([(pt1, 0.0, phi1), (pt2, 0.0, phi2)]), radius=r0)[0]
    assert taus[0] == pytest.approx(expected, rel=1e-9)
    assert taus[1] == 0.0


def test_tau2_uses_exclusive_kt_axes():
    # kT merges the pair with the smallest min(pT^2) dR^2 first: A with B (100 * 0.05^2),
    # not B with C (100 * 0.55^2) nor A with C (10^4 * 0.6^2); axes are then A+B and C.
    a, b, c = (200.0, 0.0, 0.0), (10.0, 0.0, 0.05), (100.0, 0.0, 0.6)
    ab_phi = math.atan2(b[0] * math.sin(b[2]), a[0] + b[0] * math.cos(b[2]))
    expected = (a[0] * abs(a[2] - ab_phi) + b[0] * abs(b[2] - ab_phi)) / (310.0 * 0.8)
    taus = nsubjettiness(*jets_of([a, b, c]), radius=0.8)[0]
    assert taus[1] == pytest.approx(expected, rel=1e-9)
    assert taus[2] == 0.0
    # and beta = 2 squares the distances
    taus2 = nsubjettiness(*jets_of([a, b, c]), radius=0.8, beta=2.0)[0]
    expected2 = (a[0] * (a[2] - ab_phi) ** 2 + b[0] * (b[2] - ab_phi) ** 2) / (310.0 * 0.64)
    assert taus2[1] == pytest.approx(expected2, rel=1e-9)


def test_tau_uses_rapidity_and_wraps_phi():
    # Two equal particles across the phi = pi boundary: dR is 0.2 in phi, not 2 pi - 0.2.
    jet = [(100.0, 0.0, math.pi - 0.1), (100.0, 0.0, -math.pi + 0.1)]
    taus = nsubjettiness(*jets_of(jet), radius=0.4)[0]
    assert taus[0] == pytest.approx(0.1 / 0.4, rel=1e-9)


# -- soft drop -------------------------------------------------------------------------------


def test_soft_drop_keeps_two_hard_prongs():
    # Two hard prongs (z = 0.4) each with a soft collinear companion: nothing is groomed.
    jet = [
        (300.0, 0.0, 0.0),
        (3.0, 0.02, 0.01),
        (200.0, 0.3, 0.4),
        (2.0, 0.31, 0.42),
    ]
    px, py, pz, e, counts = jets_of(jet)
    full = math.sqrt(e.sum() ** 2 - px.sum() ** 2 - py.sum() ** 2 - pz.sum() ** 2)
    sd = soft_drop_mass(px, py, pz, e, counts, radius=0.8)[0]
    assert sd == pytest.approx(full, rel=1e-9)
    two = pair_mass(300.0, 0.0, 0.0, 200.0, 0.3, 0.4)
    assert sd > two  # the companions are part of it


def test_soft_drop_grooms_a_soft_wide_particle():
    core = [(300.0, 0.0, 0.0), (150.0, 0.0, 0.1)]
    soft_wide = (10.0, 0.2, 0.6)  # z = 10 / 460 < 0.1 at dR ~ 0.6: dropped
    px, py, pz, e, counts = jets_of([*core, soft_wide])
    sd = soft_drop_mass(px, py, pz, e, counts, radius=0.8)[0]
    assert sd == pytest.approx(pair_mass(300.0, 0.0, 0.0, 150.0, 0.0, 0.1), rel=1e-9)
    ungroomed = math.sqrt(e.sum() ** 2 - px.sum() ** 2 - py.sum() ** 2 - pz.sum() ** 2)
    assert ungroomed > 2 * sd


def test_soft_drop_down_to_one_particle_and_beta():
    # Every splitting fails z > 0.1: the hardest particle alone remains (massless: m = 0).
    jet = [(300.0, 0.0, 0.0), (5.0, 0.0, 0.3), (5.0, 0.0, -0.5)]
    sd = soft_drop_mass(*jets_of(jet), radius=0.8)[0]
    assert sd == pytest.approx(0.0, abs=1e-4)
    # beta = 1 lowers the threshold at small angles: z_cut (dR / R0) = 0.1 * 0.05 / 0.8.
    jet = [(300.0, 0.0, 0.0), (5.0, 0.0, 0.05)]  # z = 5/305 = 0.016 > 0.00625
    sd_b1 = soft_drop_mass(*jets_of(jet), radius=0.8, beta=1.0, z_cut=0.1)[0]
    assert sd_b1 == pytest.approx(pair_mass(300.0, 0.0, 0.0, 5.0, 0.0, 0.05), rel=1e-9)
    assert soft_drop_mass(*jets_of(jet), radius=0.8)[0] == pytest.approx(0.0, abs=1e-4)


def test_empty_and_single_particle_jets():
    out = substructure(*jets_of([(100.0, 0.0, 0.0)]), radius=0.8)
    assert out["jet_sdmass"][0] == pytest.approx(0.0, abs=1e-4)
    assert all(out[f"jet_tau{n}"][0] == 0.0 for n in range(1, 5))
    empty = substructure(
        np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), np.array([0]), radius=0.8
    )
    assert empty["jet_sdmass"].tolist() == [0.0]


# -- agreement with FastJet contrib (SoftDrop, Nsubjettiness) on many random jets ------------


def random_jets(n_jets: int, seed: int):
    """Jets of one to three prongs with soft, wide radiation: (px, py, pz, E, counts)."""
    rng = np.random.default_rng(seed)
    jets = []
    for _ in range(n_jets):
        particles = []
        y0, phi0 = rng.uniform(-1.5, 1.5), rng.uniform(-math.pi, math.pi)
        for _ in range(rng.integers(1, 4)):
            py_, pphi = y0 + rng.normal(0, 0.25), phi0 + rng.normal(0, 0.25)
            for _ in range(rng.integers(1, 25)):
                particles.append(
                    (rng.exponential(15.0), py_ + rng.normal(0, 0.05), pphi + rng.normal(0, 0.05))
                )
        for _ in range(rng.integers(0, 10)):  # soft wide-angle
            particles.append(
                (rng.exponential(2.0), y0 + rng.uniform(-0.7, 0.7), phi0 + rng.uniform(-0.7, 0.7))
            )
        jets.append(particles)
    return jets_of(*jets)


def contrib(px, py, pz, e, counts, radius, beta_sd):
    ak = pytest.importorskip("awkward")
    fastjet = pytest.importorskip("fastjet")
    events = ak.unflatten(ak.zip({"px": px, "py": py, "pz": pz, "E": e}), counts)
    r = fastjet.JetDefinition.max_allowable_R
    ca = fastjet.ClusterSequence(events, fastjet.JetDefinition(fastjet.cambridge_algorithm, r))
    sd = ca.exclusive_jets_softdrop_grooming(njets=1, beta=beta_sd, symmetry_cut=0.1, R0=radius)
    kt = fastjet.ClusterSequence(events, fastjet.JetDefinition(fastjet.kt_algorithm, r))
    taus = kt.njettiness(
        measure_definition="NormalizedMeasure",
        axes_definition="KT_Axes",
        njets=[1, 2, 3, 4],
        beta=1.0,
        R0=radius,
    )
    return ak.to_numpy(sd.msoftdrop), ak.to_numpy(taus)


@pytest.mark.parametrize("beta_sd", [0.0, 1.0])
def test_agrees_with_fastjet_contrib(beta_sd):
    radius = 0.8
    px, py, pz, e, counts = random_jets(200, seed=7)
    ours = substructure(px, py, pz, e, counts, radius=radius, soft_drop_beta=beta_sd)
    sd, taus = contrib(px, py, pz, e, counts, radius, beta_sd)
    np.testing.assert_allclose(ours["jet_sdmass"], np.abs(sd), rtol=1e-7, atol=1e-6)
    for n in range(4):
        np.testing.assert_allclose(ours[f"jet_tau{n + 1}"], taus[:, n], rtol=1e-7, atol=1e-9)
