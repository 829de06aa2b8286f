"""Shared fixtures: real server and worker processes, a private PostgreSQL, a real Slurm."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PostgresServer, pg_bin
from tests.support.processes import Platform, free_port
from tests.support.slurm import SLURM_RUN, SlurmCluster, missing_slurm_binaries

TEST_MODELS = str(Path(__file__).parent / "support" / "test_models.py")


def services_required() -> bool:
    return os.environ.get("HAI_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database for the session (started here, stopped by PID afterwards)."""
    if pg_bin() is None:
        message = (
            "PostgreSQL server binaries are not installed; run `sudo bash "
            "deploy/dev/install-services.sh` (CI does this through `make test`)"
        )
        if services_required():
            pytest.fail(message)
        pytest.skip(message)
    base = Path(tempfile.mkdtemp(prefix="hai-pg-"))
    server = PostgresServer(base, free_port())
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A single-node Slurm with accounting (deploy/slurm) for the session, stopped by PID at
    the end. One machine runs one such cluster, so every test that needs Slurm shares it."""
    if os.geteuid() != 0:
        pytest.skip("Slurm tests need root to start munge/slurmd; run as root (CI does)")
    missing = missing_slurm_binaries()
    if missing:
        message = (
            f"Slurm is not installed ({', '.join(missing)} not found); run `sudo bash "
            "deploy/dev/install-services.sh` (CI does this through `make test`)"
        )
        if services_required():
            pytest.fail(message)
        pytest.skip(message)
    cluster = SlurmCluster(SLURM_RUN)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    """A fresh server on SQLite with no workers; stopped after the test."""
    p = Platform(tmp_path / "home").start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="session")
def top_qcd_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Real Pythia 8 jets (no MPI, for speed): 400 top and 400 QCD for training, and a
    separate seed's 150 + 150 held out for testing, as JetClass-layout ROOT files."""
    from hakutaku.hep.generation import generate

    out = tmp_path_factory.mktemp("jets")
    files: dict[str, list[Path]] = {"train": [], "test": []}
    for split, njets, seed in (("train", 400, 11), ("test", 150, 12)):
        for process in ("ttbar", "qcd"):
            report = generate(
                process,
                njets,
                seed,
                out / split,
                "root",
                chunk_size=njets // 2,
                workers=2,
                mpi=False,
                progress=False,
            )
            files[split] += report.files
    return files


@pytest.fixture(scope="session")
def trained_pfn(
    top_qcd_files: dict[str, list[Path]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A PFN trained briefly on the generated top/QCD jets (the run directory)."""
    from hakutaku.hep.formats import read
    from hakutaku.hep.training import TrainConfig, train

    out = tmp_path_factory.mktemp("runs") / "pfn"
    data = read([str(p) for p in top_qcd_files["train"]], label_names=("QCD", "Tbqq"))
    cfg = TrainConfig(
        model="pfn",
        features="kin",
        epochs=12,
        batch_size=64,
        lr=1e-3,
        optimizer="adamw",
        seed=1,
        val_fraction=0.25,
    )
    train(cfg, data, out, progress=False)
    return out
