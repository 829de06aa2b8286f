"""How many replicas a deployment needs now, from its load (a pure function).

The rule is Ray Serve's: enough replicas that each has at most `target_inflight` calls in
flight — `ceil(inflight / target)` — within `[min, max]`. Up at once (a queue is building);
down only once the load has needed fewer replicas for the whole idle timeout (scaling down on
a lull and up again costs cold starts). A call that found no replica (`wanted`) counts as a
need of one, which is how a deployment scaled to zero wakes up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Bounds:
    min_replicas: int
    max_replicas: int
    target_inflight: float
    idle_timeout: float  # seconds


@dataclass(frozen=True)
class Decision:
    desired: int
    busy_at: datetime | None  # the last time the load needed every replica there was


def needed(inflight: int, target_inflight: float) -> int:
    return math.ceil(inflight / target_inflight) if inflight > 0 else 0


def decide(
    bounds: Bounds,
    desired: int,
    busy_at: datetime | None,
    inflight: int,
    wanted: bool,
    now: datetime,
) -> Decision:
    """The replicas wanted now, given the last decision and the calls in flight."""
    current = min(max(desired, bounds.min_replicas), bounds.max_replicas)
    need = needed(inflight, bounds.target_inflight)
    if wanted:
        need = max(need, 1)
    if need >= current:
        return Decision(min(need, bounds.max_replicas), now)
    if busy_at is None or now - busy_at >= timedelta(seconds=bounds.idle_timeout):
        # Idle long enough: down to what the load needs, and start the clock again.
        return Decision(max(need, bounds.min_replicas), now)
    return Decision(current, busy_at)
