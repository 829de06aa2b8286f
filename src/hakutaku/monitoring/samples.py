"""Samples: appended at each monitor tick, pruned past the retention, read back as series.

Rows carry Unix seconds (`t`); a chart's window is read in buckets of `step` seconds grouped
by the database (`t // step`), so a window of any length comes back as a few hundred points.
Cluster samples are one row per partition (and "" for the whole cluster) per tick, written by
the monitor's lease holder; gateway samples are one row per replica per tick, since each
replica only knows its own calls. A bucket of gateway rows is summed over replicas: the call
rate is all replicas' calls over the bucket's time, the 95th percentile is the worst
replica's.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, distinct, func, select
from sqlalchemy.orm import Session

from hakutaku.db.models import ClusterSample, GatewaySample
from hakutaku.monitoring.cluster import ClusterView
from hakutaku.monitoring.gateway import GatewayWindow

MAX_POINTS = 360  # points per series at most, whatever the window


def add_cluster_samples(s: Session, t: int, view: ClusterView) -> None:
    for p in [view.whole, *view.partitions]:
        s.add(
            ClusterSample(
                t=t,
                partition=p.name,
                cards_total=p.cards_total,
                cards_alloc=p.cards_alloc,
                cards_free=p.cards_free,
                cpus_total=p.cpus_total,
                cpus_alloc=p.cpus_alloc,
                cpus_free=p.cpus_free,
                pending_jobs=p.pending_jobs,
                running_jobs=p.running_jobs,
            )
        )


def add_gateway_sample(s: Session, t: int, replica: str, w: GatewayWindow) -> None:
    s.add(
        GatewaySample(
            t=t,
            replica=replica,
            seconds=w.seconds,
            calls=w.calls,
            errors=w.errors,
            refused=w.refused,
            latency_sum=w.latency_sum,
            p50_ms=w.p50_ms,
            p95_ms=w.p95_ms,
            usage_pending=w.usage_pending,
            usage_dropped=w.usage_dropped,
            usage_rejected=w.usage_rejected,
        )
    )


def prune(s: Session, before: int) -> None:
    """Delete samples older than `before` (Unix seconds)."""
    s.execute(delete(ClusterSample).where(ClusterSample.t < before))
    s.execute(delete(GatewaySample).where(GatewaySample.t < before))


def step_for(hours: float, interval: float) -> int:
    """Bucket width (s): the window in MAX_POINTS points, never finer than a tick."""
    return max(1, math.ceil(interval), math.ceil(hours * 3600 / MAX_POINTS))


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


def cluster_series(s: Session, since: int, step: int) -> dict[str, Any]:
    """Per partition: card (or, without cards, CPU) utilisation in %, cards and CPUs in use,
    pending and running jobs — aligned on one list of bucket times."""
    c = ClusterSample
    bucket = (c.t // step) * step
    rows = s.execute(
        select(
            c.partition,
            bucket.label("b"),
            func.avg(c.cards_alloc),
            func.max(c.cards_total),
            func.avg(c.cpus_alloc),
            func.max(c.cpus_total),
            func.avg(c.pending_jobs),
            func.avg(c.running_jobs),
        )
        .where(c.t >= since)
        .group_by(c.partition, bucket)
        .order_by(bucket)
    ).all()
    times = sorted({int(r[1]) for r in rows})
    index = {t: i for i, t in enumerate(times)}
    series: dict[str, dict[str, list[float | None]]] = defaultdict(
        lambda: {k: [None] * len(times) for k in ("util", "cards", "cpus", "pending", "running")}
    )
    for name, b, cards, cards_total, cpus, cpus_total, pending, running in rows:
        one = series[name]
        i = index[int(b)]
        if cards_total:
            one["util"][i] = _round(100 * float(cards) / cards_total, 1)
        elif cpus_total:
            one["util"][i] = _round(100 * float(cpus) / cpus_total, 1)
        one["cards"][i] = _round(cards)
        one["cpus"][i] = _round(cpus)
        one["pending"][i] = _round(pending)
        one["running"][i] = _round(running)
    return {"t": times, "partitions": dict(sorted(series.items()))}


def gateway_series(s: Session, since: int, step: int) -> dict[str, Any]:
    """All replicas together: calls/s, server errors (5xx) and refusals (4xx) in % of calls,
    mean latency and the worst replica's 95th percentile (ms), usage events waiting."""
    g = GatewaySample
    bucket = (g.t // step) * step
    rows = s.execute(
        select(
            bucket.label("b"),
            func.sum(g.calls),
            func.sum(g.errors),
            func.sum(g.refused),
            func.sum(g.latency_sum),
            func.max(g.p95_ms),
            func.sum(g.seconds),
            func.count(distinct(g.replica)),
            func.max(g.usage_pending),
        )
        .where(g.t >= since)
        .group_by(bucket)
        .order_by(bucket)
    ).all()
    out: dict[str, list[Any]] = {
        k: [] for k in ("t", "calls", "errors", "refused", "mean_ms", "p95_ms", "usage_pending")
    }
    for b, calls, errors, refused, latency, p95, seconds, replicas, pending in rows:
        calls = int(calls or 0)
        span = float(seconds or 0) / max(int(replicas or 1), 1)
        out["t"].append(int(b))
        out["calls"].append(_round(calls / span if span else 0.0, 3))
        out["errors"].append(_round(100 * int(errors or 0) / calls if calls else 0.0))
        out["refused"].append(_round(100 * int(refused or 0) / calls if calls else 0.0))
        out["mean_ms"].append(_round(1000 * float(latency or 0) / calls) if calls else None)
        out["p95_ms"].append(_round(p95) if calls else None)
        out["usage_pending"].append(int(pending or 0))
    return out
