"""What an operator should act on now, from the database and the samples (a few cheap
queries; no scheduler command, no walk of the homes).

Each alert is data — a kind, a severity, its subject and numbers; the monitoring page words it
(in the reader's language) and says what to do. Kinds:

- `worker_down`: a worker-hosted model that had live workers (within the samples' retention)
  and has none now;
- `partition_full`: a partition with no card free (no CPU, for a CPU partition) in every
  sample of the last hour;
- `home_near_quota`: a home at 90 % or more of its bytes or files quota, as last measured;
- `usage_backlog`, `usage_dropped`, `usage_rejected`: a replica's usage writer falling behind
  (events waiting: a tenth of HAI_USAGE_MAX_PENDING or more), or events dropped or set aside
  in the last hour — billing would miss them;
- `snapshot_stale`: the snapshot is older than three ticks (the monitor cannot read the
  cluster); `nodes_down`: nodes down or drained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hakutaku.config import Settings
from hakutaku.db.models import ClusterSample, GatewaySample, WorkerPresence
from hakutaku.monitoring.cluster import CARD_KINDS, WHOLE, ClusterView
from hakutaku.monitoring.homes import homes_near_quota
from hakutaku.monitoring.samples import TICK
from hakutaku.storage.quota import Limits

FULL_FOR = 3600  # seconds a partition must have been full
CRITICAL = "critical"
WARNING = "warning"


@dataclass(frozen=True)
class Alert:
    kind: str
    severity: str  # critical | warning
    subject: str  # the model, partition, user or replica it is about
    values: dict[str, Any] = field(default_factory=dict)
    since: datetime | None = None


def usage_backlog_threshold(settings: Settings) -> int:
    return max(1, settings.usage_max_pending // 10)


def current_alerts(
    s: Session,
    settings: Settings,
    view: ClusterView,
    defaults: Limits,
    *,
    last_error: str | None = None,
    now: datetime | None = None,
) -> list[Alert]:
    now = now or datetime.now(UTC)
    alerts = [
        *_workers_down(s, settings, now),
        *_partitions_full(s, settings, view, now),
        *_homes(s, defaults),
        *_usage_writer(s, settings, now),
        *_cluster(settings, view, now, last_error),
    ]
    order = {CRITICAL: 0, WARNING: 1}
    alerts.sort(key=lambda a: (order.get(a.severity, 2), a.kind, a.subject))
    return alerts


def _workers_down(s: Session, settings: Settings, now: datetime) -> list[Alert]:
    since = now - timedelta(hours=settings.monitor_retention_hours)
    rows = s.scalars(
        select(WorkerPresence).where(WorkerPresence.live == 0, WorkerPresence.last_live_at >= since)
    )
    return [
        Alert("worker_down", CRITICAL, r.model, {"last_live_at": r.last_live_at}, r.last_live_at)
        for r in rows
    ]


def _partitions_full(
    s: Session, settings: Settings, view: ClusterView, now: datetime
) -> list[Alert]:
    t_now = int(now.timestamp())
    c = ClusterSample
    rows = s.execute(
        select(
            c.partition,
            func.min(c.t),
            func.max(c.t),
            func.max(c.cards_total),
            func.max(c.cards_free),
            func.max(c.cpus_total),
            func.max(c.cpus_free),
        )
        .where(c.span == TICK, c.t >= t_now - FULL_FOR, c.partition != WHOLE)
        .group_by(c.partition)
    ).all()
    slack = max(60, int(2 * settings.monitor_interval))
    alerts = []
    for name, first, last, cards_total, cards_free, cpus_total, cpus_free in rows:
        if first > t_now - FULL_FOR + slack or last < t_now - slack:
            continue  # the samples do not cover the hour, or stopped: nothing to say
        current = view.partition(name)
        kind = current.accelerator if current is not None else "cpu"
        if kind in CARD_KINDS:
            if not cards_total or cards_free:
                continue  # no cards to be full of (or one was free at some point)
            values = {"what": "cards", "total": int(cards_total)}
        else:
            if not cpus_total or cpus_free:
                continue
            values = {"what": "cpus", "total": int(cpus_total)}
        if current is not None:
            values["pending"] = current.pending_jobs
        alerts.append(Alert("partition_full", WARNING, name, values))
    return alerts


def _homes(s: Session, defaults: Limits) -> list[Alert]:
    return [
        Alert(
            "home_near_quota",
            CRITICAL if h.share >= 1 else WARNING,
            h.user,
            {
                "percent": round(100 * h.share),
                "bytes": h.used.bytes,
                "max_bytes": h.limits.max_bytes,
                "files": h.used.files,
                "max_files": h.limits.max_files,
            },
            h.measured_at,
        )
        for h in homes_near_quota(s, defaults)
    ]


def _usage_writer(s: Session, settings: Settings, now: datetime) -> list[Alert]:
    t_now = int(now.timestamp())
    g = GatewaySample
    alerts = []
    recent = t_now - max(60, int(3 * settings.monitor_interval))
    threshold = usage_backlog_threshold(settings)
    for replica, pending in s.execute(
        select(g.replica, func.max(g.usage_pending))
        .where(g.span == TICK, g.t >= recent)
        .group_by(g.replica)
    ):
        if pending is not None and pending >= threshold:
            values = {"pending": int(pending), "max": settings.usage_max_pending}
            alerts.append(Alert("usage_backlog", CRITICAL, replica, values))
    for replica, dropped, rejected in s.execute(
        select(g.replica, func.sum(g.usage_dropped), func.sum(g.usage_rejected))
        .where(g.span == TICK, g.t >= t_now - 3600)
        .group_by(g.replica)
    ):
        if dropped:
            alerts.append(Alert("usage_dropped", CRITICAL, replica, {"count": int(dropped)}))
        if rejected:
            path = str(settings.usage_reject_path)
            alerts.append(
                Alert("usage_rejected", WARNING, replica, {"count": int(rejected), "path": path})
            )
    return alerts


def _cluster(
    settings: Settings, view: ClusterView, now: datetime, last_error: str | None
) -> list[Alert]:
    alerts = []
    stale_after = timedelta(seconds=max(60.0, 3 * settings.monitor_interval))
    if view.updated_at is not None and now - view.updated_at > stale_after:
        values = {"age": int((now - view.updated_at).total_seconds()), "error": last_error or ""}
        alerts.append(Alert("snapshot_stale", CRITICAL, view.source, values, view.updated_at))
    elif view.updated_at is None and last_error:
        alerts.append(
            Alert("snapshot_stale", CRITICAL, view.source, {"age": 0, "error": last_error})
        )
    if view.whole.nodes_down:
        values = {"down": view.whole.nodes_down, "nodes": view.whole.nodes}
        alerts.append(Alert("nodes_down", WARNING, view.source, values))
    return alerts
