"""The cluster as a page shows it: per partition, what exists and what is free now.

A partition's numbers are those of its nodes; partitions may share nodes (on the local backend
every partition is the one machine), so the whole cluster is its own row (`WHOLE`, partition
"") in which each node counts once. Cards are counted per (kind, model): `gpu:a800`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hakutaku.db.models import ClusterPartition

WHOLE = ""  # the partition name of the whole-cluster row
CARD_KINDS = ("gpu", "dcu", "npu")


@dataclass
class Cards:
    kind: str  # gpu | dcu | npu
    model: str
    total: int = 0
    alloc: int = 0
    free: int = 0  # on nodes that are up

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.model}" if self.model else self.kind

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "total": self.total,
            "alloc": self.alloc,
            "free": self.free,
        }


@dataclass
class PartitionView:
    name: str  # WHOLE for the whole cluster
    accelerator: str = "cpu"  # the kind of card the partition is for (the policy's)
    nodes: int = 0
    nodes_down: int = 0
    cpus_total: int = 0
    cpus_alloc: int = 0
    cpus_free: int = 0
    mem_total_mb: int = 0
    mem_alloc_mb: int = 0
    mem_free_mb: int = 0
    cards: list[Cards] = field(default_factory=list)
    pending_jobs: int = 0
    running_jobs: int = 0

    @property
    def cards_total(self) -> int:
        return sum(c.total for c in self.cards)

    @property
    def cards_alloc(self) -> int:
        return sum(c.alloc for c in self.cards)

    @property
    def cards_free(self) -> int:
        return sum(c.free for c in self.cards)

    @property
    def full(self) -> bool:
        """No room for one more job of the partition's kind: no card free (card partitions)
        or no CPU free (CPU partitions)."""
        if self.accelerator in CARD_KINDS and self.cards_total:
            return self.cards_free == 0
        return self.cpus_total > 0 and self.cpus_free == 0

    def card(self, kind: str, model: str) -> Cards:
        for c in self.cards:
            if c.kind == kind and c.model == model:
                return c
        made = Cards(kind, model)
        self.cards.append(made)
        self.cards.sort(key=lambda c: (CARD_KINDS.index(c.kind), c.model))
        return made


@dataclass
class ClusterView:
    """The snapshot: the whole cluster, its partitions (by name), when and where it was read."""

    whole: PartitionView
    partitions: list[PartitionView]
    source: str  # local | slurm
    updated_at: datetime | None = None

    @property
    def empty(self) -> bool:
        return self.updated_at is None

    def partition(self, name: str) -> PartitionView | None:
        return next((p for p in self.partitions if p.name == name), None)


def empty_view(source: str = "") -> ClusterView:
    return ClusterView(PartitionView(WHOLE), [], source)


# -- the table ---------------------------------------------------------------------------------


def write_view(s: Session, view: ClusterView, updated_at: datetime) -> None:
    """Replace the snapshot (the caller commits, fenced by the monitor's lease)."""
    s.execute(delete(ClusterPartition))
    for p in [view.whole, *view.partitions]:
        s.add(
            ClusterPartition(
                partition=p.name,
                accelerator=p.accelerator,
                nodes=p.nodes,
                nodes_down=p.nodes_down,
                cpus_total=p.cpus_total,
                cpus_alloc=p.cpus_alloc,
                cpus_free=p.cpus_free,
                mem_total_mb=p.mem_total_mb,
                mem_alloc_mb=p.mem_alloc_mb,
                mem_free_mb=p.mem_free_mb,
                cards=[c.as_json() for c in p.cards],
                pending_jobs=p.pending_jobs,
                running_jobs=p.running_jobs,
                source=view.source,
                updated_at=updated_at,
            )
        )


def read_view(s: Session) -> ClusterView:
    """The snapshot as the monitor last wrote it (empty before its first tick)."""
    rows = list(s.scalars(select(ClusterPartition).order_by(ClusterPartition.partition)))
    if not rows:
        return empty_view()
    views = [
        PartitionView(
            name=r.partition,
            accelerator=r.accelerator,
            nodes=r.nodes,
            nodes_down=r.nodes_down,
            cpus_total=r.cpus_total,
            cpus_alloc=r.cpus_alloc,
            cpus_free=r.cpus_free,
            mem_total_mb=r.mem_total_mb,
            mem_alloc_mb=r.mem_alloc_mb,
            mem_free_mb=r.mem_free_mb,
            cards=[Cards(**c) for c in r.cards],
            pending_jobs=r.pending_jobs,
            running_jobs=r.running_jobs,
        )
        for r in rows
    ]
    whole = next((v for v in views if v.name == WHOLE), PartitionView(WHOLE))
    return ClusterView(
        whole,
        [v for v in views if v.name != WHOLE],
        rows[0].source,
        min(r.updated_at for r in rows),
    )
