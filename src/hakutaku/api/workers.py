"""`/api/workers`: registration and heartbeats (worker token), listing (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from hakutaku.api.deps import GatewayDep, admin, db_session, worker_auth
from hakutaku.api.schemas import Heartbeat, WorkerOut, WorkerRegistration
from hakutaku.db.models import Worker
from hakutaku.errors import NotFound
from hakutaku.gateway import catalog

router = APIRouter(prefix="/api/workers", tags=["workers"])


def _unknown(worker_id: str) -> NotFound:
    return NotFound(
        f"no worker {worker_id}; it was dropped after missed heartbeats — register again"
    )


@router.post("/register", dependencies=[Depends(worker_auth)])
def register(
    body: WorkerRegistration, gw: GatewayDep, s: Session = Depends(db_session, scope="function")
) -> dict:
    worker = catalog.register_worker(s, **body.model_dump())
    s.commit()
    gw.registry.refresh()  # route to it from this replica at once
    return {"id": worker.id, "heartbeat_interval": gw.settings.heartbeat_interval}


@router.post("/{worker_id}/heartbeat", dependencies=[Depends(worker_auth)])
def beat(
    worker_id: str, body: Heartbeat, s: Session = Depends(db_session, scope="function")
) -> dict:
    if not catalog.heartbeat(s, worker_id, body.inflight, body.served):
        raise _unknown(worker_id)
    return {"ok": True}


@router.post("/{worker_id}/deregister", dependencies=[Depends(worker_auth)])
def deregister(
    worker_id: str, gw: GatewayDep, s: Session = Depends(db_session, scope="function")
) -> dict:
    if not catalog.deregister(s, worker_id):
        raise _unknown(worker_id)
    s.commit()
    gw.registry.refresh()
    return {"ok": True}


@router.get("", response_model=list[WorkerOut], dependencies=[Depends(admin)])
def list_workers(s: Session = Depends(db_session, scope="function")) -> list[Worker]:
    return list(s.scalars(select(Worker).order_by(Worker.model, Worker.registered_at)))
