"""The monitor loop: one replica reads the cluster, every replica samples its gateway.

Every replica runs it, every HAI_MONITOR_INTERVAL seconds:

1. it writes one gateway sample of its own (each replica knows only its own calls);
2. the replica holding the lease `monitor:<backend>` (hakutaku.db.lease) reads the cluster —
   one `sinfo`/`scontrol` for Slurm, the capacity model and the running jobs for the local
   backend — and, in one transaction fenced by its lease term, replaces the snapshot
   (`cluster_partitions`), appends the cluster samples, records which models have live
   workers, rolls closed 5-minute buckets up and prunes old samples (monitoring.samples). A
   replica that lost the lease while it read the cluster writes nothing; another takes over
   within the lease's time to live;
3. it reads the snapshot back into memory (`Monitor.view`): pages and /metrics show that
   copy, so a page view costs no scheduler command and no snapshot query.

The lease holder also measures every home each HAI_MONITOR_HOMES_INTERVAL, in a loop of its
own so that a long walk of big homes never holds up the snapshot.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hakutaku.compute.policy_store import read_policy
from hakutaku.compute.service import ComputeService
from hakutaku.compute.states import JobState
from hakutaku.config import Settings
from hakutaku.db.lease import LeaseHolder
from hakutaku.db.models import Job, Model, Worker, WorkerPresence
from hakutaku.db.session import Database
from hakutaku.gateway.context import Gateway
from hakutaku.monitoring.cluster import ClusterView, empty_view, read_view, write_view
from hakutaku.monitoring.gateway import GatewaySampler
from hakutaku.monitoring.homes import count_near_quota, measure_homes, write_home_usage
from hakutaku.monitoring.local import local_view
from hakutaku.monitoring.samples import add_cluster_samples, add_gateway_sample, prune, roll_up
from hakutaku.monitoring.slurm import SlurmNodes, slurm_view
from hakutaku.storage.service import Storage
from hakutaku.ticker import Ticker

log = logging.getLogger("hakutaku.monitoring")

LEASE_TICKS = 3  # the lease lives this many ticks (renewed once half of it has gone)
MIN_LEASE_TTL = 3.0


class Monitor:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        compute: ComputeService,
        gateway: Gateway,
        storage: Storage,
    ) -> None:
        self.settings = settings
        self.db = db
        self.compute = compute
        self.gateway = gateway
        self.storage = storage
        self.interval = settings.monitor_interval
        self.lease = LeaseHolder(
            db,
            f"monitor:{compute.backend.name}",
            max(MIN_LEASE_TTL, LEASE_TICKS * self.interval),
        )
        self.sampler = GatewaySampler(gateway.metrics)
        self._slurm = SlurmNodes(settings.slurm_bin) if compute.backend.name == "slurm" else None
        self.view: ClusterView = empty_view(compute.backend.name)
        self.homes_near_quota = 0
        self.last_error: str | None = None  # why the last read of the cluster failed
        self.polls = 0  # cluster reads this replica made (tests and /healthz read it)
        self._tickers: list[Ticker] = []

    @property
    def is_poller(self) -> bool:
        return self.lease.held

    async def start(self) -> None:
        self._tickers.append(Ticker("hai-monitor", self.tick, lambda: self.interval))
        homes = self.settings.monitor_homes_interval
        if homes > 0:
            delay = min(self.interval, homes)
            self._tickers.append(
                Ticker("hai-monitor-homes", self.measure_homes, lambda: homes, delay=delay)
            )
        for ticker in self._tickers:
            await ticker.start()

    async def stop(self) -> None:
        for ticker in self._tickers:
            await ticker.stop()
        self._tickers.clear()
        await self.lease.hand_back()

    # -- one tick ----------------------------------------------------------------------------

    def tick(self) -> None:
        t = int(time.time())
        window = self.sampler.take(self.gateway.usage.pending)
        if window is not None:
            with self.db.session() as s:
                add_gateway_sample(s, t, self.lease.id, window)
        if self.lease.hold():
            self.poll_cluster(t)
        with self.db.session() as s:
            self.view = read_view(s)
            self.homes_near_quota = count_near_quota(s, self.storage.defaults)

    def poll_cluster(self, t: int) -> None:
        """Read the cluster and write the snapshot, the samples and the worker presence —
        only while this replica still holds the lease under its term (fencing)."""
        with self.db.session() as s:
            policy = read_policy(s)
            running = _running_local_jobs(s) if self._slurm is None else []
        try:
            if self._slurm is not None:
                view = slurm_view(self._slurm.read(), policy)
            else:
                view = local_view(self.compute.capacity, policy, running)
        except Exception as exc:
            # The snapshot keeps its time: pages say how old it is, and the alert says why.
            self.last_error = str(exc)
            log.warning("monitor: cannot read the cluster: %s", exc)
            return
        self.last_error = None
        self.polls += 1
        now = datetime.now(UTC)
        with self.db.session() as s:
            _count_jobs(s, view)
            write_view(s, view, now)
            add_cluster_samples(s, t, view)
            _record_workers(s, now, self.settings.heartbeat_timeout)
            # Buckets close a couple of ticks late: every replica's rows of them are in.
            roll_up(s, t - int(2 * self.interval) - 1)
            prune(s, t, self.settings.monitor_retention_hours)
            if not self.lease.renew(s):
                s.rollback()  # another replica holds it now: what we read may be stale

    def measure_homes(self) -> None:
        if not self.lease.held:
            return
        with self.db.session() as s:
            measured = measure_homes(s, self.storage.homes)
        with self.db.session() as s:
            write_home_usage(s, measured, datetime.now(UTC))
            if not self.lease.renew(s):
                s.rollback()


def _running_local_jobs(s: Session) -> list[Job]:
    return list(
        s.scalars(select(Job).where(Job.backend == "local", Job.state == JobState.RUNNING.value))
    )


def _count_jobs(s: Session, view: ClusterView) -> None:
    """The platform's pending and running jobs per partition (one grouped query)."""
    counts = s.execute(
        select(Job.partition, Job.state, func.count())
        .where(Job.state.in_([JobState.PENDING.value, JobState.RUNNING.value]))
        .group_by(Job.partition, Job.state)
    ).all()
    by_name = {p.name: p for p in view.partitions}
    for partition, state, n in counts:
        target = by_name.get(partition)
        if state == JobState.PENDING.value:
            view.whole.pending_jobs += n
            if target is not None:
                target.pending_jobs += n
        else:
            view.whole.running_jobs += n
            if target is not None:
                target.running_jobs += n


def _record_workers(s: Session, now: datetime, heartbeat_timeout: float) -> None:
    """Live workers per worker-hosted model now, and when each last had one."""
    cutoff = now - timedelta(seconds=heartbeat_timeout)
    live = dict(
        s.execute(
            select(Worker.model, func.count())
            .where(Worker.last_heartbeat_at >= cutoff)
            .group_by(Worker.model)
        ).all()
    )
    models = set(s.scalars(select(Model.name).where(Model.kind == "worker")))
    rows = {r.model: r for r in s.scalars(select(WorkerPresence))}
    for name in models:
        row = rows.pop(name, None)
        if row is None:
            row = WorkerPresence(model=name, live=0)
            s.add(row)
        row.live = int(live.get(name, 0))
        row.checked_at = now
        if row.live:
            row.last_live_at = now
    for gone in rows.values():  # the model was removed: nothing to watch
        s.delete(gone)
