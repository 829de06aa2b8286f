"""`hai hep train|evaluate --data` as a shell user types it: several files after one flag,
folders, quoted globs, labelled groups, and clear errors for data that is not there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hakutaku.cli.main import app

QUICK = ["--model", "pfn", "--epochs", "1", "--batch-size", "64", "--optimizer", "adamw",
         "--max-jets", "240", "--workers", "0"]  # fmt: skip


def hai(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def folder(top_qcd_files: dict[str, list[Path]]) -> Path:
    """The training folder: ttbar_seed11_chunk0000{0,1}.root and qcd_seed11_chunk0000{0,1}.root."""
    (where,) = {p.parent for p in top_qcd_files["train"]}
    return where


def trained_on(run: Path) -> tuple[list[str], list[str]]:
    cfg = json.loads((run / "config.json").read_text())
    return sorted(Path(p.split(":")[-1]).name for p in cfg["data"]), cfg["label_names"]


def test_several_files_after_one_flag_a_folder_and_a_quoted_glob(
    folder: Path, tmp_path: Path
) -> None:
    files = sorted(folder.glob("*.root"))
    names = sorted(p.name for p in files)
    # What the shell passes for `--data folder/*.root`: one flag, then the other files.
    forms = {
        "several": ["--data", *files],
        "folder": ["--data", folder],
        "glob": ["--data", f"{folder}/*.root"],  # quoted: the program expands it
        # options between the files, a flag again, a file named twice (kept once)
        "mixed": ["--data", files[0], "--epochs", "1", files[2], "--data", f"{folder}/ttbar_*"],
    }
    for name, data in forms.items():
        run = tmp_path / name
        code, out, err = hai("hep", "train", *QUICK, "--out", run, *data)
        assert code == 0, (name, err)
        assert "epoch 1:" in err and out.strip() == str(run)
        expected = names if name != "mixed" else [names[0], names[2], names[3]]
        assert trained_on(run) == (expected, ["QCD", "Tbqq"]), name
    code, out, err = hai("hep", "evaluate", "--model-dir", tmp_path / "glob", "--json",
                         "--data", *files[1:3], "--workers", "0")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["n_jets"] == 400


def test_labelled_groups_name_the_classes(folder: Path, tmp_path: Path) -> None:
    run = tmp_path / "groups"
    groups = ["--data", f"qcd:{folder}/qcd_*.root", "--data", f"top:{folder}/ttbar_*.root"]
    code, _, err = hai("hep", "train", *QUICK, "--out", run, *groups)
    assert code == 0, err
    assert trained_on(run)[1] == ["qcd", "top"]
    code, out, err = hai("hep", "evaluate", "--model-dir", run, "--json", "--workers", "0",
                         *groups)  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["classes"] == ["qcd", "top"] and result["n_jets"] == 800
    assert "top_vs_qcd" in result["separations"]
    # the files' own labels are classes this model does not know
    for workers in ("0", "1"):  # raised in this process, or in a worker and passed on
        code, _, err = hai("hep", "evaluate", "--model-dir", run, "--data", folder,
                           "--workers", workers)  # fmt: skip
        assert code == 2 and err.startswith("error: ") and "Traceback" not in err
        assert "classes ['QCD'] that the model does not know" in err
    # the same in memory
    code, _, err = hai("hep", "train", *QUICK, "--out", tmp_path / "mem", "--in-memory", *groups)
    assert code == 0, err
    assert trained_on(tmp_path / "mem")[1] == ["qcd", "top"]


def test_data_that_is_not_there_is_a_clear_error(folder: Path, tmp_path: Path) -> None:
    run = ["hep", "train", *QUICK, "--out", tmp_path / "run"]
    code, _, err = hai(*run, "--data", f"{folder}/*.roo")
    assert code == 2
    assert f"'{folder}/*.roo' matches no files" in err and "check the pattern" in err
    code, _, err = hai(*run, "--data", f"top:{tmp_path}/nowhere/*.root")
    assert code == 2 and "nowhere does not exist" in err
    code, _, err = hai(*run, "--data", tmp_path / "missing.root")
    assert code == 2 and "no such data file or directory" in err
    code, _, err = hai(*run, "--data", folder.parent)  # holds train/ and test/, no files
    assert code == 2 and "holds no data files" in err and "subfolders" in err
    code, _, err = hai(*run)
    assert code == 2 and "no data given" in err
    code, _, err = hai("hep", "evaluate", "--model-dir", tmp_path, "--data", folder)
    assert code == 2 and "no config.json" in err
    assert not (tmp_path / "run").exists()
