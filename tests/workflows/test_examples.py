"""The four workflow examples (examples/workflows/) run end to end at tiny size, as a user
runs them: a real process, real Parsl workers, real Pythia 8 jets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "workflows"


def run_example(script: str, home: Path, *args: str) -> dict[str, Any]:
    out = home / f"{script}.json"
    env = {**os.environ, "HAI_HOME": str(home), "HAI_HUB_DIR": str(home / "hub")}
    env.pop("HAI_DATABASE_URL", None)  # the journal goes to HAI_HOME's SQLite
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--workers", "2", "--json", str(out), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dict(json.loads(out.read_text()))


def test_pipeline_generates_trains_evaluates_and_registers(tmp_path: Path) -> None:
    from hakutaku import hub
    from hakutaku.hub.store import FolderHub

    args = ("--jets", "30", "--chunks", "1", "--epochs", "1")
    first = run_example("pipeline.py", tmp_path, *args)
    assert first["tasks"]["done"] == 6 and first["tasks"]["failed"] == 0  # 4 chunks, train, eval
    assert all(Path(f).exists() for f in first["train_files"] + first["test_files"])
    assert 0.0 <= first["test"]["auc"] <= 1.0 and first["test"]["n_jets"] == 60
    store = FolderHub(tmp_path / "hub")
    cards = hub.list_weights("particlenet", hub=store)
    assert [c.version for c in cards] == [first["hub_version"]]
    assert cards[0].metrics["test_auc"] == pytest.approx(first["test"]["auc"])
    model = hub.load("particlenet", weights=first["hub_version"], hub=store)
    assert model.config["num_classes"] == 2
    # run again: every task is answered from the journal and the weights are not registered twice
    second = run_example("pipeline.py", tmp_path, *args)
    assert second["tasks"]["reused"] == 6 and second["tasks"]["done"] == 0
    assert second["hub_version"] == first["hub_version"]
    assert len(hub.list_weights("particlenet", hub=store)) == 1


def test_inverse_design_reaches_the_target(tmp_path: Path) -> None:
    result = run_example("inverse_design.py", tmp_path, "--jets", "40", "--budget", "8")
    steered = result["surrogate"]
    assert steered["reached"] and steered["simulations"] <= 8
    assert steered["best_chi2"] <= 2.0
    assert 0.06 <= steered["best_alpha"] <= 0.20
    # one target sample and one task per simulation
    assert result["tasks"]["done"] == 1 + steered["simulated"]


def test_steering_kills_useless_runs_and_starts_better_ones(tmp_path: Path) -> None:
    args = ("--chunks", "5", "--per-chunk", "20", "--runs", "5", "--kill-chi2", "9")
    result = run_example("steer_kill.py", tmp_path, *args)
    runs = result["runs"]
    assert len(runs) == 5 and result["tasks"]["submitted"] == 6  # the target sample too
    killed = [r for r in runs if r["state"] == "cancelled"]
    assert killed, "no run was judged useless"
    for r in killed:  # killed while running, on the evidence of its own progress
        assert 2 <= r["killed_at_chunk"] < 5 and r["chi2"] > 9
    assert result["tasks"]["cancelled"] == len(killed)
    # the runs the model started after the first kills end closer to the target
    best = result["best"]
    assert best is not None and best["state"] == "done"
    assert best["chi2"] < min(r["chi2"] for r in killed)
    assert best["alpha"] not in [r["alpha"] for r in runs[:2]]  # not one of the first points


def test_surrogate_switches_at_its_bound(tmp_path: Path) -> None:
    args = ("--queries", "12", "--jets", "30", "--bound", "6", "--min-real", "5")
    result = run_example("surrogate_switch.py", tmp_path, *args, "--audit-every", "2")
    answers, counts = result["answers"], result["counts"]
    assert [a["source"] for a in answers[:5]] == ["real"] * 5  # untrained: real simulations
    surrogate = [a for a in answers if a["source"] == "surrogate"]
    assert surrogate, "the surrogate never answered"
    assert all(a["spread"] <= 6 for a in surrogate)  # only under its bound
    assert all(a["spread"] is None or a["spread"] > 6 for a in answers if a["source"] == "real")
    assert counts["surrogate"] == len(surrogate)
    assert counts["audits"] == len(surrogate) // 2 == len(result["audit_errors"])
    # every real answer, audits included, was one simulation task
    assert (
        result["tasks"]["done"]
        == counts["real"]
        == len(answers) - len(surrogate) + counts["audits"]
    )
