"""`/api/workers`: registration and heartbeats (a worker token), listing (admins).

A worker token scoped to a model registers and beats for that model only; any other name is
refused (403) and logged, so a worker holding one model's token cannot take another's traffic.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from hakutaku.api.deps import BoxDep, GatewayDep, admin, db_session, worker_auth
from hakutaku.api.schemas import Heartbeat, WorkerOut, WorkerRegistration
from hakutaku.db.models import Worker
from hakutaku.errors import NotFound, PlatformError
from hakutaku.gateway import catalog
from hakutaku.identity.worker_tokens import WorkerCredential

router = APIRouter(prefix="/api/workers", tags=["workers"])
log = logging.getLogger("hakutaku.workers")


def _unknown(worker_id: str) -> NotFound:
    return NotFound(
        f"no worker {worker_id}; it was dropped after missed heartbeats — register again"
    )


def _check_scope(credential: WorkerCredential, model: str, what: str) -> None:
    if not credential.may_serve(model):
        log.warning(
            "worker token %s (model %r) refused: it tried to %s model %r",
            credential.token_id,
            credential.model,
            what,
            model,
        )
        raise credential.refusal(model)


def _own_worker(s: Session, worker_id: str, credential: WorkerCredential, what: str) -> Worker:
    worker = s.get(Worker, worker_id)
    if worker is None:
        raise _unknown(worker_id)
    _check_scope(credential, worker.model, what)
    return worker


@router.post("/register")
def register(
    body: WorkerRegistration,
    gw: GatewayDep,
    box: BoxDep,
    credential: WorkerCredential = Depends(worker_auth),
    s: Session = Depends(db_session, scope="function"),
) -> dict:
    _check_scope(credential, body.model, "register")
    if credential.model is not None and body.call_token is None:
        raise PlatformError(
            "A worker with a scoped token must send the call_token the gateway will call it "
            "with (hakutaku's `hai worker` does); the global worker token is never sent to it.",
            param="call_token",
        )
    fields = body.model_dump()
    if body.call_token is not None:
        fields["call_token"] = box.seal(body.call_token)
    worker = catalog.register_worker(s, **fields)
    s.commit()
    gw.registry.refresh()  # route to it from this replica at once
    return {"id": worker.id, "heartbeat_interval": gw.settings.heartbeat_interval}


@router.post("/{worker_id}/heartbeat")
def beat(
    worker_id: str,
    body: Heartbeat,
    credential: WorkerCredential = Depends(worker_auth),
    s: Session = Depends(db_session, scope="function"),
) -> dict:
    if credential.model is not None:
        _own_worker(s, worker_id, credential, "beat for")
    if not catalog.heartbeat(s, worker_id, body.inflight, body.served):
        raise _unknown(worker_id)
    return {"ok": True}


@router.post("/{worker_id}/deregister")
def deregister(
    worker_id: str,
    gw: GatewayDep,
    credential: WorkerCredential = Depends(worker_auth),
    s: Session = Depends(db_session, scope="function"),
) -> dict:
    if credential.model is not None:
        _own_worker(s, worker_id, credential, "deregister")
    if not catalog.deregister(s, worker_id):
        raise _unknown(worker_id)
    s.commit()
    gw.registry.refresh()
    return {"ok": True}


@router.get("", response_model=list[WorkerOut], dependencies=[Depends(admin)])
def list_workers(s: Session = Depends(db_session, scope="function")) -> list[Worker]:
    return list(s.scalars(select(Worker).order_by(Worker.model, Worker.registered_at)))
