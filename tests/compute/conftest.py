"""Fixtures of the compute tests: a real Slurm, started once per session when we may."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.slurm import SlurmCluster, missing_slurm_binaries

SLURM_RUN = Path("/tmp/hai-slurm-tests")


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A single-node Slurm with accounting (deploy/slurm), stopped by PID at the end."""
    if os.geteuid() != 0:
        pytest.skip("Slurm tests need root to start munge/slurmd; run as root (CI does)")
    missing = missing_slurm_binaries()
    if missing:
        message = (
            f"Slurm is not installed ({', '.join(missing)} not found); run `sudo bash "
            "deploy/dev/install-services.sh` (CI does this through `make test`)"
        )
        if os.environ.get("HAI_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    cluster = SlurmCluster(SLURM_RUN)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
