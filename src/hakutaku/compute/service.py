"""Jobs as users see them: submit (checked against the policy), list, show, cancel, extend."""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hakutaku.compute.accelerators import (
    Accelerator,
    available_accelerators,
    total_memory_mb,
    usable_cpus,
    visible_devices_env,
)
from hakutaku.compute.backends.base import Backend, ChangeRefused, JobRequest, SubmitRefused
from hakutaku.compute.backends.local import LocalBackend
from hakutaku.compute.capacity import Capacity, device_key
from hakutaku.compute.policy import PartitionSpec, Policy, QosSpec
from hakutaku.compute.policy_store import read_policy
from hakutaku.compute.request import (
    JobRefused,
    JobSubmission,
    Resolved,
    check_extension,
    resolve,
    time_room,
)
from hakutaku.compute.states import ACTIVE_STATES, JobState
from hakutaku.compute.units import format_duration
from hakutaku.config import Settings
from hakutaku.db.models import Group, Job, User
from hakutaku.db.session import affected_rows
from hakutaku.errors import Conflict, Forbidden, NotFound, PlatformError
from hakutaku.identity.auth import Principal

# Variables of the server that a job must not inherit (secrets, the database's password).
_SERVER_ONLY = ("HAI_SERVER_SECRET", "HAI_WORKER_TOKEN", "HAI_API_KEY", "HAI_DATABASE_URL")


def make_backend(settings: Settings, on_exit: Callable[[], None] | None = None) -> Backend:
    """The configured backend; `on_exit` is called when a local job ends (to start the next)."""
    if settings.compute_backend == "local":
        return LocalBackend(settings.jobs_path, on_exit)
    if settings.compute_backend == "slurm":
        from hakutaku.compute.backends.slurm import SlurmBackend

        return SlurmBackend(settings)
    raise ValueError(
        f"HAI_COMPUTE_BACKEND={settings.compute_backend!r}: choose `local` or `slurm`."
    )


def job_environment() -> dict[str, str]:
    """The environment a local job starts from: the server's, without its secrets."""
    return {k: v for k, v in os.environ.items() if k not in _SERVER_ONLY}


class ComputeService:
    def __init__(self, settings: Settings, on_job_exit: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.backend = make_backend(settings, on_job_exit)
        self.accelerators: tuple[Accelerator, ...] = tuple(
            available_accelerators(settings.accelerators)
        )
        self.capacity = Capacity(
            cpus=settings.local_cpus or usable_cpus(),
            mem_mb=settings.local_mem_mb or total_memory_mb(),
            accelerators=self.accelerators,
        )

    # -- submit --------------------------------------------------------------------------------

    def submit(self, s: Session, who: Principal, sub: JobSubmission) -> Job:
        resolved = resolve(sub, read_policy(s))
        if not self.backend.queues_itself:
            why = self.capacity.never_fits(
                resolved.cpus,
                resolved.mem_mb,
                resolved.accelerator,
                resolved.accelerator_model,
                resolved.accelerators,
            )
            if why:
                raise JobRefused(
                    f"This job can never start on the local backend: {why}. Ask for less, or "
                    "run it on a cluster (HAI_COMPUTE_BACKEND=slurm).",
                    code="exceeds_machine",
                )
            if sub.workdir and not Path(sub.workdir).is_dir():
                raise JobRefused(
                    f"The working directory {sub.workdir} does not exist; create it first.",
                    param="workdir",
                )
        # Lock the user's row so that two submissions at once cannot both pass MaxSubmitPU.
        user = s.scalars(select(User).where(User.id == who.user_id).with_for_update()).one()
        self._check_submit_limit(s, user, resolved)
        job = Job(
            user_id=user.id,
            account=self._account(s, who, sub.account),
            name=sub.name or _default_name(sub),
            command=list(sub.command),
            script=sub.script,
            workdir=sub.workdir or str(self.user_home(user.name)),
            env=dict(sub.env),
            partition=resolved.partition.name,
            qos=resolved.qos.name,
            cpus=resolved.cpus,
            mem_mb=resolved.mem_mb,
            accelerator=resolved.accelerator,
            accelerator_model=resolved.accelerator_model,
            accelerators=resolved.accelerators,
            time_limit=resolved.time_limit,
            priority=resolved.qos.priority,
            backend=self.backend.name,
            state=JobState.PENDING.value,
            submitted_at=datetime.now(UTC),
        )
        s.add(job)
        s.flush()  # the id names the job's folder
        job.log_path = str(self.job_dir(job.id) / "output.log")
        if self.backend.queues_itself:
            self.hand_over(job, user.name, [])
        return job

    def hand_over(self, job: Job, user: str, devices: list[Accelerator]) -> None:
        """Give the job to the backend; refusals become a 400 naming the backend's reason."""
        env = {**job.env, "HAI_JOB_ID": str(job.id), "HAI_URL": self.settings.server_url}
        if not self.backend.queues_itself:
            env = {**job_environment(), **visible_devices_env(devices, self.accelerators), **env}
        request = JobRequest(
            id=job.id,
            user=user,
            account=job.account,
            name=job.name,
            command=list(job.command),
            script=job.script,
            workdir=job.workdir,
            env=env,
            partition=job.partition,
            qos=job.qos,
            cpus=job.cpus,
            mem_mb=job.mem_mb,
            accelerator=job.accelerator,
            accelerator_model=job.accelerator_model,
            accelerators=job.accelerators,
            time_limit=job.time_limit,
            job_dir=str(self.job_dir(job.id)),
            log_path=job.log_path or str(self.job_dir(job.id) / "output.log"),
            devices=[a.index for a in devices],
        )
        self.job_dir(job.id).mkdir(parents=True, exist_ok=True)
        try:
            job.external_id = self.backend.submit(request)
        except SubmitRefused as exc:
            raise JobRefused(str(exc), code="refused_by_backend") from exc
        job.devices = [device_key(a) for a in devices]

    def _check_submit_limit(self, s: Session, user: User, resolved: Resolved) -> None:
        limit = resolved.qos.max_submit_pu
        if limit is None:
            return
        active = s.scalar(
            select(func.count())
            .select_from(Job)
            .where(
                Job.user_id == user.id,
                Job.qos == resolved.qos.name,
                Job.state.in_([st.value for st in ACTIVE_STATES]),
            )
        )
        if active is not None and active >= limit:
            raise JobRefused(
                f"QOS {resolved.qos.name!r} allows {limit} jobs per user pending or running "
                f"(MaxSubmitPU); you have {active}. Wait for some to finish, cancel some, or use "
                "another QOS.",
                param="qos",
                code="qos_max_submit_per_user",
            )

    def _account(self, s: Session, who: Principal, asked: str | None) -> str | None:
        if asked is None:
            return min(who.groups) if who.groups else None
        if s.scalar(select(Group.id).where(Group.name == asked)) is None:
            raise JobRefused(
                f"No group {asked!r} to bill; --account takes one of your groups "
                f"({', '.join(sorted(who.groups)) or 'none'}).",
                param="account",
            )
        if asked not in who.groups and not who.is_admin:
            raise Forbidden(
                f"You are not a member of group {asked!r}, so jobs cannot be billed to it; "
                f"your groups: {', '.join(sorted(who.groups)) or 'none'}."
            )
        return asked

    # -- read, cancel ----------------------------------------------------------------------------

    def get(self, s: Session, who: Principal, job_id: int) -> Job:
        job = s.get(Job, job_id)
        if job is None or (job.user_id != who.user_id and not who.is_admin):
            raise NotFound(f"No job {job_id} (that you can see); `hai jobs list` shows yours.")
        return job

    def list(
        self,
        s: Session,
        who: Principal,
        *,
        everyone: bool = False,
        user: str | None = None,
        states: list[str] | None = None,
        limit: int = 200,
    ) -> list[Job]:
        query = select(Job).order_by(Job.id.desc()).limit(limit)
        if user is not None and user != who.user:
            if not who.is_admin:
                raise Forbidden("Only admins may list other users' jobs.")
            query = query.join(User, User.id == Job.user_id).where(User.name == user)
        elif not (everyone and who.is_admin):
            query = query.where(Job.user_id == who.user_id)
        if states:
            unknown = set(states) - {st.value for st in JobState}
            if unknown:
                raise PlatformError(
                    f"Unknown state(s) {', '.join(sorted(unknown))}; states are "
                    f"{', '.join(st.value for st in JobState)}."
                )
            query = query.where(Job.state.in_(states))
        return list(s.scalars(query))

    def cancel(self, s: Session, who: Principal, job_id: int) -> Job:
        job = self.get(s, who, job_id)
        if JobState(job.state).final:
            raise Conflict(f"Job {job_id} has already ended ({job.state}); nothing to cancel.")
        if job.external_id is None and self._cancel_queued(s, job):
            return job
        if job.external_id is None:  # neither queued nor handed over: changing under us
            raise Conflict(f"Job {job.id} is changing state ({job.state}); try the cancel again.")
        self.backend.cancel(job.external_id)
        job.reason = "cancel requested"
        return job

    def _cancel_queued(self, s: Session, job: Job) -> bool:
        """Cancel a job still in the platform's own queue; False if the scheduler claimed it
        meanwhile (then it must be cancelled in the backend).

        One conditional UPDATE, against the scheduler's claim (`external_id IS NULL`): of the
        two, exactly one wins, so a job is never both cancelled here and started there.
        """
        ended = datetime.now(UTC)
        reason = "cancelled before it started"
        done = s.execute(
            update(Job)
            .where(
                Job.id == job.id,
                Job.external_id.is_(None),
                Job.state == JobState.PENDING.value,
            )
            .values(state=JobState.CANCELLED.value, ended_at=ended, reason=reason)
            .execution_options(synchronize_session=False)
        )
        s.refresh(job)
        if affected_rows(done):
            return True
        if JobState(job.state).final:
            raise Conflict(f"Job {job.id} has already ended ({job.state}); nothing to cancel.")
        return False

    # -- extend ----------------------------------------------------------------------------------

    def extend(self, s: Session, who: Principal, job_id: int, by: int, what: str = "job") -> Job:
        """Raise a pending or running job's time limit by `by` seconds, within the same limits
        as at submission (the partition's MaxTime, the QOS's MaxWall: `check_extension`).

        The jobs row is updated first, conditionally on the limit that was checked (two
        extensions at once cannot both pass the check against the same old limit), then the
        backend is told; if it refuses, the caller's transaction rolls the row back. A job
        still in the platform's own queue needs no backend: it starts with the new limit.
        Accounting is unchanged: a job is billed for the time it ran, not for its limit.
        `what` names the job in refusals ("session" for an app's job)."""
        job = self.get(s, who, job_id)
        if JobState(job.state).final:
            raise Conflict(
                f"Job {job_id} has already ended ({job.state}); an ended job cannot be "
                "extended. Start a new one."
            )
        partition, qos = self._limits_of(s, job)
        old = job.time_limit
        new = check_extension(partition, qos, old, by, what)
        done = s.execute(
            update(Job)
            .where(
                Job.id == job.id,
                Job.time_limit == old,
                Job.state.in_([st.value for st in ACTIVE_STATES]),
            )
            .values(time_limit=new)
            .execution_options(synchronize_session=False)
        )
        s.refresh(job)
        if not affected_rows(done):
            if JobState(job.state).final:
                raise Conflict(f"Job {job_id} has just ended ({job.state}); it cannot be extended.")
            raise Conflict(f"Job {job_id}'s time limit changed meanwhile; try again.")
        if job.external_id is not None:
            try:
                self.backend.set_time_limit(job.external_id, new)
            except ChangeRefused as exc:
                if exc.ended:
                    raise Conflict(
                        f"Job {job_id} has already ended in {self.backend.name}; an ended job "
                        "cannot be extended."
                    ) from exc
                raise JobRefused(str(exc), code="refused_by_backend") from exc
        return job

    def extension_room(self, policy: Policy, job: Job) -> int:
        """Seconds this job may still be extended by under `policy` (0 once it has ended)."""
        partition, qos = policy.partitions.get(job.partition), policy.qos.get(job.qos)
        if JobState(job.state).final or partition is None or qos is None:
            return 0
        return time_room(partition, qos, job.time_limit)

    def _limits_of(self, s: Session, job: Job) -> tuple[PartitionSpec, QosSpec]:
        """The job's partition and QOS in the policy now (an admin may have changed it)."""
        policy = read_policy(s)
        partition, qos = policy.partitions.get(job.partition), policy.qos.get(job.qos)
        if partition is None or qos is None:
            gone = f"partition {job.partition!r}" if partition is None else f"QOS {job.qos!r}"
            raise JobRefused(
                f"Job {job.id}'s {gone} is no longer in the compute policy, so its time limit "
                "cannot be checked or extended; ask an operator.",
                param="by",
            )
        return partition, qos

    # -- places ----------------------------------------------------------------------------------

    def job_dir(self, job_id: int) -> Path:
        return self.settings.jobs_path / str(job_id)

    def user_home(self, user: str) -> Path:
        """The user's storage home, where jobs start by default."""
        home = self.settings.storage_path / "home" / user
        if not home.exists():
            home.mkdir(parents=True, exist_ok=True)
            if self.backend.queues_itself:
                _give_to_unix_user(home, user)
        return home


def _default_name(sub: JobSubmission) -> str:
    if sub.command:
        return Path(sub.command[0]).name[:128]
    return "script"


def job_record(job: Job, user: str) -> dict[str, object]:
    """A job as the API and `--json` show it."""
    record = {
        c.name: getattr(job, c.name)
        for c in Job.__table__.columns
        if c.name not in ("env", "runner_pid", "accounted", "user_id")
    }
    record["user"] = user
    record["time_limit_text"] = format_duration(job.time_limit)
    return record


def _give_to_unix_user(path: Path, user: str) -> None:
    """Slurm runs jobs as the user: a home the server (root) made must be theirs to write."""
    if os.geteuid() != 0:
        return
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return  # no such Unix user: jobs run as the server's user, who owns the folder
    os.chown(path, entry.pw_uid, entry.pw_gid)
