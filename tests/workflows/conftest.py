"""A campaign on the local profile (real Parsl workers) shared by a module's tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hakutaku.workflows import Campaign


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Wait until `condition()` is true, at most `timeout` seconds; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Campaign]:
    base = tmp_path_factory.mktemp("campaign")
    c = Campaign(
        "tests",
        pools={"default": 2},
        run_dir=base / "run",
        database_url=f"sqlite:///{base / 'hai.db'}",
    )
    try:
        yield c
    finally:
        c.close(wait=False)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hai.db'}"
