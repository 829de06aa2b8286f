"""`/api/deployments`: models served by worker jobs (hakutaku.deploy); the owner or an admin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hakutaku.api.deps import BoxDep, ReplicaDep, caller, db_session
from hakutaku.api.jobs import LOG_CHUNK, read_from
from hakutaku.db.models import Job
from hakutaku.deploy import service
from hakutaku.deploy.spec import KINDS, DeploymentSpec
from hakutaku.deploy.usage import deployment_usage
from hakutaku.identity.auth import Principal
from hakutaku.names import MODEL_NAME_MAX, MODEL_NAME_PATTERN

router = APIRouter(prefix="/api/deployments", tags=["deployments"])


class DeploymentIn(BaseModel):
    name: str = Field(pattern=MODEL_NAME_PATTERN, max_length=MODEL_NAME_MAX)
    kind: str = Field(description=f"One of {', '.join(KINDS)}.")
    target: str = Field(
        description="worker: /abs/path/file.py:Class; module: pkg.mod:Class; hub: "
        "ARCH:VERSION; openai-server: the server's command line ({port} is its port)."
    )
    partition: str | None = None
    qos: str | None = None
    account: str | None = None
    gpus: str | None = Field(None, description="[TYPE:]N cards per replica.")
    cpus: int = Field(1, ge=1)
    mem: str = "2G"
    time: str | None = Field(None, description="Each replica job's time limit.")
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(1, ge=1)
    target_inflight: float = Field(4.0, gt=0)
    idle_timeout: str = "15m"


class ScaleIn(BaseModel):
    min_replicas: int | None = Field(None, ge=0)
    max_replicas: int | None = Field(None, ge=1)


class UpdateIn(BaseModel):
    kind: str | None = None
    target: str | None = None
    partition: str | None = None
    qos: str | None = None
    gpus: str | None = None
    cpus: int | None = Field(None, ge=1)
    mem: str | None = None
    time: str | None = None


@router.post("", status_code=201)
def create(
    body: DeploymentIn,
    r: ReplicaDep,
    box: BoxDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    d = service.create(
        s, who, DeploymentSpec(**body.model_dump()), r.worker_tokens, box, r.settings.storage_path
    )
    s.commit()
    r.gateway.registry.refresh()  # callable from this replica at once (others: next refresh)
    r.controller.wake()
    return service.record(s, d)


@router.get("")
def listing(
    who: Principal = Depends(caller), s: Session = Depends(db_session, scope="function")
) -> list[dict[str, Any]]:
    return [service.record(s, d) for d in service.listing(s, who)]


@router.post("/{name:path}/scale")
def scale(
    name: str,
    body: ScaleIn,
    r: ReplicaDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    d = service.scale(s, who, name, body.min_replicas, body.max_replicas)
    s.commit()
    r.controller.wake()
    return service.record(s, d)


@router.post("/{name:path}/update")
def update(
    name: str,
    body: UpdateIn,
    r: ReplicaDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    d = service.update(s, who, name, body.model_dump(exclude_none=True), r.settings.storage_path)
    s.commit()
    r.controller.wake()
    return service.record(s, d)


@router.get("/{name:path}/logs")
def logs(
    name: str,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> list[dict[str, Any]]:
    """The tail of each live replica's job log, newest replica first."""
    d = service.get_deployment(s, who, name)
    out = []
    for rep in service.replicas(s, d):
        out.append({"job_id": rep["job_id"], "state": rep["state"], "log": _tail(s, rep["job_id"])})
    return out


@router.get("/{name:path}")
def show(
    name: str,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    d = service.get_deployment(s, who, name)
    return {
        **service.record(s, d),
        "replicas": service.replicas(s, d, ended=True),
        "usage": deployment_usage(s, d),
    }


@router.delete("/{name:path}")
def delete(
    name: str,
    r: ReplicaDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    d = service.delete(s, who, name)
    s.commit()
    r.gateway.registry.refresh()
    r.controller.wake()
    return service.record(s, d)


def _tail(s: Session, job_id: int) -> str:
    job = s.get(Job, job_id)
    if job is None or not job.log_path:
        return ""
    path = Path(job.log_path)
    try:
        size = path.stat().st_size
    except OSError:
        return ""
    return read_from(path, max(0, size - LOG_CHUNK)).decode(errors="replace")
