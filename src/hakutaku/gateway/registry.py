"""This replica's view of models and workers, refreshed from the database every second or so.

Routing reads only this snapshot (no database on the request path). Worker liveness is the
database's `last_heartbeat_at`; a replica also stops routing to a worker at once when a
connection to it fails (`mark_dead`), until that worker beats again.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from hakutaku.db.models import Deployment, Model, Worker
from hakutaku.db.session import Database, affected_rows
from hakutaku.identity.auth import Principal
from hakutaku.identity.secrets import SecretBox


@dataclass(slots=True)
class ModelEntry:
    name: str
    kind: str
    description: str
    public: bool
    groups: frozenset[str]
    users: frozenset[str]
    created: int
    upstream_base_url: str | None = None
    upstream_model: str | None = None
    upstream_api_key: str | None = None

    def permits(self, who: Principal) -> bool:
        return (
            self.public
            or who.is_admin
            or who.user in self.users
            or not self.groups.isdisjoint(who.groups)
        )


@dataclass(slots=True)
class WorkerEntry:
    id: str
    model: str
    url: str
    methods: dict[str, dict]
    max_inflight: int
    last_beat: datetime
    inflight: int = 0  # calls this replica has open on it
    # when this replica saw it fail: it is used again only after a heartbeat newer than that
    dead_since_beat: datetime | None = None
    call_token: str | None = None  # what to call it with; None: the global worker token
    draining: bool = False  # being replaced or removed: no new calls

    @property
    def load(self) -> float:
        # This replica's own count, not the heartbeat's: a beat is up to an interval old, and
        # a stale "busy" would send every call to the other workers. Across replicas the
        # worker's own in-flight limit (429) is the hard bound.
        return self.inflight / max(self.max_inflight, 1)


@dataclass
class Snapshot:
    models: dict[str, ModelEntry] = field(default_factory=dict)
    workers: dict[str, list[WorkerEntry]] = field(default_factory=dict)
    deployed: frozenset[str] = frozenset()  # models of active deployments (they may scale up)


class Registry:
    def __init__(self, db: Database, box: SecretBox, heartbeat_timeout: float) -> None:
        self.db = db
        self.box = box
        self.heartbeat_timeout = heartbeat_timeout
        self.snapshot = Snapshot()
        self._turn = itertools.count()
        self.refreshed_at = 0.0

    # -- reads on the request path ---------------------------------------------------------

    def model(self, name: str) -> ModelEntry | None:
        return self.snapshot.models.get(name)

    def workers(self, model: str) -> list[WorkerEntry]:
        return self.snapshot.workers.get(model, [])

    def methods(self, model: str) -> dict[str, dict]:
        merged: dict[str, dict] = {}
        for w in self.workers(model):
            merged.update(w.methods)
        return merged

    def pick(
        self, model: str, method: str, exclude: set[str] | None = None
    ) -> tuple[WorkerEntry | None, bool]:
        """The least-loaded live worker offering `method`; (None, busy) when there is none.

        `busy` is True when live workers exist but all are at their in-flight limit.
        Ties rotate, so sequential calls spread over equal workers.
        """
        candidates = [
            w
            for w in self.workers(model)
            if w.dead_since_beat is None
            and not w.draining
            and method in w.methods
            and (exclude is None or w.id not in exclude)
        ]
        if not candidates:
            return None, False
        free = [w for w in candidates if w.inflight < w.max_inflight]
        if not free:
            return None, True
        turn = next(self._turn)
        n = len(free)
        return min((free[(turn + i) % n] for i in range(n)), key=lambda w: w.load), False

    def mark_dead(self, worker: WorkerEntry) -> None:
        # The moment of the failure, not the last beat this replica has read: a beat the
        # worker sent just before it died may be in the database and not read yet, and must
        # not bring it back at the next refresh.
        worker.dead_since_beat = max(worker.last_beat, datetime.now(UTC))

    def visible_models(self, who: Principal) -> list[ModelEntry]:
        return [
            m
            for m in self.snapshot.models.values()
            if m.permits(who)
            and (m.kind != "worker" or self.workers(m.name) or m.name in self.snapshot.deployed)
        ]

    # -- refresh (blocking; runs in a thread) ------------------------------------------------

    def refresh(self) -> None:
        now = datetime.now(UTC)
        cutoff = now - timedelta(seconds=self.heartbeat_timeout)
        with self.db.session() as s:
            model_rows = list(s.scalars(select(Model)))
            worker_rows = list(s.scalars(select(Worker)))
            deployed = frozenset(
                s.scalars(select(Deployment.name).where(Deployment.state == "active"))
            )
        previous = {w.id: w for ws in self.snapshot.workers.values() for w in ws}
        models = {m.name: self._model_entry(m) for m in model_rows}
        workers: dict[str, list[WorkerEntry]] = {}
        for row in worker_rows:
            beat = row.last_heartbeat_at
            if beat < cutoff:
                continue
            entry = self._worker_entry(row, beat, previous.get(row.id))
            workers.setdefault(row.model, []).append(entry)
        self.snapshot = Snapshot(models=models, workers=workers, deployed=deployed)
        self.refreshed_at = time.monotonic()

    def reap(self) -> int:
        """Delete workers silent for longer than the heartbeat timeout; any replica may do it."""
        cutoff = datetime.now(UTC) - timedelta(seconds=self.heartbeat_timeout)
        with self.db.session() as s:
            result = s.execute(delete(Worker).where(Worker.last_heartbeat_at < cutoff))
            return affected_rows(result)

    def _call_token(self, sealed: str | None) -> str | None:
        if sealed is None:
            return None
        try:
            return self.box.open(sealed)
        except ValueError:
            return None  # the server secret changed; the worker's next registration mends it

    def _model_entry(self, m: Model) -> ModelEntry:
        key = None
        if m.upstream_api_key:
            try:
                key = self.box.open(m.upstream_api_key)
            except ValueError:
                key = None
        return ModelEntry(
            name=m.name,
            kind=m.kind,
            description=m.description,
            public=m.public,
            groups=frozenset(m.allowed_groups or ()),
            users=frozenset(m.allowed_users or ()),
            created=int(m.created_at.timestamp()),
            upstream_base_url=m.upstream_base_url,
            upstream_model=m.upstream_model,
            upstream_api_key=key,
        )

    def _worker_entry(self, row: Worker, beat: datetime, old: WorkerEntry | None) -> WorkerEntry:
        if old is None:
            return WorkerEntry(
                id=row.id,
                model=row.model,
                url=row.url.rstrip("/"),
                methods=row.methods or {},
                max_inflight=row.max_inflight,
                last_beat=beat,
                call_token=self._call_token(row.call_token),
                draining=row.draining,
            )
        # The same object lives on: calls in flight hold it and decrement its `inflight`.
        old.url = row.url.rstrip("/")
        old.methods = row.methods or {}
        old.max_inflight = row.max_inflight
        old.last_beat = beat
        old.draining = row.draining
        if old.dead_since_beat is not None and beat > old.dead_since_beat:
            old.dead_since_beat = None  # it beat again after we saw it fail
        return old
