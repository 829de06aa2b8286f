"""Samples: appended at each monitor tick, rolled up, pruned, read back as series.

Two resolutions, as a round-robin database keeps them: a row per tick (`span` 0), kept
FINE_HOURS (plus one), for windows up to FINE_HOURS; and a row per COARSE seconds (`span`
COARSE: averages, sums and maxima of the ticks in it), made by the lease holder as each
COARSE bucket closes and kept HAI_MONITOR_RETENTION_HOURS, for longer windows (with the ticks
not rolled up yet, so their last minutes show too) — so 48 hours read a few thousand rows, not
tens of thousands. Rows carry Unix seconds (`t`); a chart's
window is read in buckets of `step` seconds grouped by the database (`t // step`), so a window
of any length comes back as a few hundred points.
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

from sqlalchemy import ColumnElement, and_, delete, distinct, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from hakutaku.db.models import ClusterSample, GatewaySample
from hakutaku.monitoring.cluster import ClusterView
from hakutaku.monitoring.gateway import GatewayWindow

MAX_POINTS = 360  # points per series at most, whatever the window
TICK = 0  # the span of a row written at a tick
COARSE = 300  # seconds a roll-up row covers
FINE_HOURS = 1  # windows up to this are read from the tick rows


def add_cluster_samples(s: Session, t: int, view: ClusterView) -> None:
    for p in [view.whole, *view.partitions]:
        s.add(
            ClusterSample(
                t=t,
                span=TICK,
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
            span=TICK,
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


def prune(s: Session, now: int, retention_hours: float) -> None:
    """Delete roll-ups past the retention, and tick rows past FINE_HOURS (plus one)."""
    coarse_before = now - int(retention_hours * 3600)
    fine_before = max(coarse_before, now - (FINE_HOURS + 1) * 3600)
    for table in (ClusterSample, GatewaySample):
        s.execute(delete(table).where(table.span == COARSE, table.t < coarse_before))
        s.execute(delete(table).where(table.span == TICK, table.t < fine_before))


# How a roll-up row sums up its ticks, column by column.
_CLUSTER_ROLL_UP: tuple[tuple[str, Any], ...] = (
    ("cards_total", func.max),
    ("cards_alloc", func.avg),
    ("cards_free", func.avg),
    ("cpus_total", func.max),
    ("cpus_alloc", func.avg),
    ("cpus_free", func.avg),
    ("pending_jobs", func.avg),
    ("running_jobs", func.avg),
)
_GATEWAY_ROLL_UP: tuple[tuple[str, Any], ...] = (
    ("seconds", func.sum),
    ("calls", func.sum),
    ("errors", func.sum),
    ("refused", func.sum),
    ("latency_sum", func.sum),
    ("p50_ms", func.max),
    ("p95_ms", func.max),
    ("usage_pending", func.max),
    ("usage_dropped", func.sum),
    ("usage_rejected", func.sum),
)


def roll_up(s: Session, upto: int) -> None:
    """Roll-up rows for every whole COARSE bucket before `upto` that has none yet (the lease
    holder calls it each tick; a new holder carries on from the last roll-up written)."""
    end = upto // COARSE * COARSE
    for table, key, columns in (
        (ClusterSample, "partition", _CLUSTER_ROLL_UP),
        (GatewaySample, "replica", _GATEWAY_ROLL_UP),
    ):
        start = _first_open_bucket(s, table)
        if start is None or start >= end:
            continue
        bucket = (table.t // COARSE) * COARSE
        by = getattr(table, key)
        rows = (
            select(
                bucket, literal(COARSE), by, *(agg(getattr(table, name)) for name, agg in columns)
            )
            .where(table.span == TICK, table.t >= start, table.t < end)
            .group_by(bucket, by)
        )
        names = ["t", "span", key, *(name for name, _ in columns)]
        s.execute(insert(table).from_select(names, rows))


def _first_open_bucket(s: Session, table: type[ClusterSample] | type[GatewaySample]) -> int | None:
    """The first COARSE bucket with tick rows and no roll-up yet (None: no tick rows)."""
    last = s.scalar(select(func.max(table.t)).where(table.span == COARSE))
    if last is not None:
        return int(last) + COARSE
    first = s.scalar(select(func.min(table.t)).where(table.span == TICK))
    return None if first is None else int(first) // COARSE * COARSE


def step_for(hours: float, interval: float) -> int:
    """Bucket width (s): the window in MAX_POINTS points, never finer than its rows."""
    finest = interval if hours <= FINE_HOURS else COARSE
    return max(1, math.ceil(finest), math.ceil(hours * 3600 / MAX_POINTS))


def _rows(table: type[ClusterSample] | type[GatewaySample], hours: float) -> ColumnElement[bool]:
    """The rows a window reads: its ticks; or the roll-ups and the ticks after the last one."""
    if hours <= FINE_HOURS:
        return table.span == TICK
    last = select(func.coalesce(func.max(table.t), 0)).where(table.span == COARSE).scalar_subquery()
    return or_(table.span == COARSE, and_(table.span == TICK, table.t >= last + COARSE))


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


def cluster_series(s: Session, since: int, step: int, hours: float = 1) -> dict[str, Any]:
    """Per partition: card (or, without cards, CPU) utilisation in %, cards and CPUs in use,
    pending and running jobs — aligned on one list of bucket times."""
    c = ClusterSample
    bucket: ColumnElement[int] = (c.t // step) * step
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
        .where(_rows(c, hours), c.t >= since)
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


def gateway_series(s: Session, since: int, step: int, hours: float = 1) -> dict[str, Any]:
    """All replicas together: calls/s, server errors (5xx) and refusals (4xx) in % of calls,
    mean latency and the worst replica's 95th percentile (ms), usage events waiting."""
    g = GatewaySample
    bucket: ColumnElement[int] = (g.t // step) * step
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
        .where(_rows(g, hours), g.t >= since)
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
