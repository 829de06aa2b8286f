"""Real jets from Pythia 8 + FastJet: physics of top, QCD, quark and gluon jets; chunking,
determinism, resumability and provenance of the driver.

Samples are small and made without multiparton interactions (faster), once per module.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from hakutaku.hep.generation import (
    GenerationConflict,
    chunk_seed,
    generate,
    generate_chunk,
    provenance_path,
    read_columns_npz,
    write_columns_npz,
)
from hakutaku.hep.generation.clustering import eta_of, mass_of, phi_of, pt_of, rapidity_of
from hakutaku.hep.jets import JET_COLUMNS, PARTICLE_COLUMNS, JetBatch

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

N_TOP_QCD = 300
N_QG = 100
SEED = 11


def load(report) -> JetBatch:
    return JetBatch.concat([read_columns_npz(p) for p in report.files])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """300 top and 300 QCD jets (2 chunks each, over 2 processes), files and provenance."""
    out = tmp_path_factory.mktemp("jets")
    common = dict(
        fmt="npz", chunk_size=N_TOP_QCD // 2, workers=2, mpi=False, writer=write_columns_npz
    )
    top = generate("ttbar", N_TOP_QCD, SEED, out, progress=False, **common)
    qcd = generate("qcd", N_TOP_QCD, SEED, out, progress=False, **common)
    return {"out": out, "top": top, "qcd": qcd, "common": common}


@pytest.fixture(scope="module")
def top(runs) -> JetBatch:
    return load(runs["top"])


@pytest.fixture(scope="module")
def qcd(runs) -> JetBatch:
    return load(runs["qcd"])


@pytest.fixture(scope="module")
def quark_gluon() -> tuple[JetBatch, JetBatch]:
    quark = generate_chunk("zq", N_QG, SEED, mpi=False)
    gluon = generate_chunk("zg", N_QG, SEED, mpi=False)
    return quark, gluon


# -- what a batch holds ------------------------------------------------------------------------


def test_batches_have_every_column_and_label(top, qcd):
    for batch, label in ((top, "Tbqq"), (qcd, "QCD")):
        assert len(batch) == N_TOP_QCD
        assert set(JET_COLUMNS) <= set(batch.jets)
        assert set(PARTICLE_COLUMNS) <= set(batch.particles)
        assert batch.label_names == ("Tbqq", "QCD")
        assert {batch.label_names[i] for i in batch.labels} == {label}
        np.testing.assert_array_equal(batch.jets["jet_nparticles"], batch.counts)
        assert batch.counts.min() >= 1


def test_top_jets_are_in_the_toplandscape_window(top, qcd):
    for batch in (top, qcd):
        pt, eta = batch.jets["jet_pt"], batch.jets["jet_eta"]
        assert pt.min() >= 550.0 and pt.max() < 650.0
        assert np.abs(eta).max() < 2.0


def test_soft_drop_mass_peaks_at_the_top_mass_for_top_jets_only(top, qcd):
    top_sd, qcd_sd = top.jets["jet_sdmass"], qcd.jets["jet_sdmass"]
    in_window = lambda m: np.mean((m > 140.0) & (m < 200.0))  # noqa: E731
    assert 140.0 <= np.median(top_sd) <= 200.0
    assert in_window(top_sd) > 0.6
    assert np.median(qcd_sd) < 100.0
    assert in_window(qcd_sd) < 0.25
    # the ungroomed mass of top jets also sits near m_t; QCD jets are lighter
    assert np.median(top.jets["jet_mass"]) > 150.0 > np.median(qcd.jets["jet_mass"])


def test_tau32_is_lower_for_three_prong_top_jets(top, qcd):
    def tau32(batch):
        return batch.jets["jet_tau3"] / np.maximum(batch.jets["jet_tau2"], 1e-12)

    assert tau32(top).mean() < tau32(qcd).mean() - 0.15
    for batch in (top, qcd):
        taus = np.stack([batch.jets[f"jet_tau{n}"] for n in (1, 2, 3, 4)])
        assert np.all(taus >= 0.0) and np.all(taus[0] > 0.0)


def test_constituents_sum_to_the_jet(top, qcd):
    for batch in (top, qcd):
        starts = batch.offsets[:-1]
        p = batch.particles
        px, py, pz, e = (
            np.add.reduceat(p[k], starts) for k in ("part_px", "part_py", "part_pz", "part_energy")
        )
        j = batch.jets
        np.testing.assert_allclose(pt_of(px, py), j["jet_pt"], rtol=1e-9)
        np.testing.assert_allclose(eta_of(px, py, pz), j["jet_eta"], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(phi_of(px, py), j["jet_phi"], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(e, j["jet_energy"], rtol=1e-9)
        np.testing.assert_allclose(mass_of(px, py, pz, e), j["jet_mass"], rtol=1e-6)


def test_constituents_are_visible_sorted_and_charged_right(top, qcd):
    for batch in (top, qcd):
        p = batch.particles
        pid, charge = p["part_pid"], p["part_charge"]
        assert not np.isin(np.abs(pid), (12, 14, 16)).any()
        pt = pt_of(p["part_px"], p["part_py"])
        owner = np.repeat(np.arange(len(batch)), batch.counts)
        same = owner[1:] == owner[:-1]
        assert np.all(pt[1:][same] <= pt[:-1][same])  # decreasing pT within each jet
        known = {211: 1, -211: -1, 321: 1, 22: 0, 130: 0, 2212: 1, -2212: -1, 2112: 0, 11: -1}
        for code, q in known.items():
            assert np.all(charge[pid == code] == q)
        assert np.isin(211, pid) and np.isin(22, pid)
        # physical four-vectors: E >= |p| (up to rounding), masses of known hadrons
        p2 = p["part_px"] ** 2 + p["part_py"] ** 2 + p["part_pz"] ** 2
        assert np.all(p["part_energy"] ** 2 - p2 > -1e-6 * p["part_energy"] ** 2)


def test_quark_and_gluon_jets(quark_gluon):
    quark, gluon = quark_gluon
    for batch, label in ((quark, "Zq"), (gluon, "Zg")):
        assert len(batch) == N_QG
        assert batch.label_names == ("Zq", "Zg")
        assert {batch.label_names[i] for i in batch.labels} == {label}
        pt = batch.jets["jet_pt"]
        assert pt.min() >= 500.0 and pt.max() < 550.0
        p = batch.particles
        starts = batch.offsets[:-1]
        y = rapidity_of(np.add.reduceat(p["part_pz"], starts), batch.jets["jet_energy"])
        assert np.abs(y).max() < 1.7
    # gluons radiate more (C_A / C_F = 9/4): more constituents, on average by far
    assert gluon.counts.mean() > quark.counts.mean() + 5


# -- files, chunks, provenance ----------------------------------------------------------------


def test_chunks_and_provenance_on_disk(runs):
    report = runs["top"]
    assert [p.name for p in report.files] == [
        f"ttbar_seed{SEED}_chunk00000.npz",
        f"ttbar_seed{SEED}_chunk00001.npz",
    ]
    assert report.generated == [0, 1] and report.skipped == []
    for k, path in enumerate(report.files):
        record = json.loads(provenance_path(path).read_text())
        assert record["file"] == path.name
        assert record["process"]["name"] == "ttbar"
        assert record["chunk"] == k and record["seed"] == SEED and record["njets"] == 150
        assert record["pythia_seed"] == chunk_seed(SEED, "ttbar", k)
        assert record["generator"]["pythia8mc"] == "8.317.2"
        assert record["generator"]["fastjet"].startswith("3.")
        assert record["hakutaku"] and record["timestamp"]
        assert record["mpi"] is False
        settings = record["pythia"]["settings"]
        assert "Beams:eCM = 14000.0" in settings
        assert "PartonLevel:MPI = off" in settings
        assert f"Random:seed = {record['pythia_seed']}" in settings
        changed = record["pythia"]["changed"]
        assert changed["PartonLevel:MPI"] is False
        assert changed["Top:gg2ttbar"] is True
        assert record["pythia"]["n_events"] >= 150
        assert record["pythia"]["sigma_pb"] > 0
        assert "550" in record["cuts"] and "R=0.8" in record["cuts"]


def test_mpi_switch_is_recorded():
    with_mpi = generate_chunk("qcd", 3, SEED, mpi=True)
    settings = with_mpi.meta["pythia"]["settings"]
    assert "PartonLevel:MPI = on" in settings
    assert "PartonLevel:MPI" not in with_mpi.meta["pythia"]["changed"]  # on is the default
    assert with_mpi.meta["mpi"] is True


def test_a_chunk_is_the_same_jets_every_time(runs, qcd):
    again = generate_chunk("qcd", 20, SEED, chunk=1, mpi=False)
    also = generate_chunk("qcd", 20, SEED, chunk=1, mpi=False)
    # chunk 1 of the module's run (150 jets) starts with the same 20 jets
    first_of_chunk1 = read_columns_npz(runs["qcd"].files[1]).select(np.arange(20))
    for other in (also, first_of_chunk1):
        for name in JET_COLUMNS:
            np.testing.assert_array_equal(again.jets[name], other.jets[name])
        for name in PARTICLE_COLUMNS:
            np.testing.assert_array_equal(again.particles[name], other.particles[name])
    different = generate_chunk("qcd", 20, SEED + 1, chunk=1, mpi=False)
    assert not np.array_equal(different.jets["jet_pt"], again.jets["jet_pt"])
    other_chunk = generate_chunk("qcd", 20, SEED, chunk=2, mpi=False)
    assert not np.array_equal(other_chunk.jets["jet_pt"], again.jets["jet_pt"])


def test_rerun_skips_complete_chunks_and_redoes_missing_ones(runs):
    out: Path = runs["out"]
    calls: list[str] = []

    def counting_writer(batch, path, fmt):
        calls.append(Path(path).name)
        return write_columns_npz(batch, path, fmt)

    common = {**runs["common"], "writer": counting_writer, "workers": 1}
    before = [p.stat().st_mtime_ns for p in runs["qcd"].files]
    again = generate("qcd", N_TOP_QCD, SEED, out, progress=False, **common)
    assert again.skipped == [0, 1] and again.generated == [] and calls == []
    assert [p.stat().st_mtime_ns for p in again.files] == before

    # An interrupted chunk (data without provenance) is made again, and only that one.
    provenance_path(again.files[1]).unlink()
    redo = generate("qcd", N_TOP_QCD, SEED, out, progress=False, **common)
    assert redo.generated == [1] and redo.skipped == [0]
    assert [c for c in calls if not c.startswith(".preflight")] == [
        f".qcd_seed{SEED}_chunk00001.partial.npz"
    ]
    assert again.files[0].stat().st_mtime_ns == before[0]
    assert provenance_path(again.files[1]).exists()
    assert not [p for p in os.listdir(out) if ".partial" in p or "preflight" in p]

    # Settings that would change the jets are refused, not mixed in.
    with pytest.raises(GenerationConflict):
        generate("qcd", N_TOP_QCD, SEED, out, progress=False, **{**common, "mpi": True})


def test_bad_requests_fail_early(tmp_path):
    with pytest.raises(ValueError, match="unknown process"):
        generate("wprime", 10, 1, tmp_path, writer=write_columns_npz, progress=False)
    from hakutaku.hep.generation.pythia import PythiaSettingsError

    with pytest.raises(PythiaSettingsError):
        generate_chunk("qcd", 1, 1, mpi=False, extra_settings=["NoSuch:setting = 3"])
