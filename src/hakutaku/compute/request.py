"""A job as submitted, checked against the policy: what was asked, resolved to full values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hakutaku.compute.policy import PartitionSpec, Policy, QosSpec
from hakutaku.compute.units import (
    format_duration,
    format_mem_mb,
    human_duration,
    parse_duration,
    parse_mem_mb,
)
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


@dataclass(frozen=True)
class TimeCap:
    """A limit on a job's total time: the partition's MaxTime or the QOS's MaxWall."""

    seconds: int
    limit: str  # "MaxTime" | "MaxWall"
    owner: str  # "partition 'cpu'" | "QOS 'cpunormal'"
    code: str  # the refusal's error code
    advice: str  # what to do instead of asking for more time


def time_caps(partition: PartitionSpec, qos: QosSpec) -> list[TimeCap]:
    """The limits on a job's total time in this partition and QOS, the partition's first."""
    caps = [
        TimeCap(
            partition.max_time,
            "MaxTime",
            f"partition {partition.name!r}",
            "partition_time_limit",
            "ask for less time",
        )
    ]
    if qos.max_wall is not None:
        caps.append(
            TimeCap(
                qos.max_wall,
                "MaxWall",
                f"QOS {qos.name!r}",
                "qos_max_wall",
                "ask for less time or use another QOS",
            )
        )
    return caps


def over_time_cap(partition: PartitionSpec, qos: QosSpec, time_limit: int) -> TimeCap | None:
    """The first limit that `time_limit` (seconds) is over; None when it is within them all.
    The one check of a job's time limit: at submission (`resolve`) and when a job is
    extended (`check_extension`)."""
    return next((c for c in time_caps(partition, qos) if time_limit > c.seconds), None)


def time_room(partition: PartitionSpec, qos: QosSpec, time_limit: int) -> int:
    """Seconds a job with this time limit may still be extended by (0: none)."""
    return max(0, min(c.seconds for c in time_caps(partition, qos)) - time_limit)


def _check_time(r: Resolved) -> None:
    cap = over_time_cap(r.partition, r.qos, r.time_limit)
    if cap is not None:
        raise JobRefused(
            f"Time limit {format_duration(r.time_limit)} is over the {cap.limit} of {cap.owner}, "
            f"{format_duration(cap.seconds)}; {cap.advice}.",
            param="time",
            code=cap.code,
        )


def parse_extra(value: str | int) -> int:
    """The extra time of an extension, in seconds: `30m`, `1h`, Slurm's formats (`30` is 30
    minutes, `1:00:00`), or a whole number of seconds."""
    return _parse(parse_duration, value, "by")


def check_extension(
    partition: PartitionSpec, qos: QosSpec, time_limit: int, extra: int, what: str = "job"
) -> int:
    """The new total time limit of a job that has `time_limit` seconds and asks for `extra`
    more; JobRefused (naming the limit and how much may still be asked) when over a limit."""
    if extra <= 0:
        raise JobRefused("Ask for a positive amount of extra time, e.g. 30m.", param="by")
    new_limit = time_limit + extra
    if over_time_cap(partition, qos, new_limit) is None:
        return new_limit
    cap = min(time_caps(partition, qos), key=lambda c: c.seconds)  # the one that binds
    room = time_room(partition, qos, time_limit)
    start = (
        f"The {cap.limit} of {cap.owner} allows at most {human_duration(cap.seconds)}; "
        f"this {what} already has {human_duration(time_limit)}, "
    )
    if room > 0:
        rest = f"so ask for at most {human_duration(room)} more."
    else:
        rest = (
            "so it cannot be extended further; start a new one (in another QOS or partition "
            "with a longer limit) when it ends."
        )
    raise JobRefused(start + rest, param="by", code=cap.code)


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
