"""App sessions: launch an app as the user's job, find it for the proxy, extend or stop it.

A launch is an ordinary job submission (`ComputeService.submit`: the same policy, limits,
queue and accounting as any job) whose command is the app's, with a port the platform chose
and a per-session secret it generated. The session row ties the random session id of the URL
to the job, its owner, the port and the sealed secret.
"""

from __future__ import annotations

import secrets
import socket
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hakutaku.apps.ending import ended_why
from hakutaku.apps.spec import AppSpec, load_apps
from hakutaku.compute.request import JobRefused, JobSubmission
from hakutaku.compute.service import ComputeService
from hakutaku.config import Settings
from hakutaku.db.models import AppSession, Job, User
from hakutaku.db.session import Database
from hakutaku.errors import NotFound
from hakutaku.identity.auth import Principal
from hakutaku.identity.secrets import SecretBox

APP_PREFIX = "/apps/"
# Slurm nodes: the platform cannot see their free ports, so it picks one at random from here
# (an app that finds it taken fails at once, and its card says so).
NODE_PORTS = (20000, 60999)


def base_url(session_id: str) -> str:
    return f"{APP_PREFIX}{session_id}/"


@dataclass(frozen=True)
class Target:
    """What the proxy needs to reach a session (or to say why it cannot)."""

    session_id: str
    user_id: int
    app: AppSpec
    host: str | None  # None until the job runs somewhere
    port: int
    secret: str
    state: str  # the job's state
    reason: str  # the scheduler's reason while pending
    ended: str | None  # why it ended (hakutaku.apps.ending), None while it lives
    ready: bool

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class Launch:
    app: str
    cpus: int | None = None
    mem: str | None = None
    time: str | None = None
    partition: str | None = None
    qos: str | None = None
    account: str | None = None
    # the folder the app works on (the training dashboard's run folder), as the job sees it:
    # relative to the session's working directory (the user's home) or absolute
    folder: str | None = None
    # more environment for the app's job, from the platform itself (never from a caller:
    # hakutaku.apps.training tells a submitted training's dashboard which job it follows)
    env: dict[str, str] = field(default_factory=dict)


class AppSessions:
    def __init__(
        self, settings: Settings, db: Database, compute: ComputeService, box: SecretBox
    ) -> None:
        self.settings = settings
        self.db = db
        self.compute = compute
        self.box = box
        self.apps = load_apps(settings.apps_file)

    @property
    def on_slurm(self) -> bool:
        return self.compute.backend.queues_itself

    def spec(self, name: str) -> AppSpec:
        spec = self.apps.get(name)
        if spec is None:
            raise JobRefused(f"No app {name!r}; apps: {', '.join(sorted(self.apps))}.", param="app")
        return spec

    # -- launch, stop ---------------------------------------------------------------------------

    def launch(self, s: Session, who: Principal, launch: Launch) -> AppSession:
        spec = self.spec(launch.app)
        session_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        port = self._choose_port()
        workdir = str(self.compute.user_home(who.user))
        folder = _folder(spec, launch.folder)
        values = {
            "python": self.settings.apps_python or sys.executable,
            "host": "0.0.0.0" if self.on_slurm else "127.0.0.1",
            "port": str(port),
            "base_url": base_url(session_id),
            "secret": secret,
            "workdir": workdir,
            "folder": folder or workdir,
        }
        command, env = spec.render(values)
        job = self.compute.submit(
            s,
            who,
            JobSubmission(
                command=command,
                name=f"app:{spec.name}",
                partition=launch.partition,
                qos=launch.qos,
                account=launch.account,
                cpus=launch.cpus or spec.cpus,
                mem=launch.mem or spec.mem,
                time=launch.time or spec.time,
                workdir=workdir,
                env={**launch.env, **env, "HAI_APP_SESSION": session_id},
            ),
        )
        row = AppSession(
            id=session_id,
            user_id=who.user_id,
            app=spec.name,
            job_id=job.id,
            port=port,
            secret=self.box.seal(secret),
            created_at=datetime.now(UTC),
        )
        s.add(row)
        s.flush()
        return row

    def _choose_port(self) -> int:
        if self.on_slurm:
            low, high = NODE_PORTS
            return low + secrets.randbelow(high - low + 1)
        with socket.socket() as sock:  # a port free on this machine now
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
            return port

    def stop(self, s: Session, who: Principal, session_id: str) -> AppSession:
        row, job = self.get(s, who, session_id)
        if ended_why(job) is None:
            self.compute.cancel(s, who, job.id)
        return row

    def extend(self, s: Session, who: Principal, session_id: str, by: int) -> AppSession:
        """More time for the session: its job's time limit, within the QOS's and partition's
        limits (`ComputeService.extend`; refusals speak of "this session")."""
        row, job = self.get(s, who, session_id)
        self.compute.extend(s, who, job.id, by, what="session")
        return row

    # -- read ----------------------------------------------------------------------------------

    def get(self, s: Session, who: Principal, session_id: str) -> tuple[AppSession, Job]:
        row = s.get(AppSession, session_id)
        if row is None or (row.user_id != who.user_id and not who.is_admin):
            raise NotFound(f"No app session {session_id} (that you can see).")
        job = s.get(Job, row.job_id)
        assert job is not None
        return row, job

    def listing(self, s: Session, who: Principal, limit: int = 50) -> list[tuple[AppSession, Job]]:
        query = (
            select(AppSession, Job)
            .join(Job, Job.id == AppSession.job_id)
            .where(AppSession.user_id == who.user_id)
            .order_by(AppSession.created_at.desc())
            .limit(limit)
        )
        return [(row, job) for row, job in s.execute(query).tuples()]

    def target(self, session_id: str) -> Target | None:
        """The session behind a URL (blocking: the proxy calls it in a thread, and caches)."""
        with self.db.session() as s:
            found = s.execute(
                select(AppSession, Job)
                .join(Job, Job.id == AppSession.job_id)
                .where(AppSession.id == session_id)
            ).first()
            if found is None:
                return None
            row, job = found
            spec = self.apps.get(row.app)
            if spec is None:
                return None
            return Target(
                session_id=row.id,
                user_id=row.user_id,
                app=spec,
                host=self._host(job),
                port=row.port,
                secret=self.box.open(row.secret),
                state=job.state,
                reason=job.reason or "",
                ended=ended_why(job, row.culled),
                ready=row.ready_at is not None,
            )

    def _host(self, job: Job) -> str | None:
        if job.state != "running":
            return None
        if not self.on_slurm:
            return "127.0.0.1"
        return job.node.split(",")[0] if job.node else None

    def mark_ready(self, session_id: str) -> None:
        with self.db.session() as s:
            row = s.get(AppSession, session_id)
            if row is not None and row.ready_at is None:
                row.ready_at = datetime.now(UTC)

    def owner_name(self, s: Session, row: AppSession) -> str:
        return s.scalars(select(User.name).where(User.id == row.user_id)).one()


def _folder(spec: AppSpec, folder: str | None) -> str | None:
    if folder is not None and (not folder.strip() or "\0" in folder or len(folder) > 4096):
        raise JobRefused(
            "folder must be a path (relative to your home, or absolute), not empty.",
            param="folder",
        )
    if folder is None and spec.needs_folder:
        raise JobRefused(
            f"The app {spec.name!r} works on a folder: give one (folder=..., e.g. a "
            "`hai hep train` run folder).",
            param="folder",
        )
    return folder
