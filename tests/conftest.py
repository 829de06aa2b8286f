"""Shared fixtures: real server and worker processes, a private PostgreSQL."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PostgresServer, pg_bin
from tests.support.processes import Platform, free_port

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


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    """A fresh server on SQLite with no workers; stopped after the test."""
    p = Platform(tmp_path / "home").start()
    try:
        yield p
    finally:
        p.stop()
