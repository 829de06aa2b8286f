"""The deployment controller: makes each deployment's worker jobs match what it asks for.

It runs in every server replica's event loop but acts in one only, under the lease
`deploy:controller` (hakutaku.db.lease): a loop that submits jobs must not run twice. Every
tick it reconciles each deployment, as a Kubernetes Deployment controller does, from the
database alone (a restarted server carries on where the last one stopped):

- follow: a replica whose job has ended is recorded; one that ended without being asked to
  counts as a failure and is replaced, after a back-off that doubles with each failure in a
  row (1 s, 2 s, 4 s … 60 s) and resets once a replica answers;
- scale: `scaling.decide` from the calls in flight that the workers report in their beats;
- replace: replicas of an older version (`hai deploy update`), or whose job is near its time
  limit, are drained once enough replicas of the current version answer;
- drain: a replica to remove is first marked draining (every gateway replica stops routing
  to it within a refresh), then, once a heartbeat sent after that says it has no call in
  flight, its job is cancelled (the worker deregisters and exits): no call is cut off.

Adoption. Replica jobs outlive the server (local jobs are detached; Slurm's are Slurm's), and
so do their workers, which keep trying to beat. A controller that has just become the leader
(the server restarted, or took over from a replica that died) has not yet heard from them: for
one heartbeat timeout it judges no worker by its silence, drains nothing and scales nothing
down, so it adopts the replicas it finds instead of replacing them (or stopping ones with calls
in flight). It still records jobs that ended and starts missing replicas.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hakutaku.compute.service import ComputeService
from hakutaku.compute.states import JobState
from hakutaku.config import Settings
from hakutaku.db.lease import LeaseHolder
from hakutaku.db.models import Deployment, DeploymentReplica, Job, Worker, WorkerToken
from hakutaku.db.session import Database
from hakutaku.deploy import hub_target
from hakutaku.deploy.scaling import Bounds, decide
from hakutaku.deploy.service import owner_principal
from hakutaku.deploy.spec import replica_submission
from hakutaku.errors import PlatformError
from hakutaku.identity.auth import Principal
from hakutaku.identity.secrets import SecretBox
from hakutaku.ticker import Ticker

log = logging.getLogger("hakutaku.deploy")
# What an --openai-server replica runs (--hub replicas: hub_target.HUB_BACKEND).
OPENAI_SERVER_BACKEND = "hakutaku.workers.backends.openai_server_process:OpenAIServerProcess"

LEASE = "deploy:controller"
BACKOFF_MAX = 60.0
REFUSED_RETRY = 30.0  # a replica the policy refused (a QOS limit) is asked for again after this


def backoff(failures: int) -> float:
    return min(BACKOFF_MAX, 2.0 ** max(failures - 1, 0))


def renew_margin(time_limit: int) -> float:
    """How long before its time limit a replica is replaced (so none is cut off by it)."""
    return min(300.0, max(30.0, 0.1 * time_limit))


class _Pass:
    """One reconciliation of one deployment, inside one transaction."""

    def __init__(self, ctl: Controller, s: Session, d: Deployment, now: datetime) -> None:
        self.ctl, self.s, self.d, self.now = ctl, s, d, now
        self.owner: Principal = owner_principal(s, d.owner_id)
        rows = s.execute(
            select(DeploymentReplica, Job)
            .join(Job, Job.id == DeploymentReplica.job_id)
            .where(DeploymentReplica.deployment_id == d.id, DeploymentReplica.state != "ended")
            .order_by(DeploymentReplica.id)
        ).all()
        self.replicas: list[tuple[DeploymentReplica, Job]] = [(r, j) for r, j in rows]
        cutoff = now - timedelta(seconds=ctl.settings.heartbeat_timeout)
        jobs = [j.id for _, j in self.replicas]
        self.workers: dict[int, Worker] = {
            w.job_id: w
            for w in s.scalars(
                select(Worker).where(Worker.job_id.in_(jobs), Worker.last_heartbeat_at >= cutoff)
            )
            if w.job_id is not None
        }
        self.submitted = 0
        # Heard from every live worker since this controller began to lead (see Adoption).
        self.settled = ctl.leading_since is not None and now >= ctl.leading_since + timedelta(
            seconds=ctl.settings.heartbeat_timeout
        )

    def run(self) -> None:
        self.follow()
        live = [(r, j) for r, j in self.replicas if r.state != "ended"]
        if not self.settled:
            self.adopt(live)
            return
        if self.d.state == "deleting":
            self.finish_delete(live)
            return
        self.scale(live)
        current = [
            (r, j)
            for r, j in live
            if r.generation == self.d.generation
            and r.state in ("starting", "ready")
            and not self.expiring(j)
        ]
        self.fill_or_trim(current)
        self.replace_old(live, current)
        self.drain_done(live)

    # -- the steps ----------------------------------------------------------------------------

    def follow(self) -> None:
        for r, job in self.replicas:
            if JobState(job.state).final:
                self.ended(r, job)
            elif r.state == "starting" and job.id in self.workers:
                r.state, r.ready_at = "ready", self.now
                self.d.failures, self.d.retry_at = 0, None
                self.d.message = f"replica job {job.id} answers"
            elif r.state == "ready" and job.id not in self.workers and self.settled:
                # The job runs but its worker stopped beating (hung, or its process died
                # inside a job that lives on) or deregistered (its job is being cancelled
                # outside the platform, `scancel`): it serves nothing, so it is replaced.
                self.fail(r, job, "its worker left or stopped sending heartbeats")
                self.stop(r, job)

    def ended(self, r: DeploymentReplica, job: Job) -> None:
        expected = r.state in ("draining", "stopping")
        why = job.state + (f": {job.reason}" if job.reason else "")
        r.state, r.ended_why = "ended", why
        if not expected and self.d.state == "active":
            self.fail(r, job, f"its job ended ({why})")

    def fail(self, r: DeploymentReplica, job: Job, why: str) -> None:
        d = self.d
        d.failures += 1
        wait = backoff(d.failures)
        d.retry_at = self.now + timedelta(seconds=wait)
        d.message = f"replica job {job.id} failed: {why}; replacing it in {wait:.0f} s"
        log.warning("deployment %s: %s", d.name, d.message)

    def adopt(self, live: list[tuple[DeploymentReplica, Job]]) -> None:
        """Before the workers were heard from: scale up only, fill, and remove nothing."""
        if self.d.state != "active":
            return
        self.scale(live, down=False)
        current = [
            (r, j)
            for r, j in live
            if r.generation == self.d.generation and r.state in ("starting", "ready")
        ]
        if len(current) < self.d.desired:
            self.fill_or_trim(current)

    def scale(self, live: list[tuple[DeploymentReplica, Job]], *, down: bool = True) -> None:
        d = self.d
        serving = [
            self.workers[j.id] for r, j in live if r.state == "ready" and j.id in self.workers
        ]
        inflight = sum(w.inflight for w in serving)
        bounds = Bounds(d.min_replicas, d.max_replicas, d.target_inflight, d.idle_timeout)
        decision = decide(bounds, d.desired, d.busy_at, inflight, d.wanted_at is not None, self.now)
        if not down and decision.desired < d.desired:
            return
        if decision.desired != d.desired:
            log.info("deployment %s: %d → %d replicas (%d calls in flight)",
                     d.name, d.desired, decision.desired, inflight)  # fmt: skip
            d.message = f"scaled {d.desired} → {decision.desired} replicas"
        d.desired, d.busy_at = decision.desired, decision.busy_at
        if d.desired > 0:
            d.wanted_at = None

    def fill_or_trim(self, current: list[tuple[DeploymentReplica, Job]]) -> None:
        d = self.d
        missing = d.desired - len(current)
        if missing > 0 and (d.retry_at is None or self.now >= d.retry_at):
            for _ in range(missing):
                if not self.submit():
                    break
        elif missing < 0:
            # Jobs not yet serving go first (newest first), then the least busy.
            def cost(pair: tuple[DeploymentReplica, Job]) -> tuple[int, int, int]:
                r, j = pair
                worker = self.workers.get(j.id)
                return (r.state == "ready", worker.inflight if worker else 0, -r.id)

            for r, j in sorted(current, key=cost)[:-missing]:
                self.retire(r, j)

    def replace_old(
        self,
        live: list[tuple[DeploymentReplica, Job]],
        current: list[tuple[DeploymentReplica, Job]],
    ) -> None:
        ready_now = sum(1 for r, _ in current if r.state == "ready")
        kept = {r.id for r, _ in current}
        for r, j in live:
            if r.id in kept or r.state not in ("starting", "ready"):
                continue
            if r.state == "starting" or ready_now >= self.d.desired:
                self.retire(r, j)

    def drain_done(self, live: list[tuple[DeploymentReplica, Job]]) -> None:
        grace = timedelta(seconds=self.ctl.drain_grace)
        limit = timedelta(seconds=self.ctl.settings.deploy_drain_timeout)
        for r, j in live:
            if r.state != "draining" or r.draining_since is None:
                continue
            waited = self.now - r.draining_since
            worker = self.workers.get(j.id)
            # Idle by a beat sent after every gateway replica stopped routing to it.
            idle = worker is None or (
                worker.inflight == 0 and worker.last_heartbeat_at >= r.draining_since + grace
            )
            if (waited >= grace and idle) or waited >= limit:
                self.stop(r, j)

    def finish_delete(self, live: list[tuple[DeploymentReplica, Job]]) -> None:
        for r, j in live:
            if r.state in ("starting", "ready"):
                self.retire(r, j)
        self.drain_done(live)
        if all(r.state == "ended" for r, _ in self.replicas):
            d = self.d
            self.s.execute(delete(WorkerToken).where(WorkerToken.deployment_id == d.id))
            self.s.execute(delete(DeploymentReplica).where(DeploymentReplica.deployment_id == d.id))
            self.s.delete(d)
            log.info("deployment %s: deleted", d.name)

    # -- actions ------------------------------------------------------------------------------

    def program(self) -> dict[str, Any]:
        """What a replica runs, when it is not the deployment's target itself."""
        if self.d.kind == "openai-server":
            return {
                "program": OPENAI_SERVER_BACKEND,
                "env": {"HAI_OPENAI_SERVER_CMD": self.d.target},
            }
        if self.d.kind != "hub":
            return {}
        storage = self.ctl.settings.storage_path
        env = hub_target.replica_env(self.s, self.d.target, storage)
        return {"program": hub_target.HUB_BACKEND, "env": env}

    def submit(self) -> bool:
        d = self.d
        token = self.ctl.box.open(d.token)
        try:
            sub = replica_submission(
                d, token, self.ctl.worker_host, d.generation, self.ctl.python, **self.program()
            )
            job = self.ctl.compute.submit(self.s, self.owner, sub)
        except PlatformError as exc:
            d.retry_at = self.now + timedelta(seconds=REFUSED_RETRY)
            d.message = f"cannot start a replica: {exc.message}"
            log.warning("deployment %s: %s", d.name, d.message)
            return False
        self.s.add(
            DeploymentReplica(
                deployment_id=d.id,
                job_id=job.id,
                generation=d.generation,
                state="starting",
                created_at=self.now,
            )
        )
        self.submitted += 1
        return True

    def retire(self, r: DeploymentReplica, job: Job) -> None:
        """Take a replica out: drain one that serves, stop one that does not yet."""
        worker = self.workers.get(job.id)
        if r.state == "ready" and worker is not None:
            worker.draining = True
            r.state, r.draining_since = "draining", self.now
        else:
            self.stop(r, job)

    def stop(self, r: DeploymentReplica, job: Job) -> None:
        r.state = "stopping"
        try:
            self.ctl.compute.cancel(self.s, self.owner, job.id)
        except PlatformError as exc:  # it ended meanwhile: the next tick records it
            log.info("deployment %s: cancel of job %d: %s", self.d.name, job.id, exc.message)

    def expiring(self, job: Job) -> bool:
        if job.started_at is None or not job.time_limit:
            return False
        left = job.started_at + timedelta(seconds=job.time_limit) - self.now
        return left.total_seconds() < renew_margin(job.time_limit)


class Controller:
    """The reconciling loop (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        compute: ComputeService,
        box: SecretBox,
        on_submit: Callable[[], None] | None = None,
        *,
        lease_ttl: float | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.compute = compute
        self.box = box
        self.on_submit = on_submit
        self.interval = settings.deploy_interval
        ttl = max(settings.deploy_lease_ttl if lease_ttl is None else lease_ttl, 3 * self.interval)
        self.lease = LeaseHolder(db, LEASE, ttl)
        # A beat after this long reflects calls routed after every replica saw the draining.
        self.drain_grace = 2 * settings.registry_refresh + settings.heartbeat_interval + 0.5
        self.worker_host = settings.deploy_worker_host or (
            "0.0.0.0" if compute.backend.queues_itself else "127.0.0.1"
        )
        self.python = str(settings.deploy_python or sys.executable)
        self.leading_since: datetime | None = None  # when this controller took the lease
        self._retry_due: datetime | None = None  # the first back-off to end after this tick
        self._ticker = Ticker("hai-deploy-controller", self.tick, self._until_next)

    async def start(self) -> None:
        await self._ticker.start()

    def wake(self) -> None:
        """Reconcile now (after a create, scale, update or delete); any thread."""
        self._ticker.wake()

    async def stop(self) -> None:
        await self._ticker.stop()
        await self.lease.hand_back()

    def _until_next(self) -> float:
        """Seconds to the next tick: the interval, or less when a back-off ends sooner (a
        failed replica is replaced when its back-off ends, not up to a tick later)."""
        if self._retry_due is None:
            return self.interval
        left = (self._retry_due - datetime.now(UTC)).total_seconds()
        return min(self.interval, max(0.01, left))

    def tick(self) -> None:
        if not self.lease.hold():
            self.leading_since = None
            return  # another replica runs the controller
        if self.leading_since is None:
            self.leading_since = datetime.now(UTC)
        with self.db.session() as s:
            ids = list(s.scalars(select(Deployment.id).order_by(Deployment.id)))
        submitted = 0
        due: list[datetime] = []
        for deployment_id in ids:
            try:
                count, retry_at = self._reconcile(deployment_id)
            except Exception:
                log.exception("deployment %d: reconcile failed; trying again", deployment_id)
                continue
            submitted += count
            if retry_at is not None:
                due.append(retry_at)
        self._retry_due = min(due, default=None)
        if submitted and self.on_submit is not None:
            self.on_submit()

    def _reconcile(self, deployment_id: int) -> tuple[int, datetime | None]:
        """One pass: the replicas it submitted, and when its back-off ends (if it waits)."""
        with self.db.session() as s:
            d = s.get(Deployment, deployment_id, with_for_update=True)
            if d is None:
                return 0, None
            now = datetime.now(UTC)
            step = _Pass(self, s, d, now)
            step.run()
            waiting = d.retry_at if d.retry_at is not None and d.retry_at > now else None
            if not self.lease.renew(s):
                s.rollback()  # another replica leads now; it will redo this pass
                return 0, None
            return step.submitted, waiting
