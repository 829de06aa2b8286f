"""`/api/models`: register upstreams, set who may use a model (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from hakutaku.api.deps import BoxDep, GatewayDep, admin, db_session
from hakutaku.api.schemas import ModelOut, ModelPatch, UpstreamIn
from hakutaku.db.models import Model
from hakutaku.errors import Conflict, NotFound, PlatformError
from hakutaku.gateway.catalog import check_model_name, check_upstream_url
from hakutaku.gateway.context import Gateway

router = APIRouter(prefix="/api/models", tags=["models"], dependencies=[Depends(admin)])


def model_out(m: Model, workers: int) -> ModelOut:
    return ModelOut(
        name=m.name,
        kind=m.kind,
        description=m.description,
        public=m.public,
        groups=list(m.allowed_groups or []),
        users=list(m.allowed_users or []),
        upstream_base_url=m.upstream_base_url,
        upstream_model=m.upstream_model,
        has_upstream_key=bool(m.upstream_api_key),
        workers=workers,
    )


def _get(s: Session, name: str) -> Model:
    m = s.scalar(select(Model).where(Model.name == name))
    if m is None:
        raise NotFound(f"no model named {name!r}; list models with `hai models list`")
    return m


def _publish(s: Session, gw: Gateway) -> None:
    """Commit, then refresh this replica's snapshot so the change applies here at once."""
    s.commit()
    gw.registry.refresh()


@router.get("", response_model=list[ModelOut])
def list_models(
    gw: GatewayDep, s: Session = Depends(db_session, scope="function")
) -> list[ModelOut]:
    registry = gw.registry
    rows = s.scalars(select(Model).order_by(Model.name))
    return [model_out(m, len(registry.workers(m.name))) for m in rows]


@router.post("/upstream", response_model=ModelOut, status_code=201)
def add_upstream(
    body: UpstreamIn,
    gw: GatewayDep,
    box: BoxDep,
    s: Session = Depends(db_session, scope="function"),
) -> ModelOut:
    """Register (or update) an OpenAI-compatible upstream under a platform model name."""
    check_model_name(body.name)
    check_upstream_url(body.base_url)
    m = s.scalar(select(Model).where(Model.name == body.name))
    if m is not None and m.kind != "upstream":
        raise Conflict(f"{body.name!r} is a worker-hosted model; choose another name")
    if m is None:
        m = Model(name=body.name, kind="upstream")
        s.add(m)
    m.upstream_base_url = body.base_url.rstrip("/")
    m.upstream_model = body.upstream_model or body.name
    if body.api_key is not None:  # an update without a key keeps the stored one
        m.upstream_api_key = box.seal(body.api_key) if body.api_key else None
    m.description = body.description
    m.public = body.public
    m.allowed_groups = body.groups
    m.allowed_users = body.users
    _publish(s, gw)
    return model_out(m, 0)


@router.patch("/{name:path}", response_model=ModelOut)
def patch_model(
    name: str,
    body: ModelPatch,
    gw: GatewayDep,
    s: Session = Depends(db_session, scope="function"),
) -> ModelOut:
    """Change who may use a model: public, or listed groups and users."""
    m = _get(s, name)
    if body.public is not None:
        m.public = body.public
    if body.groups is not None:
        m.allowed_groups = body.groups
    if body.users is not None:
        m.allowed_users = body.users
    if body.description is not None:
        m.description = body.description
    _publish(s, gw)
    return model_out(m, len(gw.registry.workers(name)))


@router.delete("/{name:path}", status_code=204)
def delete_model(
    name: str, gw: GatewayDep, s: Session = Depends(db_session, scope="function")
) -> None:
    m = _get(s, name)
    if m.kind == "worker":
        raise PlatformError(
            f"{name!r} is served by workers; stop its workers instead (it reappears when one "
            "registers)"
        )
    s.delete(m)
    _publish(s, gw)
