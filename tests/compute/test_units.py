"""Slurm's spellings of times, memory and TRES."""

from __future__ import annotations

import pytest

from hakutaku.compute.units import (
    GIB,
    MIB,
    format_bytes,
    format_duration,
    format_mem_mb,
    format_tres,
    human_duration,
    parse_bytes,
    parse_duration,
    parse_mem_mb,
    parse_tres,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15", 900),
        ("0:30", 30),
        ("1:00:00", 3600),
        ("2-00:00:00", 172800),
        ("1-12", 129600),
        ("1-0:30", 88200),
        (45, 45),
        ("30m", 1800),
        ("1h", 3600),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("90s", 90),
        ("2d", 172800),
        ("1D2H", 93600),
    ],
)
def test_durations_in_slurm_formats(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_durations_print_as_slurm_does() -> None:
    assert format_duration(900) == "00:15:00"
    assert format_duration(172800 + 61) == "2-00:01:01"
    assert parse_duration(format_duration(98765)) == 98765


def test_durations_for_sentences() -> None:
    assert human_duration(14400) == "4 h"
    assert human_duration(12600) == "3 h 30 m"
    assert human_duration(45) == "45 s"
    assert human_duration(86400 + 7200) == "1 d 2 h"
    assert human_duration(0) == "0 s"


@pytest.mark.parametrize("bad", ["", "1:2:3:4", "-5", "1-", "a:b", "h", "30x", "1m1h", "1 30"])
def test_unreadable_durations_say_what_to_write(bad: str) -> None:
    with pytest.raises(ValueError, match="H:MM:SS"):
        parse_duration(bad)


def test_memory_sizes() -> None:
    assert parse_mem_mb("4G") == 4096
    assert parse_mem_mb("512M") == 512
    assert parse_mem_mb("1T") == 1024 * 1024
    assert parse_mem_mb("2048") == 2048
    assert parse_mem_mb("1.5g") == 1536
    assert format_mem_mb(655360) == "640G" and format_mem_mb(1500) == "1500M"
    with pytest.raises(ValueError, match="4G"):
        parse_mem_mb("lots")


@pytest.mark.parametrize("spelling", ["10G", "10g", "10GB", "10gb", "10GiB", "10 gib", "10240M"])
def test_one_meaning_of_10g_for_memory_and_storage(spelling: str) -> None:
    """Jobs' --mem and storage sizes read suffixes alike: Slurm's powers of 1024."""
    assert parse_bytes(spelling) == 10 * GIB == 10 * 1024**3
    assert parse_mem_mb(spelling) == 10 * 1024
    assert parse_bytes(spelling) == parse_mem_mb(spelling) * MIB


def test_plain_numbers_are_bytes_for_sizes_and_megabytes_for_memory() -> None:
    assert parse_bytes("2048") == 2048 and parse_bytes(2048) == 2048
    assert parse_mem_mb("2048") == 2048 and parse_mem_mb(2048) == 2048
    assert parse_bytes("2048", unit=MIB) == 2048 * MIB
    assert parse_bytes("512B") == 512 and parse_bytes("1.5K") == 1536
    assert parse_bytes("1.5T") == 3 * 1024**4 // 2 and parse_bytes("1P") == 1024**5


def test_memory_rounds_up_to_whole_megabytes() -> None:
    assert parse_mem_mb("1500K") == 2  # at least what was asked for
    assert parse_mem_mb("1K") == 1 and parse_mem_mb("0") == 1
    assert parse_mem_mb("0.1G") == 103


@pytest.mark.parametrize("bad", ["", "lots", "10X", "1iB", "-5G", "5Gi", "10 G B", "B", "1e3"])
def test_unreadable_sizes_say_what_to_write(bad: str) -> None:
    with pytest.raises(ValueError, match=r"Cannot read the size .*powers of 1024") as caught:
        parse_bytes(bad)
    assert "`10G`, `10GB` and `10GiB` all mean" in str(caught.value)
    with pytest.raises(ValueError, match=r"Cannot read the memory size .*megabytes"):
        parse_mem_mb(bad)
    with pytest.raises(ValueError, match="must not be negative"):
        parse_bytes(-1)


def test_sizes_print_in_powers_of_1024() -> None:
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(64 * 1024) == "64 KiB"
    assert format_bytes(10 * GIB) == "10 GiB"
    assert format_bytes(500 * GIB) == "500 GiB"
    assert format_bytes(3 * 1024**5) == "3 PiB"


def test_tres_round_trip_with_memory_in_megabytes() -> None:
    tres = parse_tres("cpu=32,gres/gpu=8,mem=640G")
    assert tres == {"cpu": 32, "gres/gpu": 8, "mem": 640 * 1024}
    assert parse_tres(format_tres(tres)) == tres
    assert parse_tres({"cpu": 4, "mem": "8G"}) == {"cpu": 4, "mem": 8192}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_tres("cpu32")
    with pytest.raises(ValueError, match="whole number"):
        parse_tres("gres/gpu=two")
