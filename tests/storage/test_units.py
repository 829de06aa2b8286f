"""Path safety, usage measurement, the quota check and size parsing, without a server."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from hakutaku.compute.units import parse_mem_mb
from hakutaku.storage.errors import QuotaExceeded, UnsafePath
from hakutaku.storage.paths import clean_path, inside, open_inside
from hakutaku.storage.quota import Limits, Usage, check_room, format_size, measure, parse_size


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("a.txt", "a.txt"),
        ("data//run1/./x.root", "data/run1/x.root"),
        ("data/run1/../run2/x", "data/run2/x"),
        ("a/", "a"),
        ("..x/y..", "..x/y.."),  # dots inside names are names
        ("a\\..\\b", "a\\..\\b"),  # a backslash is an ordinary character on POSIX
    ],
)
def test_clean_path_folds_safe_paths(given: str, expected: str) -> None:
    assert clean_path(given) == PurePosixPath(expected)


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("../x", "climbs above"),
        ("a/../../x", "climbs above"),
        ("..", "climbs above"),
        ("/etc/passwd", "absolute"),
        ("a\x00b", "NUL"),
        ("a\nb", "control character"),
        ("", "top of the area"),
        ("./", "top of the area"),
        ("x" * 300, "longer than 255 bytes"),
        ("a/" * 600, "longer than 1024"),
    ],
)
def test_clean_path_refuses(given: str, reason: str) -> None:
    with pytest.raises(UnsafePath) as caught:
        clean_path(given)
    assert reason in caught.value.message
    assert caught.value.status == 400 and caught.value.code == "invalid_path"


def test_clean_path_allows_the_top_for_listing() -> None:
    assert clean_path("", allow_top=True) == PurePosixPath()
    with pytest.raises(UnsafePath):
        clean_path("..", allow_top=True)


def test_inside_refuses_symlinks_that_leave_the_area(tmp_path: Path) -> None:
    area, outside = tmp_path / "home" / "alice", tmp_path / "outside"
    (area / "data").mkdir(parents=True)
    outside.mkdir()
    (area / "escape").symlink_to(outside)
    (area / "shortcut").symlink_to(area / "data")

    assert inside(area, PurePosixPath("data/x")) == (area / "data" / "x").resolve()
    assert inside(area, PurePosixPath("shortcut/x")) == (area / "data" / "x").resolve()
    for rel in ("escape", "escape/secret", "escape/new/deeper"):
        with pytest.raises(UnsafePath, match="outside the area"):
            inside(area, PurePosixPath(rel))
    # Not following the last component: the link itself may be named (to delete it) ...
    assert inside(area, PurePosixPath("escape"), follow_last=False).name == "escape"
    # ... but nothing beneath it.
    with pytest.raises(UnsafePath):
        inside(area, PurePosixPath("escape/secret"), follow_last=False)


def test_inside_with_a_symlinked_root(tmp_path: Path) -> None:
    """A storage root that is itself a link (common on clusters) is resolved, not refused."""
    real = tmp_path / "real"
    (real / "alice").mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    assert inside(tmp_path / "link" / "alice", PurePosixPath("a")) == real / "alice" / "a"


def test_measure_counts_files_not_folders_and_does_not_follow_links(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "one").write_bytes(b"x" * 10)
    (tmp_path / "a" / "b" / "two").write_bytes(b"y" * 32)
    big = tmp_path.parent / f"{tmp_path.name}-big"
    big.mkdir()
    (big / "huge").write_bytes(b"z" * 5000)
    (tmp_path / "link").symlink_to(big)
    used = measure(tmp_path)
    assert used.files == 3  # two files and the link
    assert used.bytes == 10 + 32 + len(os.fsencode(big))
    assert measure(tmp_path / "absent") == Usage()


def test_check_room() -> None:
    limits = Limits(max_bytes=1000, max_files=3)
    check_room("u", limits, Usage(400, 1), Usage(300, 1), Usage(300, 1))  # exactly full
    with pytest.raises(QuotaExceeded) as caught:
        check_room("u", limits, Usage(400, 1), Usage(300, 1), Usage(301, 1))
    message = caught.value.message
    assert caught.value.status == 413 and caught.value.code == "quota_exceeded"
    assert "700 B of 1000 B" in message and "1 unfinished uploads" in message
    assert "hai files quota set u" in message
    with pytest.raises(QuotaExceeded, match="3 of 3 files"):
        check_room("u", limits, Usage(0, 2), Usage(0, 1), Usage(1, 1))
    # Replacing a file by a smaller one is allowed even when over the limits.
    check_room("u", limits, Usage(5000, 10), Usage(), Usage(-100, 0))


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1000", 1000),
        ("10G", 10 * 2**30),  # Slurm's meaning, the same as a job's --mem 10G
        ("10GB", 10 * 2**30),
        ("10GiB", 10 * 2**30),
        ("1.5T", 3 * 2**39),
        ("64GiB", 64 * 2**30),
        ("2 mib", 2 * 2**20),
        ("500g", 500 * 2**30),
        ("8M", 8 * 2**20),  # an upload chunk size
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_storage_and_job_memory_read_sizes_alike() -> None:
    for text in ("4G", "512M", "1T", "1.5g", "640GB", "64GiB"):
        assert parse_size(text) == parse_mem_mb(text) * 2**20


@pytest.mark.parametrize("text", ["", "ten", "10X", "1iB", "-5G"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="Cannot read the size"):
        parse_size(text)


def test_format_size() -> None:
    assert format_size(512) == "512 B"
    assert format_size(1536) == "1.5 KiB"
    assert format_size(500 * 2**30) == "500 GiB"
    assert format_size(parse_size("10G")) == "10 GiB"  # what you write is what you read back


def test_a_file_swapped_for_a_link_after_the_check_is_not_read(tmp_path: Path) -> None:
    """`inside` checked the path; the file (then a folder on the way) is swapped for a link
    out of the area before it is opened: open_inside refuses what it would have opened."""
    area, outside = tmp_path / "home", tmp_path / "secret"
    (area / "run").mkdir(parents=True)
    outside.mkdir()
    (outside / "shadow").write_text("root's")
    (area / "run" / "out.txt").write_text("mine")
    rel = PurePosixPath("run/out.txt")
    target = inside(area, rel)
    fd = open_inside(area, target, str(rel))
    assert os.read(fd, 10) == b"mine"
    os.close(fd)

    (area / "run" / "out.txt").unlink()
    (area / "run" / "out.txt").symlink_to(outside / "shadow")  # the last part swapped
    with pytest.raises(UnsafePath, match="could not be opened safely"):
        open_inside(area, target, str(rel))

    (area / "run" / "out.txt").unlink()
    (area / "run").rmdir()
    (area / "run").symlink_to(outside)  # a folder on the way swapped
    (outside / "out.txt").write_text("not hers")
    with pytest.raises(UnsafePath, match="outside the area"):
        open_inside(area, target, str(rel))
    with pytest.raises(FileNotFoundError):
        open_inside(area, inside(area, PurePosixPath("gone.txt")), "gone.txt")
