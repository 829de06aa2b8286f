"""Slurm's spellings of times, memory and TRES."""

from __future__ import annotations

import pytest

from hakutaku.compute.units import (
    format_duration,
    format_mem_mb,
    format_tres,
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
    ],
)
def test_durations_in_slurm_formats(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_durations_print_as_slurm_does() -> None:
    assert format_duration(900) == "00:15:00"
    assert format_duration(172800 + 61) == "2-00:01:01"
    assert parse_duration(format_duration(98765)) == 98765


@pytest.mark.parametrize("bad", ["", "1h", "1:2:3:4", "-5", "1-", "a:b"])
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


def test_tres_round_trip_with_memory_in_megabytes() -> None:
    tres = parse_tres("cpu=32,gres/gpu=8,mem=640G")
    assert tres == {"cpu": 32, "gres/gpu": 8, "mem": 640 * 1024}
    assert parse_tres(format_tres(tres)) == tres
    assert parse_tres({"cpu": 4, "mem": "8G"}) == {"cpu": 4, "mem": 8192}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_tres("cpu32")
    with pytest.raises(ValueError, match="whole number"):
        parse_tres("gres/gpu=two")
