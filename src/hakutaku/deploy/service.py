"""Deployments as their owners see them: create, list, show, scale, update, delete.

These only change the desired state in the database; the controller (one leader across
server replicas) makes the worker jobs follow it.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hakutaku.compute.policy_store import read_policy
from hakutaku.compute.request import JobSubmission, resolve
from hakutaku.db.models import Deployment, DeploymentReplica, Group, GroupMember, Job, User, Worker
from hakutaku.deploy import hub_target
from hakutaku.deploy.spec import DeploymentSpec, check_replicas, check_spec, check_target
from hakutaku.errors import Conflict, NotFound
from hakutaku.identity.auth import Principal
from hakutaku.identity.secrets import SecretBox
from hakutaku.identity.worker_tokens import WorkerTokens, claim_model

ACTIVE_REPLICA = ("starting", "ready", "draining", "stopping")


def owner_principal(s: Session, user_id: int) -> Principal:
    """The deployment's owner as the compute service sees a caller (jobs are theirs)."""
    user = s.get(User, user_id)
    if user is None:
        raise NotFound(f"The owner (user {user_id}) of this deployment no longer exists.")
    groups = s.scalars(
        select(Group.name)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(GroupMember.user_id == user_id)
    )
    return Principal(
        key_id=0, user_id=user.id, user=user.name, role=user.role, groups=frozenset(groups)
    )


def _check_resources(s: Session, spec: DeploymentSpec) -> None:
    """The replica's job against the policy now, so a bad partition fails the create."""
    resolve(
        JobSubmission(
            command=["hai"],
            partition=spec.partition,
            qos=spec.qos,
            cpus=spec.cpus,
            mem=spec.mem,
            gpus=spec.gpus,
            time=spec.time,
        ),
        read_policy(s),
    )


def get_deployment(s: Session, who: Principal, name: str, *, lock: bool = False) -> Deployment:
    query = select(Deployment).where(Deployment.name == name)
    if lock:
        query = query.with_for_update()
    d = s.scalar(query)
    if d is None or (d.owner_id != who.user_id and not who.is_admin):
        raise NotFound(f"No deployment {name!r} of yours; `hai deploy list` lists them.")
    return d


def create(
    s: Session,
    who: Principal,
    spec: DeploymentSpec,
    tokens: WorkerTokens,
    box: SecretBox,
    storage_root: Path,
) -> Deployment:
    idle = check_spec(spec)
    if spec.kind == "hub":
        spec.target = hub_target.pin(s, who, spec.target, storage_root)
    _check_resources(s, spec)
    if s.scalar(select(Deployment.id).where(Deployment.name == spec.name)) is not None:
        raise Conflict(
            f"A deployment {spec.name!r} exists; change it with `hai deploy update` or "
            "`hai deploy scale`, or delete it first."
        )
    claim_model(s, who, spec.name)
    now = datetime.now(UTC)
    fields = asdict(spec)
    fields.pop("idle_timeout")
    d = Deployment(
        **fields,
        owner_id=who.user_id,
        idle_timeout=idle,
        desired=spec.min_replicas,
        generation=1,
        state="active",
        token="",
        failures=0,
        message="created",
        created_at=now,
        updated_at=now,
    )
    s.add(d)
    s.flush()
    _, token = tokens.create(
        s, spec.name, user_id=who.user_id, deployment_id=d.id, note=f"deployment {spec.name}"
    )
    d.token = box.seal(token)
    return d


def listing(s: Session, who: Principal) -> list[Deployment]:
    query = select(Deployment).order_by(Deployment.name)
    if not who.is_admin:
        query = query.where(Deployment.owner_id == who.user_id)
    return list(s.scalars(query))


def scale(
    s: Session,
    who: Principal,
    name: str,
    min_replicas: int | None,
    max_replicas: int | None,
) -> Deployment:
    d = get_deployment(s, who, name, lock=True)
    _check_active(d)
    low = d.min_replicas if min_replicas is None else min_replicas
    high = d.max_replicas if max_replicas is None else max_replicas
    check_replicas(low, high)
    d.min_replicas, d.max_replicas = low, high
    d.desired = min(max(d.desired, low), high)
    d.updated_at = datetime.now(UTC)
    d.message = f"scaled to {low}–{high} replicas"
    return d


def update(
    s: Session, who: Principal, name: str, changes: dict[str, Any], storage_root: Path
) -> Deployment:
    """A new version: the controller rolls the replicas over to it without a failed call."""
    d = get_deployment(s, who, name, lock=True)
    _check_active(d)
    kind = changes.get("kind") or d.kind
    target = changes.get("target") or d.target
    check_target(kind, target)
    if kind == "hub":
        target = hub_target.pin(s, who, target, storage_root)
    resources = {k: changes[k] for k in ("partition", "qos", "gpus", "cpus", "mem", "time")
                 if changes.get(k) is not None}  # fmt: skip
    current = DeploymentSpec(
        name=d.name, kind=kind, target=target,
        **{k: getattr(d, k) for k in ("partition", "qos", "gpus", "cpus", "mem", "time")},
    )  # fmt: skip
    for key, value in resources.items():
        setattr(current, key, value)
    _check_resources(s, current)
    d.kind, d.target = kind, target
    for key, value in resources.items():
        setattr(d, key, value)
    d.generation += 1
    d.failures, d.retry_at = 0, None
    d.updated_at = datetime.now(UTC)
    d.message = f"rolling out version {d.generation}"
    return d


def delete(s: Session, who: Principal, name: str) -> Deployment:
    d = get_deployment(s, who, name, lock=True)
    d.state = "deleting"
    d.min_replicas = d.desired = 0
    d.updated_at = datetime.now(UTC)
    d.message = "deleting: draining its replicas"
    return d


def _check_active(d: Deployment) -> None:
    if d.state != "active":
        raise Conflict(f"The deployment {d.name!r} is being deleted.")


def replicas(s: Session, d: Deployment, *, ended: bool = False) -> list[dict[str, Any]]:
    """Its replicas with their jobs and workers, newest first (ended ones too if asked)."""
    query = (
        select(DeploymentReplica, Job, Worker)
        .join(Job, Job.id == DeploymentReplica.job_id)
        .outerjoin(Worker, Worker.job_id == DeploymentReplica.job_id)
        .where(DeploymentReplica.deployment_id == d.id)
        .order_by(DeploymentReplica.id.desc())
    )
    if not ended:
        query = query.where(DeploymentReplica.state.in_(ACTIVE_REPLICA))
    rows = []
    for r, job, worker in s.execute(query.limit(200)):
        rows.append(
            {
                "job_id": job.id,
                "generation": r.generation,
                "state": r.state,
                "job_state": job.state,
                "node": job.node,
                "worker": worker.url if worker is not None else None,
                "inflight": worker.inflight if worker is not None else 0,
                "served": worker.served if worker is not None else 0,
                "created_at": r.created_at,
                "ready_at": r.ready_at,
                "ended_why": r.ended_why,
            }
        )
    return rows


def record(s: Session, d: Deployment) -> dict[str, Any]:
    """A deployment as the API shows it (never its token)."""
    counts = dict(
        s.execute(
            select(DeploymentReplica.state, func.count())
            .where(DeploymentReplica.deployment_id == d.id)
            .group_by(DeploymentReplica.state)
        ).all()
    )
    owner = s.get(User, d.owner_id)
    return {
        "name": d.name,
        "owner": owner.name if owner else None,
        "account": d.account,
        "kind": d.kind,
        "target": d.target,
        "partition": d.partition,
        "qos": d.qos,
        "gpus": d.gpus,
        "cpus": d.cpus,
        "mem": d.mem,
        "time": d.time,
        "min_replicas": d.min_replicas,
        "max_replicas": d.max_replicas,
        "target_inflight": d.target_inflight,
        "idle_timeout": d.idle_timeout,
        "desired": d.desired,
        "ready": counts.get("ready", 0),
        "starting": counts.get("starting", 0),
        "draining": counts.get("draining", 0) + counts.get("stopping", 0),
        "generation": d.generation,
        "state": d.state,
        "failures": d.failures,
        "message": d.message,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
    }
