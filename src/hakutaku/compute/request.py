"""A job as submitted, checked against the policy: what was asked, resolved to full values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hakutaku.compute.policy import PartitionSpec, Policy, QosSpec
from hakutaku.compute.units import format_duration, format_mem_mb, parse_duration, parse_mem_mb
from hakutaku.errors import PlatformError


class JobRefused(PlatformError):
    """The job breaks a policy or a limit; the message names which and what to do."""

    code = "job_refused"


@dataclass
class JobSubmission:
    """What a user asks for; strings in Slurm's spellings ("1:00:00", "4G", "a800:2")."""

    command: list[str] = field(default_factory=list)
    script: str | None = None
    name: str = ""
    partition: str | None = None
    qos: str | None = None
    account: str | None = None
    cpus: int = 1
    mem: str | int = "1G"
    gpus: str | int | None = None  # "[TYPE:]N": cards of the partition's kind
    time: str | int | None = None
    workdir: str | None = None
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Resolved:
    """A submission with every default filled in and every static limit checked."""

    partition: PartitionSpec
    qos: QosSpec
    cpus: int
    mem_mb: int
    accelerator: str
    accelerator_model: str | None
    accelerators: int
    time_limit: int

    @property
    def tres(self) -> dict[str, int]:
        tres = {"cpu": self.cpus, "mem": self.mem_mb}
        if self.accelerators:
            tres[f"gres/{self.accelerator}"] = self.accelerators
        return tres


def resolve(sub: JobSubmission, policy: Policy) -> Resolved:
    """Fill in defaults and check everything that does not depend on other jobs."""
    if not sub.command and not sub.script:
        raise JobRefused(
            "Nothing to run: give a command (`hai jobs submit -- python train.py`) or a script.",
            param="command",
        )
    if sub.command and sub.script:
        raise JobRefused("Give a command or a script, not both.", param="script")
    partition = _partition(sub.partition, policy)
    qos = _qos(sub.qos, partition, policy)
    if sub.cpus < 1:
        raise JobRefused(f"cpus must be at least 1, not {sub.cpus}.", param="cpus")
    mem_mb = _parse(parse_mem_mb, sub.mem, "mem")
    if sub.time is None:  # the partition's default, cut to what the QOS allows
        time_limit = min(partition.default_time, qos.max_wall or partition.default_time)
    else:
        time_limit = _parse(parse_duration, sub.time, "time")
    if time_limit <= 0:
        raise JobRefused("The time limit must be positive.", param="time")
    model, count = _cards(sub.gpus, partition)
    resolved = Resolved(
        partition, qos, sub.cpus, mem_mb, partition.accelerator, model, count, time_limit
    )
    _check_time(resolved)
    _check_job_tres(resolved)
    return resolved


def _parse(parse: Callable[[Any], int], value: str | int, param: str) -> int:
    try:
        return parse(value)
    except ValueError as exc:
        raise JobRefused(str(exc), param=param) from None


def _partition(name: str | None, policy: Policy) -> PartitionSpec:
    name = name or policy.default_partition or next(iter(policy.partitions), None)
    if name is None or name not in policy.partitions:
        raise JobRefused(
            f"No partition {name!r}. Partitions: {', '.join(policy.partitions)} "
            "(`hai compute partitions` lists them).",
            param="partition",
        )
    return policy.partitions[name]


def _qos(name: str | None, partition: PartitionSpec, policy: Policy) -> QosSpec:
    name = name or partition.default_qos or (partition.qos[0] if partition.qos else None)
    if name is None:
        raise JobRefused(
            f"Partition {partition.name!r} has no default QOS; choose one with --qos "
            f"({', '.join(policy.qos)}).",
            param="qos",
        )
    if name not in policy.qos:
        raise JobRefused(
            f"No QOS {name!r}. QOS: {', '.join(policy.qos)} (`hai compute qos` lists them).",
            param="qos",
        )
    if partition.qos and name not in partition.qos:
        raise JobRefused(
            f"QOS {name!r} is not allowed in partition {partition.name!r}; allowed there: "
            f"{', '.join(partition.qos)}.",
            param="qos",
        )
    return policy.qos[name]


def _cards(gpus: str | int | None, partition: PartitionSpec) -> tuple[str | None, int]:
    """Parse `[TYPE:]N` into the card model and count, checked against the partition."""
    if gpus is None or gpus == 0 or gpus == "0":
        return None, 0
    text = str(gpus)
    model, _, count_text = text.rpartition(":")
    if not count_text.isdigit() or int(count_text) < 0:
        raise JobRefused(
            f"Cannot read the accelerators {text!r}: write a count (`2`) or TYPE:COUNT (`a800:2`).",
            param="gpus",
        )
    count = int(count_text)
    if count == 0:
        return None, 0
    if partition.accelerator == "cpu":
        raise JobRefused(
            f"Partition {partition.name!r} has no accelerators; ask for cards in a partition "
            "that has them (`hai compute partitions`), e.g. --partition gpu.",
            param="gpus",
        )
    card_model = model.lower() or None
    if card_model and partition.models and card_model not in partition.models:
        raise JobRefused(
            f"Partition {partition.name!r} has no {card_model!r} cards; it has "
            f"{', '.join(partition.models)}.",
            param="gpus",
        )
    return card_model, count


def _check_time(r: Resolved) -> None:
    asked = format_duration(r.time_limit)
    if r.time_limit > r.partition.max_time:
        raise JobRefused(
            f"Time limit {asked} is over the MaxTime of partition {r.partition.name!r}, "
            f"{format_duration(r.partition.max_time)}; ask for less time.",
            param="time",
            code="partition_time_limit",
        )
    if r.qos.max_wall is not None and r.time_limit > r.qos.max_wall:
        raise JobRefused(
            f"Time limit {asked} is over the MaxWall of QOS {r.qos.name!r}, "
            f"{format_duration(r.qos.max_wall)}; ask for less time or use another QOS.",
            param="time",
            code="qos_max_wall",
        )


def _check_job_tres(r: Resolved) -> None:
    """A job larger than the per-user TRES limit on its own could never start: refuse it."""
    for name, limit in r.qos.max_tres_pu.items():
        asked = r.tres.get(name, 0)
        if asked > limit:
            shown = format_mem_mb if name == "mem" else str
            raise JobRefused(
                f"This job asks for {name}={shown(asked)}, over the MaxTRESPU of QOS "
                f"{r.qos.name!r}: {name}={shown(limit)}; ask for less.",
                param=name,
                code="qos_max_tres_per_user",
            )
