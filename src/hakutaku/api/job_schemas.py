"""Wire schemas of `/api/jobs` and `/api/compute`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


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


class PolicyIn(BaseModel):
    """The policy as its TOML text, or as the same structure in JSON."""

    toml: str | None = None
    policy: dict[str, Any] | None = None


class ResourcesOut(BaseModel):
    backend: str
    cpus: int
    mem_mb: int
    accelerators: list[dict[str, str]]
    free: dict[str, Any] | None
