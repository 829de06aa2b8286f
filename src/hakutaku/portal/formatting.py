"""Template filters: sizes, durations and times as people read them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hakutaku.compute.units import format_duration
from hakutaku.storage.quota import format_size


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(value: datetime | None) -> str:
    if value is None:
        return "—"
    seconds = int((datetime.now(UTC) - value).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def size(value: int | None) -> str:
    return "—" if value is None else format_size(value)


def duration(value: int | float | None) -> str:
    return "—" if value is None else format_duration(int(value))


def percent(part: float, whole: float) -> int:
    return 0 if not whole else max(0, min(100, round(100 * part / whole)))


FILTERS: dict[str, Any] = {
    "when": when,
    "ago": ago,
    "size": size,
    "duration": duration,
    "percent": percent,
}
