"""Network inputs against values computed by hand from the ParT data configs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hakutaku.hep import formats
from hakutaku.hep.features import CONFIGS, FeatureConfig, build_inputs, n_features
from hakutaku.hep.jets import JetBatch

# A tiny jet: three particles; the jet axis at negative η (Δη is sign-flipped) and φ near π
# (the third particle, at φ ≈ −3.0, is Δφ ≈ +0.18 away once wrapped).
PX = [30.0, -4.0, -0.99]
PY = [40.0, 3.0, -0.141]
PZ = [0.0, 12.0, 0.0]
E = [50.0, 13.0, 1.0]
JET = {"jet_pt": 54.0, "jet_eta": -0.1, "jet_phi": 3.1, "jet_energy": 70.0}


def tiny(extra_particles: dict | None = None, more_jets: tuple = ()) -> JetBatch:
    """The tiny jet first, then any `more_jets` given as (px, py, pz, E) lists."""
    px, py, pz, e = list(PX), list(PY), list(PZ), list(E)
    counts = [3]
    jets = {k: [v] for k, v in JET.items()}
    for jpx, jpy, jpz, je in more_jets:
        px += jpx
        py += jpy
        pz += jpz
        e += je
        counts.append(len(jpx))
        for k, v in JET.items():
            jets[k].append(v)
    particles = {
        "part_px": np.array(px),
        "part_py": np.array(py),
        "part_pz": np.array(pz),
        "part_energy": np.array(e),
        "part_pid": np.array([211, 22, 11] + [211] * (len(px) - 3)),
        "part_charge": np.array([1.0, 0.0, -1.0] + [1.0] * (len(px) - 3)),
    }
    particles.update(extra_particles or {})
    return JetBatch(
        jets={k: np.array(v) for k, v in jets.items()},
        particles=particles,
        counts=np.array(counts),
        labels=np.zeros(len(counts), dtype=int),
        label_names=("QCD",),
    )


def clip(x, lo=-5.0, hi=5.0):
    return min(max(x, lo), hi)


def by_hand():
    """Each config variable of the three particles, written out from the YAML formulas."""
    rows = []
    for px, py, pz, e in zip(PX, PY, PZ, E, strict=True):
        pt = math.hypot(px, py)
        eta = math.asinh(pz / pt)
        deta = (eta - JET["jet_eta"]) * -1.0  # sign(jet_eta) = −1
        dphi = math.atan2(py, px) - JET["jet_phi"]
        dphi = (dphi + math.pi) % (2 * math.pi) - math.pi
        rows.append(
            {
                "part_pt_log": clip((math.log(pt) - 1.7) * 0.7),
                "part_e_log": clip((math.log(e) - 2.0) * 0.7),
                "part_logptrel": clip((math.log(pt / JET["jet_pt"]) + 4.7) * 0.7),
                "part_logerel": clip((math.log(e / JET["jet_energy"]) + 4.7) * 0.7),
                "part_deltaR": clip((math.hypot(deta, dphi) - 0.2) * 4.0),
                "part_deta": deta,
                "part_dphi": dphi,
            }
        )
    return rows


KIN = [
    "part_pt_log",
    "part_e_log",
    "part_logptrel",
    "part_logerel",
    "part_deltaR",
    "part_deta",
    "part_dphi",
]


def test_kin_values_by_hand():
    x = build_inputs(tiny(), "kin")
    expected = by_hand()
    for channel, name in enumerate(KIN):
        got = x["pf_features"][0, channel, :3]
        want = [row[name] for row in expected]
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6, err_msg=name)
    # A few written out in full: (ln 50 − 1.7)·0.7, (ln 13 − 2)·0.7, and ΔR of the first
    # particle (≈ 2.18) standardised to (2.18 − 0.2)·4 ≈ 7.9, clipped to 5.
    assert x["pf_features"][0, 0, 0] == pytest.approx(1.5484161038, abs=1e-6)
    assert x["pf_features"][0, 1, 1] == pytest.approx(0.3954645502, abs=1e-6)
    assert x["pf_features"][0, 4, 0] == 5.0
    assert expected[2]["part_dphi"] == pytest.approx(0.18307, abs=1e-4)  # wrapped, not −6.1
    np.testing.assert_allclose(
        x["pf_points"][0, :, :3],
        [[r["part_deta"] for r in expected], [r["part_dphi"] for r in expected]],
        atol=2e-6,
    )
    np.testing.assert_allclose(x["pf_vectors"][0, :, :3], [PX, PY, PZ, E], rtol=1e-7)
    assert list(x["pf_mask"][0, 0, :5]) == [1, 1, 1, 0, 0]
    assert {k: v.shape for k, v in x.items()} == {
        "pf_points": (1, 2, 128),
        "pf_features": (1, 7, 128),
        "pf_vectors": (1, 4, 128),
        "pf_mask": (1, 1, 128),
    }
    assert all(v.dtype == np.float32 for v in x.values())


def test_kinpid_and_full_by_hand():
    x = build_inputs(tiny(), "kinpid")["pf_features"][0, :, :3]
    assert x.shape[0] == 13
    # charge, isChargedHadron, isNeutralHadron, isPhoton, isElectron, isMuon of π+, γ, e−
    assert x[5:11].tolist() == [
        [1, 0, -1],
        [1, 0, 0],
        [0, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
        [0, 0, 0],
    ]
    expected = by_hand()
    np.testing.assert_allclose(
        x[11:], [[r["part_deta"] for r in expected], [r["part_dphi"] for r in expected]], atol=2e-6
    )

    ip = {
        "part_d0val": np.array([0.5, 0.0, -2.0]),
        "part_d0err": np.array([0.3, 2.5, -0.1]),
        "part_dzval": np.array([1.0, 0.0, 0.0]),
        "part_dzerr": np.array([0.2, 0.0, 0.0]),
    }
    full = build_inputs(tiny(ip), "full")["pf_features"][0, :, :3]
    assert full.shape[0] == 17
    np.testing.assert_allclose(full[11], [math.tanh(0.5), 0.0, math.tanh(-2.0)], rtol=1e-6)
    np.testing.assert_allclose(full[12], [0.3, 1.0, 0.0], rtol=1e-6)  # clipped to [0, 1]
    np.testing.assert_allclose(full[13], [math.tanh(1.0), 0.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(full[14], [0.2, 0.0, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(
        full[:11], build_inputs(tiny(ip), "kinpid")["pf_features"][0, :11, :3]
    )
    # Generator-level jets without impact parameters get zeros there.
    assert np.all(build_inputs(tiny(), "full")["pf_features"][0, 11:15, :3] == 0)


def test_padding_truncation_and_mask():
    long = [
        list(np.linspace(20, 1, 130)),
        list(np.linspace(1, 5, 130)),
        [1.0] * 130,
        list(np.linspace(21, 6, 130)),
    ]
    empty = ([], [], [], [])
    batch = tiny(more_jets=(long, empty))
    x = build_inputs(batch, "kin")
    # The short jet is wrapped (weaver's pad_mode: wrap): slot j holds particle j mod 3.
    for key in ("pf_points", "pf_features", "pf_vectors"):
        np.testing.assert_array_equal(x[key][0, :, 3:6], x[key][0, :, :3])
        np.testing.assert_array_equal(x[key][0, :, 126:128], x[key][0, :, :2])
    assert x["pf_mask"][0, 0].tolist() == [1.0] * 3 + [0.0] * 125
    # The long jet keeps its first 128 particles.
    np.testing.assert_allclose(x["pf_vectors"][1, 0], np.linspace(20, 1, 130)[:128], rtol=1e-6)
    assert x["pf_mask"][1].sum() == 128
    # A jet without particles is all zeros.
    assert all(np.all(v[2] == 0) for v in x.values())

    zeros = build_inputs(batch, "kin", pad_mode="constant")
    assert np.all(zeros["pf_features"][0, :, 3:] == 0)
    np.testing.assert_array_equal(zeros["pf_features"][:, :, :3], x["pf_features"][:, :, :3])
    short = build_inputs(batch, "kin", length=2)
    assert short["pf_features"].shape == (3, 7, 2)
    np.testing.assert_array_equal(short["pf_features"][1], x["pf_features"][1, :, :2])


def test_named_configs():
    assert {n: n_features(n) for n in CONFIGS} == {
        "jetclass_kin": 7,
        "jetclass_kinpid": 13,
        "jetclass_full": 17,
        "top_kin": 7,
        "qg_kin": 7,
        "qg_kinpid": 13,
        "qg_kinpidplus": 13,
    }
    assert n_features("kin") == 7 and n_features("kinpid") == 13 and n_features("full") == 17
    assert CONFIGS["top_kin"].label_names == ("Tbqq", "QCD")
    assert CONFIGS["qg_kin"].label_names == ("Zq", "Zg")
    plus = build_inputs(tiny(), "qg_kinpidplus")["pf_features"][0, 6:8, :3]
    assert plus.tolist() == [[1, 0, 0], [0, 0, 0]]  # isCHad (π± = 1), isNHad
    with pytest.raises(ValueError, match="unknown feature config"):
        build_inputs(tiny(), "nope")


def test_yaml_data_config(tmp_path):
    (tmp_path / "cfg.yaml").write_text(
        """
preprocess:
  method: manual
inputs:
  pf_points:
    length: 128
    pad_mode: wrap
    vars: [[part_deta, null], [part_dphi, null]]
  pf_features:
    length: 128
    pad_mode: wrap
    vars:
      - [part_pt_log, 1.7, 0.7]
      - [part_e_log, 2.0, 0.7]
      - [part_logptrel, -4.7, 0.7]
      - [part_logerel, -4.7, 0.7]
      - [part_deltaR, 0.2, 4.0]
      - [part_deta, null]
      - [part_dphi, null]
  pf_vectors:
    length: 128
    pad_mode: wrap
    vars: [[part_px, null], [part_py, null], [part_pz, null], [part_energy, null]]
  pf_mask:
    length: 128
    pad_mode: constant
    vars: [[part_mask, null]]
labels:
  type: simple
  value: [label_QCD, label_Tbqq]
"""
    )
    cfg = FeatureConfig.from_yaml(tmp_path / "cfg.yaml")
    assert cfg.label_names == ("QCD", "Tbqq")
    assert dict(cfg.inputs) == dict(CONFIGS["jetclass_kin"].inputs)
    a, b = build_inputs(tiny(), cfg), build_inputs(tiny(), str(tmp_path / "cfg.yaml"))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_features_agree_across_formats(tmp_path):
    """The same jets read back from any layout give the same inputs (to float32 rounding)."""
    from tests.hep.formats.samples import make_batch

    top = make_batch(n=8, seed=9)
    ref = build_inputs(top, "kin")
    for name in ("a.root", "a.parquet", "a.h5"):
        x = build_inputs(formats.read(formats.write(top, tmp_path / name)), "kin")
        for key in ref:
            np.testing.assert_allclose(x[key], ref[key], rtol=1e-4, atol=1e-4, err_msg=name)
    with pytest.raises(ValueError, match="no particle identification"):
        build_inputs(formats.read(tmp_path / "a.h5"), "kinpid")
    qg = make_batch(n=8, names=("Zq", "Zg"), seed=10)
    ref = build_inputs(qg, "qg_kinpid")
    for name in ("b.npz", "b.parquet"):
        x = build_inputs(formats.read(formats.write(qg, tmp_path / name)), "qg_kinpid")
        for key in ref:
            np.testing.assert_allclose(x[key], ref[key], rtol=1e-4, atol=1e-4, err_msg=name)
