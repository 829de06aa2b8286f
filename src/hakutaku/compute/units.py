"""Slurm's spellings of durations, sizes (memory, storage) and TRES, parsed and printed.

Sizes have one meaning across the platform — jobs' `--mem`, QOS `mem=` limits, storage quotas
and upload chunk sizes: Slurm's, where `K`, `M`, `G`, `T` are powers of 1024. `10G`, `10GB` and
`10GiB` all mean 10 × 1024³ bytes.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

_DURATION = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")
_SPAN = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$", re.IGNORECASE)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([KMGTPE])(I?B)?|(B))?\s*$", re.IGNORECASE)
_POWER = {"K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
KIB, MIB, GIB, TIB = 1024, 1024**2, 1024**3, 1024**4
SIZE_SPELLINGS = (
    "K, M, G, T, P, E are powers of 1024, as in Slurm: `10G`, `10GB` and `10GiB` all mean "
    "10 × 1024³ bytes"
)


def parse_duration(text: str | int) -> int:
    """Seconds from Slurm's time formats — `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S` — or
    a span with units, `30m`, `1h`, `1h30m`, `90s`, `2d` (spaces allowed: `1h 30m`).

    >>> parse_duration("1:00:00"), parse_duration("2-00:00:00"), parse_duration("15")
    (3600, 172800, 900)
    >>> parse_duration("30m"), parse_duration("1h 30m"), parse_duration("2d")
    (1800, 5400, 172800)
    """
    if isinstance(text, int):
        return text
    span = _SPAN.match("".join(text.split()))
    if span is not None and any(span.groups()):
        d, h, mi, s = (int(x or 0) for x in span.groups())
        return d * 86400 + h * 3600 + mi * 60 + s
    m = _DURATION.match(text.strip())
    if m is None:
        raise ValueError(
            f"Cannot read the time {text!r}: use minutes (`15`), `H:MM:SS` (`1:00:00`), "
            "`D-HH:MM:SS` (`2-00:00:00`) or units (`30m`, `1h30m`)."
        )
    days, a, b, c = m.groups()
    parts = [int(x) for x in (a, b, c) if x is not None]
    if days is not None:  # D-H, D-H:M, D-H:M:S
        h, mi, s = [*parts, 0, 0][:3]
        return int(days) * 86400 + h * 3600 + mi * 60 + s
    if len(parts) == 1:  # minutes
        return parts[0] * 60
    if len(parts) == 2:  # M:S
        return parts[0] * 60 + parts[1]
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


def format_duration(seconds: int) -> str:
    """`D-HH:MM:SS` or `HH:MM:SS`, as Slurm prints it."""
    days, rest = divmod(int(seconds), 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    hms = f"{h:02d}:{m:02d}:{s:02d}"
    return f"{days}-{hms}" if days else hms


def human_duration(seconds: int) -> str:
    """A duration for a sentence: `4 h`, `3 h 30 m`, `45 s`, `1 d 2 h` (`0 s` for none).

    >>> human_duration(14400), human_duration(12600), human_duration(93784)
    ('4 h', '3 h 30 m', '1 d 2 h 3 m 4 s')
    """
    rest = max(0, int(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts) or "0 s"


def parse_bytes(text: str | int, *, unit: int = 1, what: str = "size") -> int:
    """Bytes from a size written the Slurm way: a number with an optional binary suffix.

    `K`, `M`, `G`, `T`, `P`, `E` (any case) are powers of 1024; `GB` and `GiB` are accepted
    spellings of `G` with the same meaning, and `B` alone means bytes. A number without a
    suffix is counted in units of `unit` bytes (1 for storage sizes, 1024² for memory, as in
    Slurm's `--mem`); an `int` is taken as such a count. A fraction of a byte is rounded up.

    >>> parse_bytes("10G"), parse_bytes("10GB"), parse_bytes("1.5k"), parse_bytes("2 MiB")
    (10737418240, 10737418240, 1536, 2097152)
    """
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"Cannot read the {what} {text!r}: it must not be negative.")
        return text * unit
    m = _SIZE.match(text) if isinstance(text, str) else None
    if m is None:
        named = "bytes" if unit == 1 else "megabytes" if unit == MIB else f"{unit}-byte units"
        raise ValueError(
            f"Cannot read the {what} {text!r}: use e.g. `512M`, `4G`, `1.5T` or a plain "
            f"number of {named}. {SIZE_SPELLINGS}."
        )
    number, prefix, _suffix, only_b = m.groups()
    factor = 1024 ** _POWER[prefix.upper()] if prefix else 1 if only_b else unit
    return math.ceil(Fraction(number) * factor)


def format_bytes(n: int) -> str:
    """A short size in powers of 1024, labelled unambiguously (`512 B`, `1.5 KiB`, `500 GiB`)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.4g} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def parse_mem_mb(text: str | int) -> int:
    """Megabytes (MiB) from `4G`, `512M`, `640G`, `1T` or a plain number of megabytes (Slurm's).

    The same reading as every other size (`parse_bytes`), rounded up to whole megabytes.
    """
    return max(1, math.ceil(parse_bytes(text, unit=MIB, what="memory size") / MIB))


def format_mem_mb(mb: int) -> str:
    if mb % (1024 * 1024) == 0:
        return f"{mb // (1024 * 1024)}T"
    if mb % 1024 == 0:
        return f"{mb // 1024}G"
    return f"{mb}M"


def parse_tres(text: str | dict[str, int | str]) -> dict[str, int]:
    """`cpu=32,gres/gpu=8,mem=640G` → {"cpu": 32, "gres/gpu": 8, "mem": 655360} (mem in MB)."""
    items = text.items() if isinstance(text, dict) else _tres_items(text)
    out: dict[str, int] = {}
    for key, value in items:
        key = key.strip().lower()
        if not key:
            continue
        if key == "mem":
            out[key] = parse_mem_mb(value)
        else:
            try:
                out[key] = int(value)
            except ValueError:
                message = f"TRES {key}={value!r}: the value must be a whole number."
                raise ValueError(message) from None
    return out


def _tres_items(text: str) -> list[tuple[str, str]]:
    items = []
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"Cannot read the TRES {part!r}: write NAME=VALUE, e.g. `gres/gpu=8`.")
        items.append((key, value.strip()))
    return items


def format_tres(tres: dict[str, int]) -> str:
    return ",".join(f"{k}={format_mem_mb(v) if k == 'mem' else v}" for k, v in sorted(tres.items()))
