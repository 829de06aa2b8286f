"""`/api/worker-tokens`: worker tokens scoped to one model (its owner, or an admin)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from hakutaku.api.deps import ReplicaDep, caller, db_session
from hakutaku.identity.auth import Principal
from hakutaku.identity.worker_tokens import claim_model, list_tokens, revoke_token
from hakutaku.names import MODEL_NAME_MAX, MODEL_NAME_PATTERN

router = APIRouter(prefix="/api/worker-tokens", tags=["workers"])


class WorkerTokenIn(BaseModel):
    model: str = Field(pattern=MODEL_NAME_PATTERN, max_length=MODEL_NAME_MAX)
    note: str = Field("", max_length=255)


class WorkerTokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    model: str
    note: str
    deployment_id: int | None
    created_at: datetime


class NewWorkerToken(WorkerTokenOut):
    token: str  # shown once


@router.post("", status_code=201)
def create(
    body: WorkerTokenIn,
    r: ReplicaDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> NewWorkerToken:
    claim_model(s, who, body.model)
    row, token = r.worker_tokens.create(s, body.model, user_id=who.user_id, note=body.note)
    s.commit()
    return NewWorkerToken(**WorkerTokenOut.model_validate(row).model_dump(), token=token)


@router.get("")
def listing(
    model: str | None = None,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> list[WorkerTokenOut]:
    return [WorkerTokenOut.model_validate(t) for t in list_tokens(s, who, model)]


@router.delete("/{token_id}")
def revoke(
    token_id: str,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict:
    revoke_token(s, who, token_id)
    s.commit()
    return {"ok": True, "id": token_id}
