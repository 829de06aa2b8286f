"""Slurm's spellings of durations, memory sizes and TRES, parsed and printed."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")
_MEM = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGTP]?)B?$", re.IGNORECASE)
_MEM_FACTOR = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2, "P": 1024**3}


def parse_duration(text: str | int) -> int:
    """Seconds from Slurm's time formats: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`.

    >>> parse_duration("1:00:00"), parse_duration("2-00:00:00"), parse_duration("15")
    (3600, 172800, 900)
    """
    if isinstance(text, int):
        return text
    m = _DURATION.match(text.strip())
    if m is None:
        raise ValueError(
            f"Cannot read the time {text!r}: use minutes (`15`), `H:MM:SS` (`1:00:00`) "
            "or `D-HH:MM:SS` (`2-00:00:00`)."
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


def parse_mem_mb(text: str | int) -> int:
    """Megabytes from `4G`, `512M`, `640G`, `1T` or a plain number of megabytes (Slurm's)."""
    if isinstance(text, int):
        return text
    m = _MEM.match(text.strip())
    if m is None:
        raise ValueError(f"Cannot read the memory size {text!r}: use e.g. `512M`, `4G`, `1T`.")
    value, unit = float(m.group(1)), m.group(2).upper()
    return max(1, round(value * _MEM_FACTOR[unit]))


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
