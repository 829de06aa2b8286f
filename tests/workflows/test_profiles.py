"""The workers' import path: the steering process's own, less what would break the workers."""

import sys
from pathlib import Path

import pytest

from hakutaku.workflows.profiles import worker_init


def _pythonpath(init: str) -> list[str]:
    exported = init.split("export PYTHONPATH=", 1)[1].strip("'")
    return exported.split(":")


def test_the_steering_import_path_reaches_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "campaign_helpers.py").write_text("X = 1\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    assert str(tmp_path) in _pythonpath(worker_init())


def test_a_folder_shadowing_the_standard_library_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PYTHONPATH comes before the standard library: a json.py there broke Parsl's own imports
    # in every worker of the session (seen when another test left such a folder on sys.path).
    (tmp_path / "json.py").write_text("raise ImportError('not the real json')\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    assert str(tmp_path) not in _pythonpath(worker_init())
