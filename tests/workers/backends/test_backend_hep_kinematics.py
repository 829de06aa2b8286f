"""HepKinematics against values worked out by hand (no server: the class is called directly)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hakutaku.workers.backends.hep_kinematics import HepKinematics
from hakutaku.workers.remote import remote_methods

Z_MASS = 91.1876
MUON_MASS = 0.1056584


@pytest.fixture(scope="module")
def hep() -> HepKinematics:
    model = HepKinematics()
    model.setup()
    return model


def massless(pt: float, eta: float, phi: float) -> list[float]:
    return [pt * math.cosh(eta), pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)]


def test_advertised_methods() -> None:
    methods = remote_methods(HepKinematics())
    assert HepKinematics.name == "hep-kinematics"
    assert set(methods) == {"invariant_mass", "jet_observables", "boost", "delta_r", "scan_mass"}
    assert methods["scan_mass"].kind == "generator"
    assert methods["invariant_mass"].params == ["p4", "mask", "combine"]


def test_mass_per_four_vector(hep: HepKinematics) -> None:
    masses = hep.invariant_mass([[Z_MASS, 0, 0, 0], [50, 30, 0, 40], [5, 3, 0, 0]])
    np.testing.assert_allclose(masses, [Z_MASS, 0.0, 4.0])
    assert hep.invariant_mass([5.0, 0.0, 3.0, 0.0]) == pytest.approx(4.0)


def test_back_to_back_massless_pair_has_mass_2e(hep: HepKinematics) -> None:
    energy = 45.6
    pair = [[[energy, energy, 0, 0], [energy, -energy, 0, 0]]]
    np.testing.assert_allclose(hep.invariant_mass(pair, combine=True), [2 * energy])


def test_z_like_muon_pair(hep: HepKinematics) -> None:
    # Z at rest → μ⁺μ⁻ back to back with E = M/2 each, then boosted along z with β = 0.5.
    e = Z_MASS / 2
    p = math.sqrt(e**2 - MUON_MASS**2)
    direction = np.array([0.3, -0.4, math.sqrt(1 - 0.25)])
    mu1 = np.concatenate([[e], p * direction])
    mu2 = np.concatenate([[e], -p * direction])
    rest = np.stack([mu1, mu2])[None]
    lab = hep.boost(rest, [0.0, 0.0, 0.5])
    np.testing.assert_allclose(hep.invariant_mass(lab, combine=True), [Z_MASS], rtol=1e-12)
    np.testing.assert_allclose(hep.invariant_mass(lab), [[MUON_MASS, MUON_MASS]], rtol=1e-6)


def test_massless_pair_mass_matches_pt_eta_phi_formula(hep: HepKinematics) -> None:
    # m² = 2 pT1 pT2 (cosh Δη − cos Δφ) for two massless particles.
    a, b = (40.0, 0.5, 0.1), (25.0, -1.2, 2.9)
    expected = math.sqrt(2 * a[0] * b[0] * (math.cosh(a[1] - b[1]) - math.cos(a[2] - b[2])))
    got = hep.invariant_mass([[massless(*a), massless(*b)]], combine=True)
    np.testing.assert_allclose(got, [expected], rtol=1e-12)


def test_mask_selects_particles(hep: HepKinematics) -> None:
    jets = [[[10, 10, 0, 0], [10, -10, 0, 0], [7, 0, 7, 0]]]
    np.testing.assert_allclose(hep.invariant_mass(jets, combine=True, mask=[[1, 1, 0]]), [20.0])
    with pytest.raises(ValueError, match="combine=true"):
        hep.invariant_mass(jets, mask=[[1, 1, 0]])
    with pytest.raises(ValueError, match=r"mask: expected shape \(1, 3\)"):
        hep.invariant_mass(jets, combine=True, mask=[[1, 1]])


def test_shape_errors_say_what_was_expected(hep: HepKinematics) -> None:
    with pytest.raises(
        ValueError,
        match=r"expected an array of shape \(\.\.\., 4\) with \(E, px, py, pz\), got \(3,\)",
    ):
        hep.invariant_mass([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"\(\.\.\., n_particles, 4\).*got \(4,\)"):
        hep.invariant_mass([1.0, 0, 0, 0], combine=True)
    with pytest.raises(ValueError, match=r"particles: expected .*got \(2, 5\)"):
        hep.jet_observables(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="could not read it"):
        hep.invariant_mass([[1, 0, 0, 0], [1, 0, 0]])
    with pytest.raises(ValueError, match="NaN or infinite"):
        hep.invariant_mass([[math.nan, 0, 0, 0]])


def test_boost_of_particle_at_rest(hep: HepKinematics) -> None:
    np.testing.assert_allclose(hep.boost([1.0, 0, 0, 0], [0, 0, 0.6]), [1.25, 0, 0, 0.75])
    np.testing.assert_allclose(hep.boost([[2.0, 0, 0, 0]], [0.6, 0, 0]), [[2.5, 1.5, 0, 0]])
    # β = 0 is the identity.
    np.testing.assert_allclose(hep.boost([3.0, 1, 2, 0.5], [0, 0, 0]), [3.0, 1, 2, 0.5])


def test_boost_preserves_mass_and_reaches_rest_frame(hep: HepKinematics) -> None:
    rng = np.random.default_rng(1)
    p = rng.normal(size=(100, 3)) * 20
    m = rng.uniform(0, 5, size=100)
    p4 = np.column_stack([np.sqrt(m**2 + np.sum(p**2, axis=1)), p])
    beta = np.array([0.3, -0.5, 0.7])
    boosted = hep.boost(p4, beta)
    np.testing.assert_allclose(hep.invariant_mass(boosted), m, atol=1e-9)
    np.testing.assert_allclose(hep.boost(boosted, -beta), p4, atol=1e-9)
    # Per-vector velocities: each vector to its own rest frame.
    at_rest = hep.boost(p4, -p4[:, 1:] / p4[:, :1])
    np.testing.assert_allclose(at_rest[:, 1:], 0.0, atol=1e-9)
    np.testing.assert_allclose(at_rest[:, 0], m, atol=1e-9)


def test_boost_errors(hep: HepKinematics) -> None:
    with pytest.raises(ValueError, match=r"below 1 \(the speed of light\)"):
        hep.boost([1.0, 0, 0, 0], [0, 0, 1.0])
    with pytest.raises(ValueError, match=r"beta: expected a velocity 3-vector .* got \(2,\)"):
        hep.boost([1.0, 0, 0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="does not broadcast"):
        hep.boost(np.ones((5, 4)), np.zeros((3, 3)))


def test_delta_r_wraps_phi(hep: HepKinematics) -> None:
    assert hep.delta_r(0.0, 3.1, 0.0, -3.1) == pytest.approx(2 * math.pi - 6.2)
    assert hep.delta_r(0.0, math.pi, 0.0, -math.pi) == pytest.approx(0.0, abs=1e-12)
    assert hep.delta_r(1.0, 0.0, -2.0, 0.0) == pytest.approx(3.0)
    assert hep.delta_r(0.3, 0.1, 0.0, 6.0) == pytest.approx(
        math.hypot(0.3, 0.1 - 6.0 + 2 * math.pi)
    )
    got = hep.delta_r([0.0, 1.0], [3.0, 0.0], 0.0, [-3.0, 0.0])
    np.testing.assert_allclose(got, [2 * math.pi - 6.0, 1.0])
    with pytest.raises(ValueError, match="broadcastable"):
        hep.delta_r([0, 1], [0, 1, 2], 0, 0)


def test_jet_observables_by_hand(hep: HepKinematics) -> None:
    a, b = (30.0, 0.2, 0.1), (10.0, -0.3, -0.2)
    jet1 = [massless(*a), massless(*b), [0, 0, 0, 0]]  # last row is zero padding
    jet2 = [[0, 0, 0, 0]] * 3  # an empty (all padding) jet
    obs = hep.jet_observables(np.array([jet1, jet2]))

    total = np.array(massless(*a)) + np.array(massless(*b))
    pt = math.hypot(total[1], total[2])
    eta = math.asinh(total[3] / pt)
    phi = math.atan2(total[2], total[1])
    mass = math.sqrt(2 * a[0] * b[0] * (math.cosh(a[1] - b[1]) - math.cos(a[2] - b[2])))
    width = (
        a[0] * math.hypot(a[1] - eta, a[2] - phi) + b[0] * math.hypot(b[1] - eta, b[2] - phi)
    ) / (a[0] + b[0])

    assert set(obs) == {"pt", "eta", "phi", "mass", "energy", "n_constituents", "width"}
    np.testing.assert_allclose(obs["pt"], [pt, 0.0])
    np.testing.assert_allclose(obs["eta"], [eta, 0.0])
    np.testing.assert_allclose(obs["phi"], [phi, 0.0])
    np.testing.assert_allclose(obs["mass"], [mass, 0.0], rtol=1e-12)
    np.testing.assert_allclose(obs["energy"], [total[0], 0.0])
    np.testing.assert_array_equal(obs["n_constituents"], [2, 0])
    np.testing.assert_allclose(obs["width"], [width, 0.0], rtol=1e-12)

    # An explicit mask gives the same answer as zero padding.
    masked = hep.jet_observables([jet1, jet2], mask=[[True, True, False], [False] * 3])
    for key in obs:
        np.testing.assert_allclose(masked[key], obs[key])


def test_scan_mass_streams_chunks(hep: HepKinematics) -> None:
    rng = np.random.default_rng(2)
    p4 = np.abs(rng.normal(size=(10, 4))) + np.array([10.0, 0, 0, 0])
    chunks = list(hep.scan_mass(p4, chunk_size=3))
    assert [(c["start"], c["stop"], c["total"]) for c in chunks] == [
        (0, 3, 10),
        (3, 6, 10),
        (6, 9, 10),
        (9, 10, 10),
    ]
    np.testing.assert_allclose(np.concatenate([c["mass"] for c in chunks]), hep.invariant_mass(p4))

    jets = rng.normal(size=(5, 4, 4)) + np.array([50.0, 0, 0, 0])
    mask = rng.random((5, 4)) > 0.3
    combined = list(hep.scan_mass(jets, chunk_size=2, combine=True, mask=mask))
    np.testing.assert_allclose(
        np.concatenate([c["mass"] for c in combined]),
        hep.invariant_mass(jets, combine=True, mask=mask),
    )
    with pytest.raises(ValueError, match="chunk_size: expected a positive integer"):
        next(hep.scan_mass(p4, chunk_size=0))
