"""The local backend's slot model: CPUs, memory and cards of one machine, and who holds them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hakutaku.compute.accelerators import Accelerator
from hakutaku.db.models import Job


def device_key(a: Accelerator) -> str:
    return f"{a.kind}:{a.index}"


@dataclass(frozen=True)
class Capacity:
    cpus: int
    mem_mb: int
    accelerators: tuple[Accelerator, ...]

    def cards(self, kind: str, model: str | None = None) -> list[Accelerator]:
        return [
            a for a in self.accelerators if a.kind == kind and (model is None or a.model == model)
        ]

    def never_fits(self, cpus: int, mem_mb: int, kind: str, model: str | None, n: int) -> str:
        """Why a job of this size could never run here ("" when it could)."""
        if cpus > self.cpus:
            return f"it asks for {cpus} CPUs and this machine has {self.cpus}"
        if mem_mb > self.mem_mb:
            return f"it asks for {mem_mb} MB of memory and this machine has {self.mem_mb} MB"
        if n:
            have = len(self.cards(kind, model))
            if n > have:
                what = f"{kind} cards" + (f" of model {model}" if model else "")
                return f"it asks for {n} {what} and this machine has {have}"
        return ""


@dataclass
class Free:
    cpus: int
    mem_mb: int
    cards: list[Accelerator]

    def take(self, job: Job) -> list[Accelerator] | None:
        """Reserve what the job needs and return its cards, or None (and take nothing)."""
        if job.cpus > self.cpus or job.mem_mb > self.mem_mb:
            return None
        chosen: list[Accelerator] = []
        if job.accelerators:
            matching = [
                a
                for a in self.cards
                if a.kind == job.accelerator
                and (job.accelerator_model is None or a.model == job.accelerator_model)
            ]
            if len(matching) < job.accelerators:
                return None
            chosen = matching[: job.accelerators]
        self.cpus -= job.cpus
        self.mem_mb -= job.mem_mb
        self.cards = [a for a in self.cards if a not in chosen]
        return chosen


def free_after(capacity: Capacity, running: Iterable[Job]) -> Free:
    free = Free(capacity.cpus, capacity.mem_mb, list(capacity.accelerators))
    for job in running:
        free.cpus -= job.cpus
        free.mem_mb -= job.mem_mb
        held = set(job.devices)
        free.cards = [a for a in free.cards if device_key(a) not in held]
    return free
