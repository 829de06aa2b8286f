"""`hai hep generate`: a tiny real run through the public formats, and early errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from hakutaku.cli.hep import hep

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

# As cli/main.py mounts it: `hai hep generate ...`
app = typer.Typer()
app.add_typer(hep, name="hep")


def invoke(*args: str):
    return CliRunner().invoke(app, ["hep", *args])


def test_generate_writes_chunks_in_a_public_layout(tmp_path):
    args = ["generate", "-p", "qcd", "-n", "6", "-o", str(tmp_path), "--seed", "5"]
    args += ["--format", "root", "--chunk-size", "4", "--workers", "1", "--no-mpi"]
    result = invoke(*args, "--quiet", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["generated_chunks"] == [0, 1] and summary["skipped_chunks"] == []
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "qcd_seed5_chunk00000.root",
        "qcd_seed5_chunk00000.root.provenance.json",
        "qcd_seed5_chunk00001.root",
        "qcd_seed5_chunk00001.root.provenance.json",
    ]
    from hakutaku.hep import formats

    batch = formats.read(sorted(tmp_path.glob("*.root")))
    assert len(batch) == 6
    assert {batch.label_names[i] for i in batch.labels} == {"QCD"}

    again = invoke(*args, "--quiet")  # resumes: nothing to do
    assert again.exit_code == 0, again.output
    assert "0 made, 2 already complete" in again.output


def test_a_format_that_cannot_hold_the_labels_fails_before_generating(tmp_path):
    # JetClass has no quark/gluon classes.
    args = ["generate", "-p", "zq", "-n", "5", "-o", str(tmp_path), "--format", "root"]
    result = invoke(*args, "--quiet")
    assert result.exit_code == 2
    assert "JetClass" in result.output or "label" in result.output
    assert not list(tmp_path.glob("*.root"))


def test_unknown_process_is_a_clear_error(tmp_path):
    result = invoke("generate", "-p", "higgs", "-n", "1", "-o", str(tmp_path))
    assert result.exit_code == 2
    assert "unknown process" in result.output


def test_importing_the_command_loads_no_physics_libraries():
    code = (
        "import sys, hakutaku.cli.hep; "
        "print([m for m in ('pythia8mc', 'fastjet', 'awkward', 'hakutaku.hep.generation') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
