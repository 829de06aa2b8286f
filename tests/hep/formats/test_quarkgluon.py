"""Quark/gluon: the EnergyFlow npz and ParT's converted parquet."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hakutaku.hep import formats
from tests.hep.formats.samples import CLASS, PARTICLES, expected_deta_dphi, make_batch

QG = ("Zq", "Zg")


def f32(a):
    return np.asarray(a, dtype=np.float32)


def named(batch):
    return [batch.label_names[i] for i in batch.labels]


def test_npz_round_trip_and_layout(tmp_path):
    batch = make_batch(n=20, names=QG, seed=7)
    path = formats.write(batch, tmp_path / "QG_jets.npz")
    assert path.name == "QG_jets.npz"
    with np.load(path) as f:
        assert sorted(f.files) == ["X", "y"]
        x, y = f["X"], f["y"]
    assert x.dtype == np.float64 and y.dtype == np.float64
    assert x.shape == (20, batch.counts.max(), 4)
    assert list(y) == [1.0 if n == "Zq" else 0.0 for n in named(batch)]  # quark = 1
    first = batch.jet_particles(0)
    n0 = batch.counts[0]
    pt = np.hypot(first["part_px"], first["part_py"])
    rapidity = 0.5 * np.log(
        (first["part_energy"] + first["part_pz"]) / (first["part_energy"] - first["part_pz"])
    )
    np.testing.assert_allclose(x[0, :n0, 0], pt, rtol=1e-14)
    np.testing.assert_allclose(x[0, :n0, 1], rapidity, rtol=1e-12, atol=1e-14)
    assert np.array_equal(x[0, :n0, 3], first["part_pid"].astype(float))
    assert np.all(x[0, n0:] == 0)
    jet_phi = batch.jets["jet_phi"]
    real = x[:, :, 0] > 0
    assert np.all(np.abs(x[:, :, 2] - jet_phi[:, None])[real] <= np.pi)  # φ within π of the jet

    back = formats.read(path)
    assert back.label_names == QG and named(back) == named(batch)
    assert np.array_equal(back.counts, batch.counts)
    assert np.array_equal(back.particles["part_pid"], batch.particles["part_pid"])
    assert np.array_equal(back.particles["part_charge"], batch.particles["part_charge"])
    for name in ("part_px", "part_py", "part_pz", "part_energy"):
        np.testing.assert_allclose(
            back.particles[name], batch.particles[name], rtol=1e-12, atol=1e-12
        )
    for name in ("jet_pt", "jet_eta", "jet_phi", "jet_energy", "jet_mass"):
        np.testing.assert_allclose(back.jets[name], batch.jets[name], rtol=1e-9)


def test_npz_made_by_hand_reads(tmp_path):
    """Two jets as EnergyFlow stores them: (pt, y, phi, pid), not pT-ordered, zero-padded."""
    x = np.zeros((2, 4, 4))
    x[0, 0] = [10.0, 0.5, 6.2, 22.0]
    x[0, 1] = [40.0, 0.4, 6.3, -211.0]
    x[0, 2] = [5.0, 0.6, 6.0, 2112.0]
    x[1, 0] = [20.0, -1.0, 1.0, 11.0]
    np.savez_compressed(tmp_path / "QG_jets_1.npz", X=x, y=np.array([0.0, 1.0]))

    batch = formats.read(tmp_path / "QG_jets_1.npz")
    assert named(batch) == ["Zg", "Zq"]
    assert list(batch.counts) == [3, 1]
    assert list(batch.particles["part_pid"]) == [-211, 22, 2112, 11]  # decreasing pT
    assert list(batch.particles["part_charge"]) == [-1.0, 0.0, 0.0, -1.0]
    m_pi = 0.13957
    mt = np.hypot(40.0, m_pi)
    assert batch.particles["part_energy"][0] == pytest.approx(mt * np.cosh(0.4), rel=1e-14)
    assert batch.particles["part_pz"][0] == pytest.approx(mt * np.sinh(0.4), rel=1e-14)
    assert batch.particles["part_px"][0] == pytest.approx(40.0 * np.cos(6.3), rel=1e-14)
    assert batch.particles["part_energy"][1] == pytest.approx(10.0 * np.cosh(0.5), rel=1e-14)
    massless = formats.read(tmp_path / "QG_jets_1.npz", masses="massless")
    assert massless.particles["part_energy"][0] == pytest.approx(40.0 * np.cosh(0.4), rel=1e-14)
    assert np.isnan(batch.jets["jet_tau1"]).all()


def _convert_like_part(x: np.ndarray, y: np.ndarray) -> ak.Array:
    """What ParT's utils/convert_qg_datasets.py makes of (X, y) (re-expressed for the test)."""
    vector = pytest.importorskip("vector")
    vector.register_awkward()
    x = x.astype(np.float32)
    order = np.argsort(-x[:, :, 0], axis=1)
    x = np.take_along_axis(x, order[:, :, None], axis=1)
    mask = x[:, :, 0] > 0
    n = mask.sum(axis=1)
    pt, eta, phi, pid = (ak.unflatten(x[:, :, i][mask], n) for i in range(4))
    p4 = vector.zip({"pt": pt, "eta": eta, "phi": phi, "mass": ak.zeros_like(pt)})
    jet = ak.sum(p4, axis=1)
    sign = np.sign(ak.to_numpy(jet.eta))
    sign[sign == 0] = 1

    def flag(*ids):
        return ak.values_astype(sum(pid == i for i in ids), "float32")

    plus = flag(211, 321, 2212) + flag(-11) + flag(-13)
    minus = flag(-211, -321, -2212) + flag(11) + flag(13)
    return ak.Array(
        {
            "label": y,
            "jet_pt": jet.pt,
            "jet_eta": jet.eta,
            "jet_phi": jet.phi,
            "jet_energy": jet.energy,
            "jet_mass": jet.mass,
            "jet_nparticles": n,
            "part_px": p4.x,
            "part_py": p4.y,
            "part_pz": p4.z,
            "part_energy": p4.energy,
            "part_deta": (p4.eta - jet.eta) * sign,
            "part_dphi": p4.deltaphi(jet),
            "part_pid": pid,
            "part_isNeutralHadron": flag(130, 2112, -2112),
            "part_isPhoton": flag(22),
            "part_isChargedHadron": flag(211, 321, 2212, -211, -321, -2212),
            "part_isElectron": flag(11, -11),
            "part_isMuon": flag(13, -13),
            "part_charge": plus - minus,
        }
    )


PART_FIELDS = (
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


def test_parquet_round_trip_and_layout(tmp_path):
    batch = make_batch(n=25, names=QG, seed=8)
    path = formats.write(batch, tmp_path / "train_file_0.parquet")
    assert formats.detect_format(path) == "qg-parquet"
    schema = pq.read_schema(path)
    floats = pa.large_list(pa.field("item", pa.float32(), nullable=False))
    expected = [
        ("label", pa.float64()),
        *((n, pa.float32()) for n in ("jet_pt", "jet_eta", "jet_phi", "jet_energy", "jet_mass")),
        ("jet_nparticles", pa.int64()),
        *((n, floats) for n in PART_FIELDS),
    ]
    assert [(f.name, f.type) for f in schema] == expected

    back = formats.read(path)
    assert named(back) == named(batch) and np.array_equal(back.counts, batch.counts)
    for name in ("part_px", "part_py", "part_pz", "part_energy", "part_charge"):
        assert np.array_equal(back.particles[name], f32(batch.particles[name])), name
    assert np.array_equal(back.particles["part_pid"], batch.particles["part_pid"])
    for row, pid in enumerate(batch.particles["part_pid"]):
        assert back.particles[CLASS[pid]][row] == 1
    deta, dphi = expected_deta_dphi(batch)
    np.testing.assert_allclose(back.particles["part_deta"], deta, atol=1e-6)
    np.testing.assert_allclose(back.particles["part_dphi"], dphi, atol=1e-6)
    for name in ("jet_pt", "jet_eta", "jet_phi", "jet_energy", "jet_mass"):
        assert np.array_equal(back.jets[name], f32(batch.jets[name]))

    # Through the npz and ParT's conversion: the same schema; ParT's converter takes the
    # rapidity for η and the particles as massless, which `masses="massless"` reproduces.
    npz = formats.write(batch, tmp_path / "QG_jets.npz")
    with np.load(npz) as f:
        converted = _convert_like_part(f["X"], f["y"])
    ak.to_parquet(converted, tmp_path / "converted.parquet", compression="LZ4", compression_level=4)
    assert pq.read_schema(tmp_path / "converted.parquet").equals(schema, check_metadata=True)
    public = formats.read(tmp_path / "converted.parquet")
    massless = formats.read(npz, masses="massless")
    assert named(public) == named(batch) and np.array_equal(public.counts, batch.counts)
    assert np.array_equal(public.particles["part_pid"], batch.particles["part_pid"])
    for name in (
        "part_charge",
        "part_isChargedHadron",
        "part_isNeutralHadron",
        "part_isPhoton",
        "part_isElectron",
        "part_isMuon",
    ):
        assert np.array_equal(public.particles[name], back.particles[name]), name
    for name in ("part_px", "part_py", "part_pz", "part_energy", "part_deta", "part_dphi"):
        np.testing.assert_allclose(
            public.particles[name], massless.particles[name], rtol=1e-5, atol=1e-4
        )


def test_pid_masses_cover_the_generator_final_state():
    from hakutaku.hep.formats import physics

    for pid, (mass, charge) in PARTICLES.items():
        assert physics.pdg_mass(np.array([pid]))[0] == mass
        assert physics.pdg_charge(np.array([pid]))[0] == charge
