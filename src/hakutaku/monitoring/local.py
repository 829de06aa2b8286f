"""The local backend's cluster: one machine (its capacity model) shared by every partition."""

from __future__ import annotations

from collections.abc import Iterable

from hakutaku.compute.capacity import Capacity, device_key
from hakutaku.compute.policy import Policy
from hakutaku.db.models import Job
from hakutaku.monitoring.cluster import WHOLE, ClusterView, PartitionView


def local_view(capacity: Capacity, policy: Policy, running: Iterable[Job]) -> ClusterView:
    """The machine's CPUs, memory and cards, less what the running jobs hold.

    Every partition runs on this one machine, so each shows the machine's CPUs and memory (as
    Slurm shows a node shared by partitions in each of them) and the cards of its own kind
    (and models, when the policy names some).
    """
    jobs = list(running)
    cpus_alloc = min(capacity.cpus, sum(j.cpus for j in jobs))
    mem_alloc = min(capacity.mem_mb, sum(j.mem_mb for j in jobs))
    held = {d for j in jobs for d in j.devices}

    def machine(name: str, accelerator: str, models: list[str] | None) -> PartitionView:
        view = PartitionView(
            name=name,
            accelerator=accelerator,
            nodes=1,
            cpus_total=capacity.cpus,
            cpus_alloc=cpus_alloc,
            cpus_free=capacity.cpus - cpus_alloc,
            mem_total_mb=capacity.mem_mb,
            mem_alloc_mb=mem_alloc,
            mem_free_mb=capacity.mem_mb - mem_alloc,
        )
        for a in capacity.accelerators:
            if accelerator != "*" and (a.kind != accelerator or (models and a.model not in models)):
                continue
            cards = view.card(a.kind, a.model)
            cards.total += 1
            if device_key(a) in held:
                cards.alloc += 1
            else:
                cards.free += 1
        return view

    partitions = [
        machine(p.name, p.accelerator, p.models)
        for p in sorted(policy.partitions.values(), key=lambda p: p.name)
    ]
    whole = machine(WHOLE, "*", None)
    whole.accelerator = "cpu"
    return ClusterView(whole, partitions, "local")
