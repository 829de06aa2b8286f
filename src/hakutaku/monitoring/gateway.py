"""One replica's gateway over one monitor tick, from its Prometheus metrics.

The counters in hakutaku.gateway.metrics only grow; a sample is the difference since the last
tick: calls, server errors (status 5xx), refusals (4xx), the latency histogram's buckets (for
the median and the 95th percentile, interpolated within a bucket as Prometheus'
histogram_quantile does), and the usage writer's queue, drops and rejections.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric

from hakutaku.gateway.metrics import GatewayMetrics


@dataclass(frozen=True)
class Totals:
    """The gateway's counters at one moment (summed over models and endpoints)."""

    at: float  # time.monotonic()
    calls: float
    errors: float
    refused: float
    latency_sum: float
    buckets: tuple[tuple[float, float], ...]  # (upper bound, cumulative count), ascending
    dropped: float
    rejected: float


@dataclass(frozen=True)
class GatewayWindow:
    seconds: float
    calls: int
    errors: int
    refused: int
    latency_sum: float
    p50_ms: float | None
    p95_ms: float | None
    usage_pending: int
    usage_dropped: int
    usage_rejected: int


def read_totals(metrics: GatewayMetrics) -> Totals:
    calls = errors = refused = 0.0
    for family in metrics.requests.collect():
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            calls += sample.value
            status = sample.labels.get("status", "")
            if status.startswith("5"):
                errors += sample.value
            elif status.startswith("4"):
                refused += sample.value
    buckets: dict[float, float] = defaultdict(float)
    latency_sum = 0.0
    for family in metrics.latency.collect():
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                buckets[float(sample.labels["le"])] += sample.value
            elif sample.name.endswith("_sum"):
                latency_sum += sample.value
    return Totals(
        at=time.monotonic(),
        calls=calls,
        errors=errors,
        refused=refused,
        latency_sum=latency_sum,
        buckets=tuple(sorted(buckets.items())),
        dropped=_counter(metrics.usage_dropped.collect()),
        rejected=_counter(metrics.usage_rejected.collect()),
    )


def _counter(families: Iterable[Metric]) -> float:
    return sum(s.value for f in families for s in f.samples if s.name.endswith("_total"))


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The q-quantile (seconds) of a histogram's cumulative buckets, as histogram_quantile
    computes it: linear within the bucket it falls in; None without observations."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower  # beyond the last finite bound: its bound is all we know
            inside = count - below
            return lower + (upper - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = upper, count
    return lower


class GatewaySampler:
    """Differences of one replica's gateway counters between ticks."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics
        self._last: Totals | None = None

    def take(self, usage_pending: int) -> GatewayWindow | None:
        """The window since the last call (None on the first: it only sets the baseline)."""
        now = read_totals(self.metrics)
        last, self._last = self._last, now
        if last is None:
            return None
        previous = dict(last.buckets)
        window = [(le, count - previous.get(le, 0.0)) for le, count in now.buckets]

        def ms(q: float) -> float | None:
            seconds = quantile(q, window)
            return None if seconds is None else round(seconds * 1000, 3)

        return GatewayWindow(
            seconds=max(now.at - last.at, 1e-6),
            calls=round(now.calls - last.calls),
            errors=round(now.errors - last.errors),
            refused=round(now.refused - last.refused),
            latency_sum=max(0.0, now.latency_sum - last.latency_sum),
            p50_ms=ms(0.5),
            p95_ms=ms(0.95),
            usage_pending=usage_pending,
            usage_dropped=round(now.dropped - last.dropped),
            usage_rejected=round(now.rejected - last.rejected),
        )
