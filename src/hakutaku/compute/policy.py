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
    max_tres_pu = "gres/gpu=8"       # Slurm's MaxTRESPU; `mem` in M/G/T (powers of 1024)
    max_wall = "2-00:00:00"
    max_submit_pu = 8

The models below are the one definition of what may be written: they check the file, the JSON
that `PUT /api/compute/policy` takes (the same settings; partitions and QOS as tables keyed by
name, or as lists of objects with a `name`, which is what `GET` returns) and describe both in
the OpenAPI document. Settings not listed are refused. `parse_policy` turns every mistake into
one `PolicyError` whose message names the partition or QOS, the setting and what to write.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import ErrorDetails

from hakutaku.compute.units import format_duration, parse_duration, parse_tres

Accelerator = Literal["gpu", "dcu", "npu", "cpu"]
ACCELERATOR_KINDS: tuple[str, ...] = get_args(Accelerator)
TIME_FORMATS = (
    'Slurm\'s formats as a string: minutes ("15"), "1:00:00" or "2-00:00:00"; a whole number '
    "(not a string) is seconds, as GET returns"
)


class PolicyError(ValueError):
    """A policy file or edit that cannot be used; the message says what to fix."""


def _seconds(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


def _tres(value: Any) -> Any:
    if not isinstance(value, str | dict):
        return value  # the dict[str, int] check reports it
    try:
        return parse_tres(value)
    except TypeError:
        raise ValueError(
            f"Cannot read the TRES {value!r}: write NAME=VALUE pairs, e.g. "
            '`"cpu=32,gres/gpu=8,mem=640G"`, or a table of whole numbers.'
        ) from None


# Durations: Slurm's spellings in files, seconds once read (and in GET's JSON).
Seconds = Annotated[
    int,
    BeforeValidator(_seconds),
    Field(ge=1),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "description": "seconds"},
                {"type": "string", "examples": ["15", "1:00:00", "2-00:00:00"]},
            ]
        },
        mode="validation",
    ),
]
# TRES limits: Slurm's `cpu=32,gres/gpu=8,mem=640G`, or a table; `mem` in megabytes once read.
Tres = Annotated[
    dict[str, int],
    BeforeValidator(_tres),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "object", "additionalProperties": {"type": "integer"}},
                {"type": "string", "examples": ["cpu=32,gres/gpu=8,mem=640G"]},
            ]
        },
        mode="validation",
    ),
]


class PartitionSpec(BaseModel):
    """A partition: its nodes and cards, its time limits and the QOS allowed in it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The partition's name (in a file: its table's name).")
    accelerator: Accelerator = Field(
        default="cpu", description="The kind of card: one of gpu, dcu, npu, cpu (no cards)."
    )
    models: list[str] = Field(
        default_factory=list, description='Card models, a list of names: `["a800", "l40"]`.'
    )
    nodes: list[str] = Field(
        default_factory=list, description='Nodes in Slurm\'s notation: `["gpu[001-004]"]`.'
    )
    default_time: Seconds = Field(
        default=3600, description=f"Time limit of jobs that ask none: {TIME_FORMATS}."
    )
    max_time: Seconds = Field(
        default=2 * 86400, description=f"Longest time limit allowed: {TIME_FORMATS}."
    )
    qos: list[str] = Field(
        default_factory=list,
        description='QOS allowed here, a list of names: `["gpunormal", "gpudebug"]` (empty: any).',
    )
    default_qos: str | None = Field(
        default=None, description="The QOS of jobs that name none, e.g. `gpunormal`."
    )
    description: str = Field(default="", description="Free text shown to users.")

    @model_validator(mode="after")
    def _times(self) -> PartitionSpec:
        if self.default_time > self.max_time:
            raise ValueError(
                f"default_time is above max_time ({format_duration(self.default_time)} > "
                f"{format_duration(self.max_time)}); lower default_time or raise max_time."
            )
        return self


class QosSpec(BaseModel):
    """A QOS: priority and per-user limits, with Slurm's meanings."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The QOS's name (in a file: its table's name).")
    priority: int = Field(
        default=0, description="Higher starts first among pending jobs: a whole number, e.g. 20."
    )
    max_tres_pu: Tres = Field(
        default_factory=dict,
        description="Slurm's MaxTRESPU, what one user's running jobs may hold together: "
        '`"cpu=64,gres/gpu=8,mem=640G"` (mem in M/G/T, powers of 1024; megabytes once read).',
    )
    max_wall: Seconds | None = Field(
        default=None, description=f"Slurm's MaxWall: {TIME_FORMATS}; none: the partition's."
    )
    max_submit_pu: int | None = Field(
        default=None,
        ge=0,
        description="Slurm's MaxSubmitPU: jobs one user may have pending or running, e.g. 8.",
    )
    description: str = Field(default="", description="Free text shown to users.")


class Policy(BaseModel):
    """Partitions and QOS, by name, and the partition of jobs that name none."""

    model_config = ConfigDict(extra="forbid")

    default_partition: str | None = Field(
        default=None, description="The partition of jobs that name none, e.g. `cpu`."
    )
    partitions: dict[str, PartitionSpec] = Field(
        default_factory=dict,
        description="Tables `[partitions.NAME]` (or a list of objects with a `name`).",
    )
    qos: dict[str, QosSpec] = Field(
        default_factory=dict,
        description="Tables `[qos.NAME]` (or a list of objects with a `name`).",
    )

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key, what in (("partitions", "partition"), ("qos", "QOS")):
            if key in data:
                data[key] = _by_name(what, data[key])
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        self.check()
        return self

    def check(self) -> None:
        """Raise PolicyError when a partition names a QOS that is not defined, and so on."""
        if not self.partitions:
            raise PolicyError("The policy defines no partition; add at least one [partitions.X].")
        if self.default_partition is not None and self.default_partition not in self.partitions:
            raise PolicyError(
                f"default_partition {self.default_partition!r} is not one of the partitions "
                f"({', '.join(self.partitions)}); name one of them or remove the setting."
            )
        for table, specs in (("partitions", self.partitions), ("qos", self.qos)):
            for key, spec in specs.items():
                if spec.name != key:
                    raise PolicyError(f"{table}[{key!r}] holds {spec.name!r}; the names differ.")
        for p in self.partitions.values():
            for q in [*p.qos, *([p.default_qos] if p.default_qos else [])]:
                if q not in self.qos:
                    raise PolicyError(
                        f"Partition {p.name!r} names QOS {q!r}, which is not defined; add "
                        f"[qos.{q}] or remove it from the partition."
                    )
            if p.default_qos and p.qos and p.default_qos not in p.qos:
                raise PolicyError(
                    f"Partition {p.name!r}: default_qos {p.default_qos!r} is not among its qos "
                    f"({', '.join(p.qos)}); add it to qos or choose one of those."
                )

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (`GET /api/compute/policy`): partitions and QOS as lists, in order."""
        return {
            "default_partition": self.default_partition,
            "partitions": [p.model_dump() for p in self.partitions.values()],
            "qos": [q.model_dump() for q in self.qos.values()],
        }


def _by_name(what: str, value: Any) -> Any:
    """Tables keyed by name (the file) or a list of objects with a `name` (GET's JSON), as a
    table whose entries carry their name. Anything else is left to the field's check."""
    if isinstance(value, list):
        table: dict[str, Any] = {}
        for i, item in enumerate(value):
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str) or not name:
                raise ValueError(f"{what} number {i + 1} in the list needs a `name`.")
            if name in table:
                raise ValueError(f"{what.capitalize()} {name!r} is given twice; keep one.")
            table[name] = item
        return table
    if isinstance(value, dict):
        named: dict[str, Any] = {}
        for name, spec in value.items():
            if isinstance(spec, dict):
                given = spec.get("name", name)
                if given != name:
                    raise ValueError(
                        f"{what.capitalize()} {name!r} has name = {given!r}; the table's name "
                        "is its name, so remove the setting."
                    )
                spec = {**spec, "name": name}
            named[name] = spec
        return named
    return value


# ---------------------------------------------------------------- messages


_LABELS = {"partitions": ("Partition", PartitionSpec), "qos": ("QOS", QosSpec)}


def _explain(exc: ValidationError) -> str:
    """One message for all mistakes: each names its partition or QOS, the setting, what to write."""
    unknown: dict[str, tuple[list[str], list[str]]] = {}
    messages: list[str] = []
    for err in exc.errors(include_url=False):
        where, model, field = _place(err)
        if err["type"] == "extra_forbidden" and field:
            known = sorted(f for f in model.model_fields if f != "name")
            unknown.setdefault(where, ([], known))[0].append(field)
            continue
        messages.append(_message(err, where, model, field))
    for where, (names, known) in unknown.items():
        messages.append(
            f"{where}: unknown setting(s) {', '.join(names)}; known: {', '.join(known)}."
        )
    return " ".join(messages)


def _place(err: ErrorDetails) -> tuple[str, Any, str]:
    """(which partition or QOS, or the policy; its model; the setting, with any list index)."""
    loc = [str(x) for x in err["loc"]]
    if len(loc) >= 2 and loc[0] in _LABELS:
        label, model = _LABELS[loc[0]]
        field = loc[2] + "".join(f"[{x}]" for x in loc[3:]) if len(loc) > 2 else ""
        return f"{label} {loc[1]!r}", model, field
    return POLICY, Policy, ".".join(loc)


POLICY = "The policy"


def _message(err: ErrorDetails, where: str, model: type[BaseModel], field: str) -> str:
    ctx = err.get("ctx") or {}
    if err["type"] in ("value_error", "assertion_error") and "error" in ctx:
        text = str(ctx["error"])
        if where == POLICY and not field:
            return text  # the policy-wide checks name what they are about
        return f"{where}: {field + ': ' if field else ''}{text}"
    if err["type"] in ("model_type", "dict_type") and not field:
        loc = err["loc"]
        table = f"[{loc[0]}.{loc[1]}]" if len(loc) == 2 else "a TOML file or a JSON object"
        return f"{where} must be a table of settings ({table}), got {err['input']!r}."
    if err["type"] == "literal_error":
        expected = ctx.get("expected", "").replace("'", "").replace(" or ", ", ")
        return f"{where}: {field} {err['input']!r} is not one of {expected}."
    info = model.model_fields.get(field.split("[")[0])
    hint = f" Expected: {info.description}" if info and info.description else ""
    return f"{where}: {field}: {err['msg']}, got {err['input']!r}.{hint}"


# ---------------------------------------------------------------- reading


def parse_policy(data: Any, source: str = "policy") -> Policy:
    """A policy from the file's tables (or the JSON shape); PolicyError says what to fix."""
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"{source}: {_explain(exc)}") from None


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
