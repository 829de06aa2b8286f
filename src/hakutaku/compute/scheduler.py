"""The scheduler loop: follows jobs in their backend and, for the local backend, starts them.

Every tick (HAI_SCHEDULER_INTERVAL) it asks the backend about the jobs the database says are
pending or running and records what changed; nothing else holds job state, so a restarted
server carries on where the last one stopped. With the local backend it then starts pending
jobs in order of QOS priority, then age, while the machine has room: a job that does not fit
yet keeps the ones behind it waiting, so large jobs are not starved by small ones.

Replicas. Every server replica runs this loop. The local backend's jobs are processes on the
replica's own machine, so each replica follows its own. A backend that queues itself (Slurm) is
one cluster for all replicas of a database: asking it once per tick per replica would multiply
the load on slurmctld by the number of replicas. There, one replica at a time follows the jobs,
under the lease `scheduler:<backend>` (hakutaku.db.lease, HAI_SCHEDULER_LEASE_TTL); the others
only submit and cancel (straight to the backend, from the request) and read the states the
follower records. A follower that dies stops renewing its lease; another replica takes over
within the lease's time to live plus one tick. Its writes are fenced by its term: a replica
that lost the lease while it polled (a stall, a slow squeue) discards what it saw instead of
overwriting what the new follower recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, String, cast, select, update
from sqlalchemy.orm import Session

from hakutaku.compute.accelerators import Accelerator
from hakutaku.compute.backends.base import Observed
from hakutaku.compute.capacity import free_after
from hakutaku.compute.policy import QosSpec
from hakutaku.compute.policy_store import read_policy
from hakutaku.compute.request import JobRefused
from hakutaku.compute.service import ComputeService
from hakutaku.compute.states import ACTIVE_STATES, JobState
from hakutaku.db.lease import LeaseHolder
from hakutaku.db.models import Job, User
from hakutaku.db.session import Database
from hakutaku.ticker import Ticker

log = logging.getLogger("hakutaku.compute")

# Pending jobs looked at per tick beyond one per free CPU, from the front of the queue (some may
# be held by a per-user limit): reading the whole of a long queue every tick would cost more
# than it adds, since no more jobs than free CPUs can start.
PENDING_WINDOW = 64
# Quiet time after a tick before the next, so that a burst of submissions or ending jobs is
# handled in one tick instead of one each.
SETTLE = 0.02
WAITING = "waiting for resources (Resources)"
# The follower's lease lives at least this many ticks: it is renewed on a tick once half of it
# has gone, so a shorter one would lapse between two ticks of a live follower.
LEASE_MIN_TICKS = 3


class Scheduler:
    def __init__(
        self,
        service: ComputeService,
        db: Database,
        interval: float,
        *,
        lease_ttl: float | None = None,
    ) -> None:
        """`lease_ttl`: the follower's lease (s), default HAI_SCHEDULER_LEASE_TTL; it is
        raised to LEASE_MIN_TICKS ticks. Only backends that queue themselves take a lease."""
        self.service = service
        self.backend = service.backend
        self.db = db
        self.interval = interval
        self._ticker = Ticker("hai-scheduler", self.tick, lambda: self.interval, settle=SETTLE)
        # Called after a tick that recorded jobs ending (the deployment controller replaces a
        # replica whose job ended without waiting for its own next tick).
        self.on_jobs_ended: Callable[[], None] | None = None
        self.lease: LeaseHolder | None = None
        if self.backend.queues_itself:
            ttl = service.settings.scheduler_lease_ttl if lease_ttl is None else lease_ttl
            if ttl < LEASE_MIN_TICKS * interval:
                log.warning(
                    "HAI_SCHEDULER_LEASE_TTL=%s is under %d scheduler ticks; using %s s",
                    ttl,
                    LEASE_MIN_TICKS,
                    LEASE_MIN_TICKS * interval,
                )
                ttl = LEASE_MIN_TICKS * interval
            self.lease = LeaseHolder(db, f"scheduler:{self.backend.name}", ttl)

    @property
    def is_poller(self) -> bool:
        """Whether this replica follows the backend's jobs now: always for the local backend
        (each replica follows its own machine's jobs); for Slurm, while it holds the lease."""
        return self.lease is None or self.lease.held

    def polling(self) -> dict[str, Any]:
        """What /healthz may show about who follows the jobs, from this replica's own state
        (no database read): {"backend", "polls", "lease", "holder", "term", "ttl"}."""
        lease = self.lease
        return {
            "backend": self.backend.name,
            "polls": self.is_poller,
            "lease": lease.name if lease else None,
            "holder": lease.id if lease else None,
            "term": lease.term if lease else None,
            "ttl": lease.ttl if lease else None,
        }

    async def start(self) -> None:
        await self._ticker.start()

    def wake(self) -> None:
        """Tick now rather than at the next interval (after a submit or cancel); any thread."""
        self._ticker.wake()

    async def stop(self) -> None:
        await self._ticker.stop()
        if self.lease is not None:
            await self.lease.hand_back()

    # -- one tick ----------------------------------------------------------------------------

    def tick(self) -> None:
        if self._tick() and self.on_jobs_ended is not None:
            self.on_jobs_ended()

    def _tick(self) -> bool:
        """One tick; whether it recorded a job's end (committed)."""
        if self.lease is not None and not self.lease.hold():
            return False  # another replica follows the jobs; their states are in the database
        ended = False
        with self.db.session() as s:
            handed = list(
                s.scalars(
                    select(Job)
                    .where(
                        Job.backend == self.backend.name,
                        Job.state.in_([st.value for st in ACTIVE_STATES]),
                        Job.external_id.is_not(None),
                    )
                    .order_by(Job.id)
                )
            )
            if handed:
                self._follow(handed)
                ended = any(JobState(j.state).final for j in handed)
            if self.lease is not None and _changed(s) and not self.lease.renew(s):
                # The lease expired while we polled and another replica follows now: what we
                # saw may be older than what it records.
                s.rollback()
                return False
            if not self.backend.queues_itself:
                running = [j for j in handed if j.state == JobState.RUNNING]
                self._start_pending(s, running)
        return ended

    def _follow(self, jobs: list[Job]) -> None:
        observed = self.backend.poll([j.external_id for j in jobs if j.external_id])
        for job in jobs:
            seen = observed.get(job.external_id or "")
            if (
                seen is not None
                and seen.state is JobState.PENDING
                and not self.backend.queues_itself
            ):
                job.external_id = None  # claimed, never handed over: back in the queue
                continue
            if seen is None:
                if not self.backend.queues_itself:
                    lost = "lost: no record of it here (did the server stop while starting it?)"
                    _record(job, Observed(JobState.FAILED, reason=lost))
                continue  # Slurm may not list a job for a moment after sbatch
            _record(job, seen)

    def _queued(self) -> tuple[ColumnElement[bool], ...]:
        """Pending jobs of this backend not yet handed to it: the queue the platform orders."""
        return (
            Job.backend == self.backend.name,
            Job.state == JobState.PENDING.value,
            Job.external_id.is_(None),
        )

    def _start_pending(self, s: Session, running: list[Job]) -> None:
        free = free_after(self.service.capacity, running)
        if free.cpus <= 0:  # every job needs a CPU: none can start before one ends
            s.execute(
                update(Job)
                .where(*self._queued(), Job.reason == "")
                .values(reason=WAITING)
                .execution_options(synchronize_session=False)
            )
            return
        pending = list(
            s.scalars(
                select(Job)
                .where(*self._queued())
                .order_by(Job.priority.desc(), Job.submitted_at, Job.id)
                .limit(PENDING_WINDOW + free.cpus)
            )
        )
        if not pending:
            return
        policy = read_policy(s)
        chosen: list[tuple[Job, list[Accelerator]]] = []
        for job in pending:
            held = _over_user_tres(job, running, policy.qos.get(job.qos))
            if held:
                job.reason = held
                continue  # other users' jobs may still start
            cards = free.take(job)
            if cards is None:
                job.reason = WAITING
                break
            chosen.append((job, cards))
            running.append(job)
        if chosen:
            self._start(s, chosen)

    def _start(self, s: Session, chosen: list[tuple[Job, list[Accelerator]]]) -> None:
        # Claim them and commit before starting any: another replica's scheduler on this
        # machine cannot start them too, and after a crash mid-start the next tick finds
        # which ones never started (and queues them again) instead of starting any twice.
        # The claim reads back each time limit as committed: one extended (ComputeService.
        # extend) after this tick read the job starts with its new limit.
        rows = (
            s.execute(
                update(Job)
                .where(
                    Job.id.in_([job.id for job, _ in chosen]),
                    Job.external_id.is_(None),
                    Job.state == JobState.PENDING.value,  # not cancelled meanwhile
                )
                .values(external_id=cast(Job.id, String))
                .returning(Job.id, Job.time_limit)
                .execution_options(synchronize_session=False)
            )
            .tuples()
            .all()
        )
        claimed = {job_id: limit for job_id, limit in rows}
        s.commit()
        names = select(User.id, User.name).where(User.id.in_({j.user_id for j, _ in chosen}))
        users = {user_id: name for user_id, name in s.execute(names)}
        for job, cards in chosen:
            if job.id not in claimed:
                continue
            job.time_limit = claimed[job.id]
            try:
                self.service.hand_over(job, users.get(job.user_id, ""), cards)
            except JobRefused as exc:
                job.external_id = str(job.id)
                _finish(job, JobState.FAILED, reason=exc.message)
                continue
            job.state = JobState.RUNNING.value
            job.started_at = job.started_at or datetime.now(UTC)
            job.reason = ""


def _changed(s: Session) -> bool:
    """Whether the session would write anything (setting a column to its value is no change)."""
    return bool(s.new or s.deleted or any(s.is_modified(o) for o in s.dirty))


def _over_user_tres(job: Job, running: list[Job], qos: QosSpec | None) -> str:
    """Slurm's QOSMaxTRESPerUser: the user's running jobs in the QOS plus this one."""
    limits = qos.max_tres_pu if qos is not None else {}
    if not limits:
        return ""
    used = {"cpu": job.cpus, "mem": job.mem_mb, f"gres/{job.accelerator}": job.accelerators}
    for other in running:
        if other.user_id == job.user_id and other.qos == job.qos:
            used["cpu"] += other.cpus
            used["mem"] += other.mem_mb
            key = f"gres/{other.accelerator}"
            used[key] = used.get(key, 0) + other.accelerators
    for name, limit in limits.items():
        if used.get(name, 0) > limit:
            return (
                f"waiting: your running jobs in QOS {job.qos!r} would exceed its MaxTRESPU "
                f"{name}={limit} (QOSMaxTRESPerUser)"
            )
    return ""


def _record(job: Job, seen: Observed) -> None:
    if seen.state.final:
        _finish(job, seen.state, seen.exit_code, seen.reason, seen.started_at, seen.ended_at)
        job.node = seen.node or job.node
        return
    if seen.state is JobState.RUNNING and job.state != JobState.RUNNING:
        job.state = JobState.RUNNING.value
        job.started_at = seen.started_at or datetime.now(UTC)
        job.reason = ""
    elif seen.state is JobState.RUNNING and seen.started_at and job.started_at != seen.started_at:
        job.started_at = seen.started_at  # the backend's own record wins
    if seen.node:
        job.node = seen.node
    if seen.state is JobState.PENDING and seen.reason and not job.reason.startswith("cancel"):
        job.reason = seen.reason


def _finish(
    job: Job,
    state: JobState,
    exit_code: int | None = None,
    reason: str = "",
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
) -> None:
    job.state = state.value
    job.exit_code = exit_code
    job.reason = reason or job.reason
    job.started_at = started_at or job.started_at
    job.ended_at = ended_at or datetime.now(UTC)
