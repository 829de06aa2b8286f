"""JetClass ROOT: round trips, the public branch layout, and a file made the public way."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from hakutaku.hep import formats
from hakutaku.hep.jets import JETCLASS_LABELS
from tests.hep.formats.samples import CLASS, expected_deta_dphi, make_batch

PART_FLOAT = (
    "part_px",
    "part_py",
    "part_pz",
    "part_energy",
    "part_deta",
    "part_dphi",
    "part_d0val",
    "part_d0err",
    "part_dzval",
    "part_dzerr",
    "part_charge",
)
PART_INT = (
    "part_isChargedHadron",
    "part_isNeutralHadron",
    "part_isPhoton",
    "part_isElectron",
    "part_isMuon",
)
JET = (
    "jet_pt",
    "jet_eta",
    "jet_phi",
    "jet_energy",
    "jet_nparticles",
    "jet_sdmass",
    "jet_tau1",
    "jet_tau2",
    "jet_tau3",
    "jet_tau4",
)
# The public files' label types (tree.show() of JetClass_example_100k.root).
LABEL_TYPES = {
    "label_QCD": np.float32,
    "label_Hbb": np.bool_,
    "label_Hcc": np.bool_,
    "label_Hgg": np.bool_,
    "label_H4q": np.bool_,
    "label_Hqql": np.bool_,
    "label_Zqq": np.int32,
    "label_Wqq": np.int32,
    "label_Tbqq": np.int32,
    "label_Tbl": np.int32,
}


def f32(a):
    return np.asarray(a, dtype=np.float32)


def test_round_trip(tmp_path):
    batch = make_batch(n=15, names=("Tbqq", "QCD", "Hbb"), seed=1)
    d0 = np.random.default_rng(2).normal(0, 0.1, int(batch.counts.sum()))
    batch.particles["part_d0val"] = d0
    batch.jets["aux_genpart_pt"] = np.linspace(1, 2, len(batch))
    path = formats.write(batch, tmp_path / "jets.root")

    back = formats.read(path)
    assert back.meta["format"] == "jetclass"
    assert back.label_names == JETCLASS_LABELS
    assert [back.label_names[i] for i in back.labels] == [
        batch.label_names[i] for i in batch.labels
    ]
    assert np.array_equal(back.counts, batch.counts)
    for name in ("part_px", "part_py", "part_pz", "part_energy", "part_charge", "part_d0val"):
        assert back.particles[name].dtype == np.float32
        assert np.array_equal(back.particles[name], f32(batch.particles[name])), name
    for name in ("part_d0err", "part_dzval", "part_dzerr"):
        assert np.all(back.particles[name] == 0)
    deta, dphi = expected_deta_dphi(batch)
    np.testing.assert_allclose(back.particles["part_deta"], deta, atol=2e-6)
    np.testing.assert_allclose(back.particles["part_dphi"], dphi, atol=2e-6)
    for row, pid in enumerate(batch.particles["part_pid"]):
        flags = {name: back.particles[name][row] for name in PART_INT}
        assert flags[CLASS[pid]] == 1 and sum(flags.values()) == 1
    for name in ("jet_pt", "jet_eta", "jet_phi", "jet_energy", "jet_sdmass", "jet_tau3"):
        assert np.array_equal(back.jets[name], f32(batch.jets[name])), name
    assert np.array_equal(back.jets["jet_nparticles"], batch.counts)
    assert np.array_equal(back.jets["aux_genpart_pt"], f32(batch.jets["aux_genpart_pt"]))
    np.testing.assert_allclose(back.jets["jet_mass"], batch.jets["jet_mass"], rtol=2e-3)

    # Writing what was read gives the same file contents again.
    again = formats.read(formats.write(back, tmp_path / "again.root"))
    for name in PART_FLOAT + PART_INT:
        assert np.array_equal(again.particles[name], back.particles[name]), name
    assert np.array_equal(again.particles["part_pid"], back.particles["part_pid"])


def test_layout_is_the_public_one(tmp_path):
    batch = make_batch(n=25, names=("QCD", "Hbb", "Zqq", "Tbl"), seed=3)
    path = formats.write(batch, tmp_path / "jets.root")
    with uproot.open(path) as f:
        assert f.classnames() == {"tree;1": "TTree"}  # a TTree, not an RNTuple
        tree = f["tree"]
        assert tree.num_entries == 25
        names = list(tree.keys())
        # uproot writes its jagged branches with a counter; everything else is as published.
        assert names == ["npart", *PART_FLOAT, *PART_INT, *LABEL_TYPES, *JET]
        arrays = tree.arrays()
    for name in PART_FLOAT:
        assert str(ak.type(arrays[name])) == "25 * var * float32", name
    for name in PART_INT:
        assert str(ak.type(arrays[name])) == "25 * var * int32", name
    for name, dtype in LABEL_TYPES.items():
        assert ak.to_numpy(arrays[name]).dtype == dtype, name
    for name in JET:
        assert ak.to_numpy(arrays[name]).dtype == np.float32, name
    assert np.array_equal(ak.to_numpy(arrays["jet_nparticles"]), batch.counts.astype(np.float32))
    onehot = np.stack([ak.to_numpy(arrays[n]).astype(int) for n in LABEL_TYPES], axis=1)
    assert np.array_equal(
        onehot.argmax(1), [JETCLASS_LABELS.index(batch.label_names[i]) for i in batch.labels]
    )
    assert np.all(onehot.sum(1) == 1)
    # What ParT's dataloader.read_file does: pad part_* to 128 and stack.
    padded = ak.to_numpy(ak.fill_none(ak.pad_none(arrays["part_px"], 128, clip=True), 0.0))
    first = batch.jet_particles(0)["part_px"]
    assert np.array_equal(padded[0, : len(first)], f32(first))
    assert np.all(padded[0, len(first) :] == 0)


def test_reads_a_file_written_the_public_way(tmp_path):
    """Two jets written with uproot directly in the public branch types, aux_* included."""
    path = tmp_path / "public.root"
    px = [[100.0, -3.0], [50.0]]
    part = {
        "px": px,
        "py": [[10.0, 1.0], [-5.0]],
        "pz": [[20.0, 0.5], [30.0]],
        "energy": [[102.5, 3.2], [58.6]],
        "deta": [[0.01, 0.2], [0.0]],
        "dphi": [[-0.02, 0.3], [0.0]],
        "d0val": [[0.001, 0.0], [0.5]],
        "d0err": [[0.01, 0.0], [0.02]],
        "dzval": [[0.002, 0.0], [-0.5]],
        "dzerr": [[0.01, 0.0], [0.03]],
        "charge": [[1.0, 0.0], [-1.0]],
        "isChargedHadron": [[1, 0], [0]],
        "isNeutralHadron": [[0, 0], [0]],
        "isPhoton": [[0, 1], [0]],
        "isElectron": [[0, 0], [1]],
        "isMuon": [[0, 0], [0]],
    }
    part_arrays = {
        k: ak.values_astype(ak.Array(v), "int32" if k.startswith("is") else "float32")
        for k, v in part.items()
    }
    data = {"part": ak.zip(part_arrays)}
    labels = {n: np.zeros(2, dtype=t) for n, t in LABEL_TYPES.items()}
    labels["label_Hbb"][0] = True
    labels["label_Tbl"][1] = 1
    data.update(labels)
    jet_values = {
        "jet_pt": [101.0, 50.2],
        "jet_eta": [0.2, -0.6],
        "jet_phi": [0.1, -0.1],
        "jet_energy": [110.0, 60.0],
        "jet_nparticles": [2, 1],
        "jet_sdmass": [30.0, 0.0],
        "jet_tau1": [0.4, 0.0],
        "jet_tau2": [0.2, 0.0],
        "jet_tau3": [0.1, 0.0],
        "jet_tau4": [0.05, 0.0],
        "aux_genpart_pt": [90.0, 45.0],
        "aux_truth_match": [1.0, 0.0],
    }
    data.update({k: np.array(v, dtype=np.float32) for k, v in jet_values.items()})
    with uproot.recreate(path) as f:
        f.mktree(
            "tree", {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in data.items()}
        )
        f["tree"].extend(data)

    batch = formats.read(path)
    assert [batch.label_names[i] for i in batch.labels] == ["Hbb", "Tbl"]
    assert list(batch.counts) == [2, 1]
    assert np.array_equal(batch.particles["part_px"], np.array([100.0, -3.0, 50.0], "f4"))
    assert np.array_equal(batch.particles["part_d0val"], np.array([0.001, 0.0, 0.5], "f4"))
    # JetClass has no PDG id: a representative one (π+, γ, e−) stands for each class.
    assert list(batch.particles["part_pid"]) == [211, 22, 11]
    assert list(batch.jets["jet_nparticles"]) == [2, 1]
    assert batch.jets["aux_genpart_pt"][1] == np.float32(45.0)
    mass = np.sqrt(110.0**2 - (101.0 * np.cosh(0.2)) ** 2)
    assert batch.jets["jet_mass"][0] == pytest.approx(mass, rel=1e-4)
    # Jets with no label, or two, are refused.
    data["label_QCD"] = np.array([1.0, 0.0], dtype=np.float32)
    with uproot.recreate(path) as f:
        f.mktree(
            "tree", {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in data.items()}
        )
        f["tree"].extend(data)
    with pytest.raises(ValueError, match="labels set"):
        formats.read(path)


def test_refuses_labels_jetclass_does_not_have(tmp_path):
    batch = make_batch(n=4, names=("Zq", "Zg"))
    with pytest.raises(ValueError, match="no JetClass column"):
        formats.write(batch, tmp_path / "qg.root")
