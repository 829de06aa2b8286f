"""Wire schemas of `/api/jobs` and `/api/compute`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core.core_schema import CoreSchema

from hakutaku.api.files import EntryOut
from hakutaku.compute.policy import PartitionSpec, Policy, QosSpec


class JobIn(BaseModel):
    command: list[str] = Field(default_factory=list, description="argv; or give `script`.")
    script: str | None = Field(default=None, description="A bash script body, instead.")
    name: str = ""
    partition: str | None = None
    qos: str | None = None
    account: str | None = Field(default=None, description="Group billed; default your first.")
    cpus: int = 1
    mem: str | int = Field(default="1G", description="`4G`, `512M`, or megabytes.")
    gpus: str | int | None = Field(
        default=None, description="Cards of the partition's kind: `N` or `MODEL:N`."
    )
    time: str | int | None = Field(
        default=None, description="Slurm's formats: `15` (minutes), `1:00:00`, `2-00:00:00`."
    )
    workdir: str | None = Field(default=None, description="Default: your storage home.")
    env: dict[str, str] = Field(default_factory=dict)


class ExtendIn(BaseModel):
    by: str | int = Field(
        description="Extra time: `30m`, `1h`, `1h30m`, Slurm's formats (`30` is minutes, "
        "`1:00:00`), or a whole number of seconds. The new total must stay within the "
        "partition's MaxTime and the QOS's MaxWall (400 `qos_max_wall` or "
        "`partition_time_limit` otherwise, saying how much may still be asked).",
        examples=["30m", "1h"],
    )


class JobOut(BaseModel):
    id: int
    user: str
    account: str | None
    name: str
    command: list[str]
    script: str | None
    workdir: str
    partition: str
    qos: str
    cpus: int
    mem_mb: int
    accelerator: str
    accelerator_model: str | None
    accelerators: int
    time_limit: int
    time_limit_text: str
    priority: int
    backend: str
    state: str
    reason: str
    external_id: str | None
    node: str | None
    devices: list[str]
    log_path: str | None
    exit_code: int | None
    submitted_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


class JobFilesOut(BaseModel):
    job_id: int
    path: str = Field(description="The folder listed, relative to the job's folder.")
    type: str = Field(description="dir, or file when `path` names a file")
    entries: list[EntryOut] = Field(
        description="Each with `path` relative to the job's folder; request.json is never listed."
    )


class PolicyOut(BaseModel):
    """Partitions and QOS as `GET /api/compute/policy` returns them: times in seconds, TRES
    `mem` in megabytes. `PUT` takes the same JSON as its `policy`."""

    default_partition: str | None = Field(description="The partition of jobs that name none.")
    partitions: list[PartitionSpec]
    qos: list[QosSpec]

    @classmethod
    def of(cls, policy: Policy) -> PolicyOut:
        return cls(
            default_partition=policy.default_partition,
            partitions=list(policy.partitions.values()),
            qos=list(policy.qos.values()),
        )


class _DocumentedAs:
    """Validate as a JSON object, but describe it in the OpenAPI document as `model`: the route
    checks it itself (`parse_policy`), so its mistakes get the policy's own messages (400
    `invalid_policy`, naming the partition or QOS and the setting) whether sent as TOML or JSON."""

    def __init__(self, model: type[BaseModel], title: str) -> None:
        self.model = model
        self.title = title

    def __get_pydantic_json_schema__(
        self, _schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        described = handler(self.model.__pydantic_core_schema__)
        return {**described, "title": self.title}


class PolicyIn(BaseModel):
    """The policy as its TOML text, or as the same structure in JSON (give one)."""

    toml: str | None = Field(default=None, description="The policy file's text.")
    policy: Annotated[dict[str, Any], _DocumentedAs(PolicyOut, "Policy")] | None = Field(
        default=None,
        description="The JSON that GET returns (partitions and QOS as lists, each with its "
        "`name`); tables keyed by name, as in the file, are accepted too. Times and sizes may "
        "be written as in the file (`1:00:00`, `mem=640G`).",
    )


class ResourcesOut(BaseModel):
    backend: str
    cpus: int
    mem_mb: int
    accelerators: list[dict[str, str]]
    free: dict[str, Any] | None
