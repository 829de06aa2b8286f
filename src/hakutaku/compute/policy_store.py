"""The compute policy in the database: every replica and the scheduler read it from there."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hakutaku.compute.policy import PartitionSpec, Policy, QosSpec, load_policy, shipped_policy
from hakutaku.config import Settings
from hakutaku.db.models import Meta, Partition, Qos
from hakutaku.db.session import Database

DEFAULT_PARTITION_KEY = "compute.default_partition"


def read_policy(s: Session) -> Policy:
    partitions = {
        p.name: PartitionSpec(
            name=p.name,
            accelerator=p.accelerator,  # type: ignore[arg-type]  # checked when written
            models=list(p.accelerator_models),
            nodes=list(p.nodes),
            default_time=p.default_time,
            max_time=p.max_time,
            qos=list(p.allowed_qos),
            default_qos=p.default_qos,
            description=p.description,
        )
        for p in s.scalars(select(Partition).order_by(Partition.name))
    }
    qos = {
        q.name: QosSpec(
            name=q.name,
            priority=q.priority,
            max_tres_pu={k: int(v) for k, v in q.max_tres_pu.items()},
            max_wall=q.max_wall,
            max_submit_pu=q.max_submit_pu,
            description=q.description,
        )
        for q in s.scalars(select(Qos).order_by(Qos.name))
    }
    meta = s.get(Meta, DEFAULT_PARTITION_KEY)
    return Policy(partitions=partitions, qos=qos, default_partition=meta.value if meta else None)


def write_policy(s: Session, policy: Policy) -> None:
    """Replace the whole policy (checked first); jobs already submitted keep their values."""
    policy.check()
    s.execute(delete(Partition))
    s.execute(delete(Qos))
    for p in policy.partitions.values():
        s.add(
            Partition(
                name=p.name,
                accelerator=p.accelerator,
                accelerator_models=p.models,
                nodes=p.nodes,
                default_time=p.default_time,
                max_time=p.max_time,
                allowed_qos=p.qos,
                default_qos=p.default_qos,
                description=p.description,
            )
        )
    for q in policy.qos.values():
        s.add(
            Qos(
                name=q.name,
                priority=q.priority,
                max_tres_pu=q.max_tres_pu,
                max_wall=q.max_wall,
                max_submit_pu=q.max_submit_pu,
                description=q.description,
            )
        )
    meta = s.get(Meta, DEFAULT_PARTITION_KEY)
    if policy.default_partition is None:
        if meta is not None:
            s.delete(meta)
    elif meta is None:
        s.add(Meta(key=DEFAULT_PARTITION_KEY, value=policy.default_partition))
    else:
        meta.value = policy.default_partition


def ensure_policy(db: Database, settings: Settings) -> None:
    """At start: an empty database gets HAI_COMPUTE_POLICY's file, or the laptop default.

    Later edits live in the database; the file is not read again (apply it explicitly with
    `hai compute policy apply`), so an admin's change survives restarts.
    """
    policy = (
        load_policy(settings.compute_policy)
        if settings.compute_policy is not None
        else shipped_policy("laptop")
    )
    try:
        with db.session() as s:
            if s.scalar(select(Partition.name).limit(1)) is None:
                write_policy(s, policy)
    except IntegrityError:
        pass  # another replica seeded it at the same moment
