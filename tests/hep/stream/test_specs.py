"""Data specs: files, folders, globs, labelled groups; errors for specs that name nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from hakutaku.hep.stream.specs import DataFile, DataSpecError, parse, resolve


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in (
        "top/a.root",
        "top/b.root",
        "top/a.root.provenance.json",
        "qcd/c.root",
        "qcd/d.parquet",
        "nested/deep/e.h5",
        "notes/readme.txt",
    ):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    return tmp_path


def paths(files: list[DataFile], root: Path) -> list[str]:
    return [str(f.path.relative_to(root)) for f in files]


def test_files_folders_and_globs(tree: Path) -> None:
    assert paths(resolve([tree / "top/b.root"]), tree) == ["top/b.root"]
    # a folder: its data files, sorted, not the provenance records, not subfolders
    assert paths(resolve([str(tree / "top")]), tree) == ["top/a.root", "top/b.root"]
    assert paths(resolve([f"{tree}/*/*.root"]), tree) == ["qcd/c.root", "top/a.root", "top/b.root"]
    assert paths(resolve([f"{tree}/**/*.h5"]), tree) == ["nested/deep/e.h5"]
    # a glob matching folders takes their data files
    assert paths(resolve([f"{tree}/q*"]), tree) == ["qcd/c.root", "qcd/d.parquet"]
    # in the order given, each file once
    both = resolve([str(tree / "top/b.root"), str(tree / "top"), f"{tree}/top/*.root"])
    assert paths(both, tree) == ["top/b.root", "top/a.root"]


def test_labelled_groups(tree: Path) -> None:
    assert parse("top:data/*.root") == ("top", "data/*.root")
    assert parse("root://eos//a.root") == (None, "root://eos//a.root")  # a URL, not a label
    files = resolve([f"Tbqq:{tree}/top/*.root", f"QCD:{tree}/qcd"])
    assert [(f.label, f.path.name) for f in files] == [
        ("Tbqq", "a.root"),
        ("Tbqq", "b.root"),
        ("QCD", "c.root"),
        ("QCD", "d.parquet"),
    ]
    assert str(files[0]) == f"Tbqq:{tree}/top/a.root"
    with pytest.raises(DataSpecError, match="different labels"):
        resolve([f"sig:{tree}/top", f"bkg:{tree}/top/a.root"])
    # a path with a colon in it that exists is a path
    odd = tree / "run:1.root"
    odd.write_bytes(b"")
    assert resolve([str(odd)]) == [DataFile(odd, None)]


def test_specs_that_name_nothing_say_which_and_what_to_do(tree: Path) -> None:
    with pytest.raises(DataSpecError, match=r"no such data file or directory: .*nope.root"):
        resolve([str(tree / "nope.root")])
    with pytest.raises(
        DataSpecError, match=r"'.*/tpo/\*.root' matches no files \(.*tpo does not exist\)"
    ):
        resolve([f"{tree}/tpo/*.root"])
    with pytest.raises(DataSpecError, match=r"nothing in .*top matches '\*.h5'"):
        resolve([f"top:{tree}/top/*.h5"])
    with pytest.raises(DataSpecError, match=r"matches 1 path.* but no data file"):
        resolve([f"{tree}/notes/*.txt"])
    with pytest.raises(DataSpecError, match=r"holds no data files.*subfolders do .*nested/deep"):
        resolve([str(tree / "nested")])
    with pytest.raises(DataSpecError, match="no data given"):
        resolve([])
