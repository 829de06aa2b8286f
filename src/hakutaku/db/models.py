"""The platform's tables (SQLAlchemy 2). Changes here need an Alembic revision."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored and returned in UTC, aware, on every backend.

    SQLite keeps no time zone and hands back naive values; this attaches UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
    }


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="user")  # "admin" | "user"
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the portal's sign-in: an argon2 hash (None: no password, SSO or keys only)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_set_at: Mapped[datetime | None] = mapped_column()
    locale: Mapped[str | None] = mapped_column(String(16))  # None: the browser's language

    groups: Mapped[list[Group]] = relationship(secondary="group_members", back_populates="users")


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    users: Mapped[list[User]] = relationship(secondary="group_members", back_populates="groups")


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class ApiKey(Base):
    """An API key. Only the HMAC-SHA256 of the whole key is stored; `prefix` finds the row."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    # calls per minute through the gateway; None: the platform's default (HAI_RATE_LIMIT)
    rate_limit: Mapped[int | None] = mapped_column(Integer)

    user: Mapped[User] = relationship()


class Model(Base):
    """A model callers can name: hosted by workers, or proxied to an OpenAI-compatible upstream."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="worker")  # "worker" | "upstream"
    description: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    allowed_users: Mapped[list[str]] = mapped_column(JSON, default=list)
    upstream_base_url: Mapped[str | None] = mapped_column(String(1024))
    upstream_model: Mapped[str | None] = mapped_column(String(256))
    upstream_api_key: Mapped[str | None] = mapped_column(Text)  # encrypted with the server secret
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # who may create worker tokens for it (None: admins only); set when a user claims the name
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Worker(Base):
    """A running worker process; rows vanish when it deregisters or stops beating."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    url: Mapped[str] = mapped_column(String(1024))
    methods: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    max_inflight: Mapped[int] = mapped_column(Integer, default=32)
    inflight: Mapped[int] = mapped_column(Integer, default=0)
    served: Mapped[int] = mapped_column(Integer, default=0)
    host: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int | None] = mapped_column(Integer)
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the secret the gateway calls it with (chosen by the worker; sealed with the server secret)
    call_token: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[int | None] = mapped_column(Integer, index=True)  # the job it runs in, if any
    draining: Mapped[bool] = mapped_column(Boolean, default=False)  # no new calls routed to it


class WorkerToken(Base):
    """A worker token scoped to one model: it can register (and beat for) that model only.

    Only the HMAC-SHA256 of the secret is stored; the token is `hai-wt.<id>.<secret>`.
    """

    __tablename__ = "worker_tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    deployment_id: Mapped[int | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    note: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class Deployment(Base):
    """A model served by worker jobs that the controller keeps between min and max replicas."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)  # the model's name
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    account: Mapped[str | None] = mapped_column(String(64))  # the group billed, if any
    kind: Mapped[str] = mapped_column(String(16))  # worker | module | hub | openai-server
    target: Mapped[str] = mapped_column(Text)
    partition: Mapped[str | None] = mapped_column(String(64))
    qos: Mapped[str | None] = mapped_column(String(64))
    gpus: Mapped[str | None] = mapped_column(String(64))
    cpus: Mapped[int] = mapped_column(Integer, default=1)
    mem: Mapped[str] = mapped_column(String(32), default="2G")
    time: Mapped[str | None] = mapped_column(String(32))
    min_replicas: Mapped[int] = mapped_column(Integer, default=1)
    max_replicas: Mapped[int] = mapped_column(Integer, default=1)
    target_inflight: Mapped[float] = mapped_column(Float, default=4.0)
    idle_timeout: Mapped[int] = mapped_column(Integer, default=900)  # seconds
    desired: Mapped[int] = mapped_column(Integer, default=1)  # the autoscaler's choice
    generation: Mapped[int] = mapped_column(Integer, default=1)  # +1 at every update
    state: Mapped[str] = mapped_column(String(16), default="active")  # active | deleting
    token: Mapped[str] = mapped_column(Text)  # its replicas' worker token, sealed
    failures: Mapped[int] = mapped_column(Integer, default=0)  # replica failures in a row
    retry_at: Mapped[datetime | None] = mapped_column()  # back-off after failures
    busy_at: Mapped[datetime | None] = mapped_column()  # last time load needed every replica
    wanted_at: Mapped[datetime | None] = mapped_column()  # a call found no replica (cold start)
    message: Mapped[str] = mapped_column(Text, default="")  # the controller's last word on it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeploymentReplica(Base):
    """One worker job of a deployment, from submission until its job has ended."""

    __tablename__ = "deployment_replicas"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), unique=True)
    generation: Mapped[int] = mapped_column(Integer)
    # starting | ready | draining | stopping | ended
    state: Mapped[str] = mapped_column(String(16), default="starting")
    ended_why: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column()
    draining_since: Mapped[datetime | None] = mapped_column()


class UsageEvent(Base):
    """One gateway call; written in batches by the usage recorder."""

    __tablename__ = "usage_events"
    __table_args__ = (
        # Covering for a user's calls over time (the daily usage series): the columns summed
        # are in the index, so a month of a busy user's calls is read without the table.
        Index(
            "ix_usage_user_ts_use",
            "user_id",
            "ts",
            "model",
            "status",
            "prompt_tokens",
            "completion_tokens",
        ),
        UniqueConstraint("request_id", name="uq_usage_request_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ts: Mapped[datetime] = mapped_column()
    request_id: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(128))
    method: Mapped[str] = mapped_column(String(128))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)


class Meta(Base):
    """Small platform-wide values (e.g. when the bootstrap admin was made)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Lease(Base):
    """A named lease: which process runs a single-leader loop, and until when (db/lease.py)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(255))  # none: free (released)
    # +1 at every change of holder: a holder's writes are fenced by its term.
    term: Mapped[int] = mapped_column(BigInteger, default=0)
    acquired_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()


# ----------------------------------------------------------------------------- compute


class Partition(Base):
    """A set of nodes with one kind of accelerator (or none), and its time limits."""

    __tablename__ = "partitions"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    accelerator: Mapped[str] = mapped_column(String(16), default="cpu")  # gpu | dcu | npu | cpu
    accelerator_models: Mapped[list[str]] = mapped_column(JSON, default=list)  # e.g. ["a800"]
    nodes: Mapped[list[str]] = mapped_column(JSON, default=list)
    default_time: Mapped[int] = mapped_column(Integer, default=3600)  # seconds
    max_time: Mapped[int] = mapped_column(Integer, default=2 * 86400)
    allowed_qos: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: any
    default_qos: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")


class Qos(Base):
    """A quality of service: priority and per-user limits (Slurm's names and meaning)."""

    __tablename__ = "qos"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    max_tres_pu: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"cpu": 32, ...}
    max_wall: Mapped[int | None] = mapped_column(Integer)  # seconds
    max_submit_pu: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")


class Job(Base):
    """A batch job, from submission to its final state; the backend's id is `external_id`."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_state", "state"),
        Index("ix_jobs_user_state", "user_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    account: Mapped[str | None] = mapped_column(String(64))  # the group billed
    name: Mapped[str] = mapped_column(String(128), default="")
    command: Mapped[list[str]] = mapped_column(JSON, default=list)
    script: Mapped[str | None] = mapped_column(Text)
    workdir: Mapped[str] = mapped_column(String(1024), default="")
    env: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    partition: Mapped[str] = mapped_column(String(64))
    qos: Mapped[str] = mapped_column(String(64))
    cpus: Mapped[int] = mapped_column(Integer, default=1)
    mem_mb: Mapped[int] = mapped_column(Integer, default=1024)
    accelerator: Mapped[str] = mapped_column(String(16), default="cpu")  # gpu | dcu | npu | cpu
    accelerator_model: Mapped[str | None] = mapped_column(String(64))
    accelerators: Mapped[int] = mapped_column(Integer, default=0)
    time_limit: Mapped[int] = mapped_column(Integer)  # seconds
    priority: Mapped[int] = mapped_column(Integer, default=0)  # the QOS priority at submission
    backend: Mapped[str] = mapped_column(String(16))  # local | slurm
    state: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str] = mapped_column(Text, default="")
    external_id: Mapped[str | None] = mapped_column(String(64))
    node: Mapped[str | None] = mapped_column(String(255))
    devices: Mapped[list[str]] = mapped_column(JSON, default=list)
    runner_pid: Mapped[int | None] = mapped_column(Integer)
    log_path: Mapped[str | None] = mapped_column(String(1024))
    exit_code: Mapped[int | None] = mapped_column(Integer)
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    accounted: Mapped[bool] = mapped_column(Boolean, default=False)


# ----------------------------------------------------------------------------- storage


class StorageQuota(Base):
    """A user's storage limits where they differ from the defaults."""

    __tablename__ = "storage_quotas"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    max_bytes: Mapped[int] = mapped_column(BigInteger)
    max_files: Mapped[int] = mapped_column(Integer)


class Upload(Base):
    """A chunked, resumable upload in progress (the bytes sit in a part file)."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    area: Mapped[str] = mapped_column(String(16), default="home")  # home | public
    path: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | done | failed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# -------------------------------------------------------------------------- accounting


class LedgerEntry(Base):
    """One measured use of one resource: job card-hours, CPU-hours, model calls or tokens.

    (source, ref, resource) is unique, so recording the same job twice changes nothing.
    """

    __tablename__ = "ledger"
    __table_args__ = (
        UniqueConstraint("source", "ref", "resource", name="uq_ledger_source_ref_resource"),
        Index("ix_ledger_period_user", "period", "user_id"),
        Index("ix_ledger_period_account", "period", "account"),
        # Covering indexes for a user's, a group's and the platform's months: the usage charts
        # and statements sum a year of ledger rows from the index alone, without a table read
        # per row (a heavy user's year: 20k rows, 0.4 s from the table, 15 ms from the index).
        Index(
            "ix_ledger_user_use",
            "user_id",
            "period",
            "source",
            "account",
            "resource",
            "unit",
            "quantity",
        ),
        Index("ix_ledger_period_use", "period", "source", "resource", "unit", "quantity"),
        Index(
            "ix_ledger_account_use",
            "account",
            "period",
            "source",
            "user_id",
            "resource",
            "unit",
            "quantity",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ts: Mapped[datetime] = mapped_column(default=utcnow)  # when the use ended
    period: Mapped[str] = mapped_column(String(7))  # "YYYY-MM" of ts
    user_id: Mapped[int | None] = mapped_column(Integer)
    account: Mapped[str | None] = mapped_column(String(64))  # group billed
    source: Mapped[str] = mapped_column(String(16))  # job | model | workflow
    ref: Mapped[str] = mapped_column(String(128))  # job id, or model/method/day
    resource: Mapped[str] = mapped_column(String(96))  # "gpu:a800", "cpu", "model:chat:tokens"
    quantity: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))  # hour | call | 1k-tokens


class Price(Base):
    """Price per unit of a resource (a ledger `resource`, or its type such as `gpu`) from a
    month on. A month is priced by each resource's row with the latest `since` at or before
    it, so a change never reprices months already billed; `price` None marks the resource
    unpriced from `since` (its price was removed)."""

    __tablename__ = "prices"

    resource: Mapped[str] = mapped_column(String(96), primary_key=True)
    since: Mapped[str] = mapped_column(String(7), primary_key=True)  # "YYYY-MM"
    unit: Mapped[str] = mapped_column(String(16))
    price: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(8), default="CNY")
    description: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Contribution(Base):
    """Hardware a group contributed, as credit hours of one resource per month."""

    __tablename__ = "contributions"

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(64), index=True)
    resource: Mapped[str] = mapped_column(String(96))
    hours_per_month: Mapped[float] = mapped_column(Float)
    since: Mapped[str] = mapped_column(String(7))  # first period, "YYYY-MM"
    until: Mapped[str | None] = mapped_column(String(7))  # last period, or open-ended
    description: Mapped[str] = mapped_column(Text, default="")


# --------------------------------------------------------------------------------- hub


class HubArchitecture(Base):
    """A user-registered model architecture: an importable `module:callable` builder.

    The server only records the builder; clients import and call it (the server never does).
    The built-in taggers (pfn, pcnn, particlenet, part) are not rows: every client has them.
    """

    __tablename__ = "hub_architectures"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    builder: Mapped[str] = mapped_column(String(512))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    owner: Mapped[User] = relationship()


class HubWeights(Base):
    """One version of an architecture's weights; the file lives under the storage root."""

    __tablename__ = "hub_weights"
    __table_args__ = (
        UniqueConstraint("architecture", "version", name="uq_hub_weights_architecture_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    architecture: Mapped[str] = mapped_column(String(128), index=True)  # built-in or registered
    version: Mapped[str] = mapped_column(String(128))
    file: Mapped[str] = mapped_column(String(1024))  # relative to the storage root
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # builder keywords
    training_data: Mapped[str] = mapped_column(Text, default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    licence: Mapped[str] = mapped_column(String(128), default="")
    author: Mapped[str] = mapped_column(String(255), default="")  # who made them (free text)
    description: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    created_by: Mapped[User] = relationship()


class HubDataset(Base):
    """One version of a dataset's card: where its files are, their checksums and splits."""

    __tablename__ = "hub_datasets"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_hub_datasets_name_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    licence: Mapped[str] = mapped_column(String(128), default="")
    citation: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[str] = mapped_column(String(64), default="")
    # [{path, sha256, bytes, split}]: paths as registered (the public area, a shared disk)
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    splits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # split → number of jets
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    owner: Mapped[User] = relationship()


# ----------------------------------------------------------------------------- portal


class UserIdentity(Base):
    """A user's account at an OpenID Connect provider: (issuer, subject) signs in as the user."""

    __tablename__ = "user_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_user_identities_sub"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()


class WebSession(Base):
    """A signed-in browser. Only the HMAC of its cookie's token is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(16))  # password | oidc | link
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    address: Mapped[str] = mapped_column(String(64), default="")

    user: Mapped[User] = relationship()


class LoginLink(Base):
    """A one-time sign-in link (the bootstrap admin's first login, an admin's password reset)."""

    __tablename__ = "login_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))  # first-login | password-reset
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class Announcement(Base):
    """A notice admins write for everyone's dashboard."""

    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    level: Mapped[str] = mapped_column(String(16), default="info")  # info | warning
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()


class JobTemplate(Base):
    """A saved job form (OnDemand's Job Composer): a user's named submission to reuse."""

    __tablename__ = "job_templates"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_job_templates_user_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# -------------------------------------------------------------------------- monitoring


class ClusterPartition(Base):
    """The cluster as the monitor last read it (hakutaku.monitoring): one row per partition,
    and one with partition "" for the whole cluster, where each node counts once (partitions
    may share nodes). `cards` lists {kind, model, total, alloc, free} per card model."""

    __tablename__ = "cluster_partitions"

    partition: Mapped[str] = mapped_column(String(64), primary_key=True)
    accelerator: Mapped[str] = mapped_column(String(16), default="cpu")  # the policy's kind
    nodes: Mapped[int] = mapped_column(Integer, default=0)
    nodes_down: Mapped[int] = mapped_column(Integer, default=0)
    cpus_total: Mapped[int] = mapped_column(Integer, default=0)
    cpus_alloc: Mapped[int] = mapped_column(Integer, default=0)
    cpus_free: Mapped[int] = mapped_column(Integer, default=0)  # on nodes that are up
    mem_total_mb: Mapped[int] = mapped_column(BigInteger, default=0)
    mem_alloc_mb: Mapped[int] = mapped_column(BigInteger, default=0)
    mem_free_mb: Mapped[int] = mapped_column(BigInteger, default=0)
    cards: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    pending_jobs: Mapped[int] = mapped_column(Integer, default=0)  # the platform's jobs
    running_jobs: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(16), default="local")  # local | slurm
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClusterSample(Base):
    """One partition (or "" for the whole cluster) over `span` seconds: a monitor tick, or a
    5-minute roll-up of ticks (averages) for long windows — the charts' series."""

    __tablename__ = "cluster_samples"
    __table_args__ = (Index("ix_cluster_samples_span_t", "span", "t"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    t: Mapped[int] = mapped_column(BigInteger)  # Unix time, seconds (a roll-up: its start)
    span: Mapped[int] = mapped_column(Integer, default=0)  # 0: one tick; else a roll-up's
    partition: Mapped[str] = mapped_column(String(64))
    cards_total: Mapped[int] = mapped_column(Integer, default=0)
    cards_alloc: Mapped[float] = mapped_column(Float, default=0.0)
    cards_free: Mapped[float] = mapped_column(Float, default=0.0)
    cpus_total: Mapped[int] = mapped_column(Integer, default=0)
    cpus_alloc: Mapped[float] = mapped_column(Float, default=0.0)
    cpus_free: Mapped[float] = mapped_column(Float, default=0.0)
    pending_jobs: Mapped[float] = mapped_column(Float, default=0.0)
    running_jobs: Mapped[float] = mapped_column(Float, default=0.0)


class GatewaySample(Base):
    """One replica's gateway over one monitor tick (`seconds` long), or a 5-minute roll-up of
    ticks: calls, server errors (5xx), refusals (4xx), latency, its usage writer's queue."""

    __tablename__ = "gateway_samples"
    __table_args__ = (Index("ix_gateway_samples_span_t", "span", "t"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    t: Mapped[int] = mapped_column(BigInteger)  # Unix time (a tick's end; a roll-up's start)
    span: Mapped[int] = mapped_column(Integer, default=0)  # 0: one tick; else a roll-up's
    replica: Mapped[str] = mapped_column(String(255))
    seconds: Mapped[float] = mapped_column(Float)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    latency_sum: Mapped[float] = mapped_column(Float, default=0.0)  # seconds, over the calls
    p50_ms: Mapped[float | None] = mapped_column(Float)
    p95_ms: Mapped[float | None] = mapped_column(Float)
    usage_pending: Mapped[int] = mapped_column(Integer, default=0)
    usage_dropped: Mapped[int] = mapped_column(Integer, default=0)  # in this window
    usage_rejected: Mapped[int] = mapped_column(Integer, default=0)


class HomeUsage(Base):
    """What a user's home held when the monitor last measured it (the near-quota alert)."""

    __tablename__ = "home_usage"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    files: Mapped[int] = mapped_column(Integer, default=0)
    measured_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkerPresence(Base):
    """Live workers of a worker-hosted model at the monitor's last look, and when it last had
    one: a model that had workers and has none is an alert."""

    __tablename__ = "worker_presence"

    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    live: Mapped[int] = mapped_column(Integer, default=0)
    last_live_at: Mapped[datetime | None] = mapped_column()
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


# ----------------------------------------------------------------------------- workflows


class WorkflowCampaign(Base):
    """One run of a workflow campaign (hakutaku.workflows): its tasks are journaled below, so a
    campaign killed at any point resumes under the same name without redoing finished tasks."""

    __tablename__ = "workflow_campaigns"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_workflow_campaign_user_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(128))
    profile: Mapped[str] = mapped_column(String(16), default="local")  # local | slurm
    state: Mapped[str] = mapped_column(String(16), default="running")
    run_dir: Mapped[str] = mapped_column(String(1024))
    host: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int | None] = mapped_column(Integer)  # the steering process while it runs
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # How many times the campaign has been started (each resume is a new run).
    runs: Mapped[int] = mapped_column(Integer, default=0)
    # Its blocks are the owner's platform jobs, which the ledger bills already: its tasks are
    # then not billed a second time.
    blocks_are_jobs: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Also the steering process's heartbeat: its journal touches it every second or so.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkflowTask(Base):
    """One task of a campaign: the hash of its inputs (`key`), its state, timings, CPU time and
    where its result lies (a folder; results never travel through the database)."""

    __tablename__ = "workflow_tasks"
    __table_args__ = (
        UniqueConstraint("campaign_id", "key", name="uq_workflow_task_campaign_key"),
        Index("ix_workflow_tasks_campaign_state", "campaign_id", "state"),
        Index("ix_workflow_tasks_accounted_state", "accounted", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("workflow_campaigns.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # python | executable
    pool: Mapped[str] = mapped_column(String(64), default="default")
    cpus: Mapped[int] = mapped_column(Integer, default=1)
    cards: Mapped[int] = mapped_column(Integer, default=0)  # accelerator cards it asked for
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    task_dir: Mapped[str] = mapped_column(String(1024))
    result_ref: Mapped[str | None] = mapped_column(String(1024))
    error: Mapped[str] = mapped_column(Text, default="")
    cpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    wall_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()  # its latest attempt's start
    ended_at: Mapped[datetime | None] = mapped_column()
    run: Mapped[int] = mapped_column(Integer, default=0)  # the campaign's run it last ran in
    accounted: Mapped[bool] = mapped_column(Boolean, default=False)


class Paper(Base):
    """A PDF of a user's, indexed for questions (hakutaku.papers); the file stays in storage.

    Its chunk vectors live in a numpy file under $HAI_HOME/papers/<user_id>/<id>.npy (row i is
    the chunk of ordinal i), not in the database."""

    __tablename__ = "papers"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(1024))  # in the owner's home
    title: Mapped[str] = mapped_column(String(512))
    pages: Mapped[int] = mapped_column(Integer)
    chunks: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "path", name="uq_papers_user_path"),)


class PaperChunk(Base):
    """A passage of a paper: the text one vector was made from, and its page (1-based)."""

    __tablename__ = "paper_chunks"

    paper_id: Mapped[int] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    ordinal: Mapped[int] = mapped_column(Integer, primary_key=True)
    page: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)


# ----------------------------------------------------------------------------- chat


class ChatConversation(Base):
    """One user's chat conversation (hakutaku.chat): its title, system prompt, last model, and
    a share token when it is shared read-only with the platform's other signed-in users."""

    __tablename__ = "chat_conversations"
    __table_args__ = (
        # the history sidebar: one user's conversations, newest first, by keyset
        Index("ix_chat_conversations_user_updated", "user_id", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200), default="")
    model: Mapped[str | None] = mapped_column(String(128))
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    share_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    # the caller's papers attached to it: each question retrieves passages from them
    paper_ids: Mapped[list[int]] = mapped_column(JSON, default=list, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatMessage(Base):
    """One message of a conversation at position `seq` (1, 2, ...: no gaps, since edits and
    regenerations truncate), with the token counts the gateway reported for an answer."""

    __tablename__ = "chat_messages"
    __table_args__ = (UniqueConstraint("conversation_id", "seq", name="uq_chat_message_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("chat_conversations.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))  # user | assistant
    content: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(128))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    finish: Mapped[str | None] = mapped_column(String(16))  # stop | length | stopped | error
    # an answer from attached papers: the passages it was given [{paper_id, file, page, ...}]
    passages: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# ----------------------------------------------------------------------------- apps


class AppSession(Base):
    """An interactive app (Jupyter Lab, a terminal, …) running as one of its owner's jobs.

    The id is random and in the app's URL (/apps/<id>/); the proxy routes by it after checking
    the owner, and reaches the app at the job's node and the port the platform chose, with the
    per-session secret (sealed here) that the app requires and the browser never sees.
    """

    __tablename__ = "app_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    app: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), unique=True)
    port: Mapped[int] = mapped_column(Integer)
    secret: Mapped[str] = mapped_column(Text)  # sealed with the server secret
    ready_at: Mapped[datetime | None] = mapped_column()
    active_at: Mapped[datetime | None] = mapped_column()  # last use seen (idle culling)
    culled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
