"""Partitions and QOS: read from a TOML file, kept in the database, edited by admins.

The file (see `policies/institute.toml`)::

    [partitions.gpu]
    accelerator = "gpu"              # gpu | dcu | npu | cpu
    models = ["a800", "l40"]
    nodes = ["gpu[001-004]"]
    default_time = "1:00:00"         # Slurm's time formats
    max_time = "2-00:00:00"
    qos = ["gpunormal", "gpudebug"]  # QOS allowed here (empty: any)
    default_qos = "gpunormal"

    [qos.gpunormal]
    priority = 0
    max_tres_pu = "gres/gpu=8"       # Slurm's MaxTRESPU; `mem` in M/G/T
    max_wall = "2-00:00:00"
    max_submit_pu = 8
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from hakutaku.compute.units import parse_duration, parse_tres

ACCELERATOR_KINDS = ("gpu", "dcu", "npu", "cpu")


class PolicyError(ValueError):
    """A policy file or edit that cannot be used; the message says what to fix."""


@dataclass
class PartitionSpec:
    name: str
    accelerator: str = "cpu"
    models: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    default_time: int = 3600
    max_time: int = 2 * 86400
    qos: list[str] = field(default_factory=list)
    default_qos: str | None = None
    description: str = ""


@dataclass
class QosSpec:
    name: str
    priority: int = 0
    max_tres_pu: dict[str, int] = field(default_factory=dict)
    max_wall: int | None = None
    max_submit_pu: int | None = None
    description: str = ""


@dataclass
class Policy:
    partitions: dict[str, PartitionSpec]
    qos: dict[str, QosSpec]
    default_partition: str | None = None

    def check(self) -> None:
        """Raise PolicyError when a partition names a QOS that is not defined, and so on."""
        if not self.partitions:
            raise PolicyError("The policy defines no partition; add at least one [partitions.X].")
        if self.default_partition and self.default_partition not in self.partitions:
            raise PolicyError(
                f"default_partition {self.default_partition!r} is not one of the partitions "
                f"({', '.join(self.partitions)})."
            )
        for p in self.partitions.values():
            if p.accelerator not in ACCELERATOR_KINDS:
                raise PolicyError(
                    f"Partition {p.name!r}: accelerator {p.accelerator!r} is not one of "
                    f"{', '.join(ACCELERATOR_KINDS)}."
                )
            for q in [*p.qos, *([p.default_qos] if p.default_qos else [])]:
                if q not in self.qos:
                    raise PolicyError(
                        f"Partition {p.name!r} names QOS {q!r}, which is not defined; add "
                        f"[qos.{q}] or remove it from the partition."
                    )
            if p.default_time > p.max_time:
                raise PolicyError(f"Partition {p.name!r}: default_time is above max_time.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "default_partition": self.default_partition,
            "partitions": [asdict(p) for p in self.partitions.values()],
            "qos": [asdict(q) for q in self.qos.values()],
        }


def parse_policy(data: dict[str, Any], source: str = "policy") -> Policy:
    try:
        partitions = {
            name: _partition(name, dict(spec)) for name, spec in data.get("partitions", {}).items()
        }
        qos = {name: _qos(name, dict(spec)) for name, spec in data.get("qos", {}).items()}
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"{source}: {exc}") from exc
    policy = Policy(partitions, qos, data.get("default_partition"))
    try:
        policy.check()
    except PolicyError as exc:
        raise PolicyError(f"{source}: {exc}") from exc
    return policy


def load_policy(path: Path) -> Policy:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise PolicyError(f"Cannot read the compute policy {path}: {exc.strerror}.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"The compute policy {path} is not valid TOML: {exc}.") from exc
    return parse_policy(data, str(path))


def shipped_policy(name: str) -> Policy:
    """A policy shipped with the package: `institute` (the example layout) or `laptop`."""
    text = resources.files("hakutaku.compute.policies").joinpath(f"{name}.toml").read_text()
    return parse_policy(tomllib.loads(text), f"hakutaku/compute/policies/{name}.toml")


def _partition(name: str, spec: dict[str, Any]) -> PartitionSpec:
    known = {"accelerator", "models", "nodes", "default_time", "max_time", "qos"}
    known |= {"default_qos", "description"}
    _no_unknown(f"partition {name!r}", spec, known)
    return PartitionSpec(
        name=name,
        accelerator=str(spec.get("accelerator", "cpu")),
        models=[str(m) for m in spec.get("models", [])],
        nodes=[str(n) for n in spec.get("nodes", [])],
        default_time=parse_duration(spec.get("default_time", "1:00:00")),
        max_time=parse_duration(spec.get("max_time", "2-00:00:00")),
        qos=[str(q) for q in spec.get("qos", [])],
        default_qos=spec.get("default_qos"),
        description=str(spec.get("description", "")),
    )


def _qos(name: str, spec: dict[str, Any]) -> QosSpec:
    known = {"priority", "max_tres_pu", "max_wall", "max_submit_pu", "description"}
    _no_unknown(f"QOS {name!r}", spec, known)
    wall = spec.get("max_wall")
    submit = spec.get("max_submit_pu")
    return QosSpec(
        name=name,
        priority=int(spec.get("priority", 0)),
        max_tres_pu=parse_tres(spec.get("max_tres_pu", {})),
        max_wall=parse_duration(wall) if wall is not None else None,
        max_submit_pu=int(submit) if submit is not None else None,
        description=str(spec.get("description", "")),
    )


def _no_unknown(what: str, spec: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValueError(
            f"{what}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}."
        )
