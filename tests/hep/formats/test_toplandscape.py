"""TopLandscape: the original pandas h5 and ParT's converted parquet."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hakutaku.hep import formats
from tests.hep.formats.samples import expected_deta_dphi, make_batch

COLUMNS = [f"{p}_{i}" for i in range(200) for p in ("E", "PX", "PY", "PZ")] + [
    "truthE",
    "truthPX",
    "truthPY",
    "truthPZ",
    "ttv",
    "is_signal_new",
]


def f32(a):
    return np.asarray(a, dtype=np.float32)


def named(batch):
    return [batch.label_names[i] for i in batch.labels]


def test_h5_round_trip_and_layout(tmp_path):
    batch = make_batch(n=10, seed=4, counts=np.array([3, 1, 250, 40, 7, 200, 12, 5, 9, 60]))
    path = formats.write(batch, tmp_path / "train.h5")
    frame = pd.read_hdf(path, key="table")
    assert list(frame.columns) == COLUMNS
    assert frame.shape == (10, 806)
    assert (frame.dtypes.iloc[:804] == np.float32).all()
    assert frame["ttv"].dtype == np.int64 and frame["is_signal_new"].dtype == np.int64
    assert list(frame["is_signal_new"]) == [int(n == "Tbqq") for n in named(batch)]
    # Zero-padded, leading 200 constituents in decreasing pT.
    jet2 = batch.jet_particles(2)
    assert np.array_equal(frame.loc[2, [f"PX_{i}" for i in range(200)]], f32(jet2["part_px"][:200]))
    assert np.all(frame.loc[0, [f"E_{i}" for i in range(3, 200)]] == 0)
    assert np.array_equal(
        frame.loc[0, ["E_0", "PX_0", "PY_0", "PZ_0"]].to_numpy(),
        f32([batch.particles[k][0] for k in ("part_energy", "part_px", "part_py", "part_pz")]),
    )

    back = formats.read(path)
    assert back.label_names == ("Tbqq", "QCD") and named(back) == named(batch)
    assert list(back.counts) == [3, 1, 200, 40, 7, 200, 12, 5, 9, 60]
    keep = batch.select(np.arange(10) != 2)
    back_keep = back.select(np.arange(10) != 2)
    for name in ("part_px", "part_py", "part_pz", "part_energy"):
        assert np.array_equal(back_keep.particles[name], f32(keep.particles[name])), name
    # The layout stores no jet columns: they are the constituents' sum, as ParT's converter.
    for name in ("jet_pt", "jet_eta", "jet_phi", "jet_energy", "jet_mass"):
        np.testing.assert_allclose(back_keep.jets[name], keep.jets[name], rtol=2e-5, atol=2e-5)
    assert np.isnan(back.jets["jet_sdmass"]).all()
    assert np.all(back.particles["part_pid"] == 0) and np.isnan(back.particles["part_charge"]).all()
    deta, dphi = expected_deta_dphi(keep)
    np.testing.assert_allclose(back_keep.particles["part_deta"], deta, atol=5e-5)
    np.testing.assert_allclose(back_keep.particles["part_dphi"], dphi, atol=5e-5)


@pytest.mark.parametrize("store", ["fixed", "table"])
def test_h5_written_with_pandas_reads(tmp_path, store):
    """A file made by hand with pandas, the way the published one was made."""
    values = np.zeros((2, 806), dtype=np.float64)
    frame = pd.DataFrame(values, columns=COLUMNS)
    for c in COLUMNS[:-2]:
        frame[c] = frame[c].astype(np.float32)
    frame[["ttv", "is_signal_new"]] = frame[["ttv", "is_signal_new"]].astype(np.int64)
    frame.loc[0, ["E_0", "PX_0", "PY_0", "PZ_0"]] = [200.0, 120.0, 50.0, 150.0]
    frame.loc[0, ["E_1", "PX_1", "PY_1", "PZ_1"]] = [100.0, 60.0, 40.0, 70.0]
    frame.loc[1, ["E_0", "PX_0", "PY_0", "PZ_0"]] = [300.0, -200.0, 10.0, -220.0]
    frame.loc[0, ["truthE", "truthPX", "truthPY", "truthPZ"]] = [310.0, 180.0, 90.0, 220.0]
    frame.loc[0, "is_signal_new"] = 1
    frame["ttv"] = 2
    frame.to_hdf(tmp_path / "test.h5", key="table", format=store)

    batch = formats.read(tmp_path / "test.h5")
    assert named(batch) == ["Tbqq", "QCD"]
    assert list(batch.counts) == [2, 1]
    assert np.array_equal(batch.particles["part_px"], f32([120.0, 60.0, -200.0]))
    jx, jy, jz, je = 180.0, 90.0, 220.0, 300.0
    assert batch.jets["jet_pt"][0] == pytest.approx(np.hypot(jx, jy), rel=1e-6)
    assert batch.jets["jet_eta"][0] == pytest.approx(np.arcsinh(jz / np.hypot(jx, jy)), rel=1e-6)
    assert batch.jets["jet_mass"][0] == pytest.approx(
        np.sqrt(je**2 - jx**2 - jy**2 - jz**2), rel=1e-5
    )
    assert batch.jets["truth_energy"][0] == 310.0 and list(batch.jets["ttv"]) == [2, 2]
    # A one-particle jet sits on its own axis; the η sign flip leaves 0 at 0.
    assert batch.particles["part_deta"][2] == pytest.approx(0.0, abs=1e-6)


def _convert_like_part(frame: pd.DataFrame) -> ak.Array:
    """What ParT's utils/convert_top_datasets.py makes of a frame (re-expressed for the test)."""
    vector = pytest.importorskip("vector")
    vector.register_awkward()
    cols = {p: frame[[f"{p}_{i}" for i in range(200)]].to_numpy() for p in ("E", "PX", "PY", "PZ")}
    mask = cols["E"] > 0
    n = mask.sum(axis=1)
    px, py, pz, e = (ak.unflatten(cols[p][mask], n) for p in ("PX", "PY", "PZ", "E"))
    p4 = vector.zip({"px": px, "py": py, "pz": pz, "energy": e})
    jet = ak.sum(p4, axis=1)
    sign = np.sign(ak.to_numpy(jet.eta))
    sign[sign == 0] = 1
    return ak.Array(
        {
            "label": frame["is_signal_new"].to_numpy(),
            "jet_pt": jet.pt,
            "jet_eta": jet.eta,
            "jet_phi": jet.phi,
            "jet_energy": jet.energy,
            "jet_mass": jet.mass,
            "jet_nparticles": n,
            "part_px": px,
            "part_py": py,
            "part_pz": pz,
            "part_energy": e,
            "part_deta": (p4.eta - jet.eta) * sign,
            "part_dphi": p4.deltaphi(jet),
        }
    )


def test_parquet_round_trip_and_layout(tmp_path):
    batch = make_batch(n=30, seed=6)
    path = formats.write(batch, tmp_path / "train_file.parquet")
    assert formats.detect_format(path) == "toplandscape-parquet"
    schema = pq.read_schema(path)
    floats = pa.large_list(pa.field("item", pa.float32(), nullable=False))
    expected = [
        ("label", pa.int64()),
        *((n, pa.float32()) for n in ("jet_pt", "jet_eta", "jet_phi", "jet_energy", "jet_mass")),
        ("jet_nparticles", pa.int64()),
        *(
            (n, floats)
            for n in ("part_px", "part_py", "part_pz", "part_energy", "part_deta", "part_dphi")
        ),
    ]
    assert [(f.name, f.type) for f in schema] == expected

    back = formats.read(path)
    assert named(back) == named(batch) and np.array_equal(back.counts, batch.counts)
    for name in ("part_px", "part_py", "part_pz", "part_energy"):
        assert np.array_equal(back.particles[name], f32(batch.particles[name]))
    for name in ("jet_pt", "jet_eta", "jet_phi", "jet_energy", "jet_mass"):
        assert np.array_equal(back.jets[name], f32(batch.jets[name]))
    deta, dphi = expected_deta_dphi(batch)
    np.testing.assert_allclose(back.particles["part_deta"], deta, atol=1e-6)
    np.testing.assert_allclose(back.particles["part_dphi"], dphi, atol=1e-6)

    # The same jets through the h5 and ParT's conversion: the same schema (and awkward
    # metadata), the same values to float32 rounding.
    h5 = formats.write(batch, tmp_path / "train.h5")
    converted = tmp_path / "converted.parquet"
    ak.to_parquet(
        _convert_like_part(pd.read_hdf(h5, key="table")),
        converted,
        compression="LZ4",
        compression_level=4,
    )
    assert pq.read_schema(converted).equals(schema, check_metadata=True)
    public = formats.read(converted)
    assert named(public) == named(batch) and np.array_equal(public.counts, batch.counts)
    for name in ("part_px", "part_energy"):
        assert np.array_equal(public.particles[name], back.particles[name])
    for name in ("part_deta", "part_dphi"):
        np.testing.assert_allclose(public.particles[name], back.particles[name], atol=5e-5)
    for name in ("jet_pt", "jet_eta", "jet_phi", "jet_energy"):
        np.testing.assert_allclose(public.jets[name], back.jets[name], rtol=1e-5, atol=1e-5)


def test_refuses_other_labels(tmp_path):
    with pytest.raises(ValueError, match="TopLandscape"):
        formats.write(make_batch(n=3, names=("Hbb", "QCD")), tmp_path / "x.h5")
