"""`/api/hub`: the model zoo (architectures, versioned weights) and the dataset registry.

GET    /api/hub/architectures                          built-in and registered architectures
POST   /api/hub/architectures                          register one (`module:callable` builder)
GET    /api/hub/weights?architecture=                  weights your key may see, oldest first
POST   /api/hub/weights/{architecture}/{version}       upload (body = the .pt file; ?sha256=)
GET    /api/hub/weights/{architecture}/{version}       one card ("latest" for the newest)
GET    /api/hub/weights/{architecture}/{version}/file  download the file
DELETE /api/hub/weights/{architecture}/{version}       its creator or an admin
GET    /api/hub/datasets                               dataset cards your key may see
POST   /api/hub/datasets                               register a card (files with checksums)
GET    /api/hub/datasets/{name}?version=               one card (default the newest)
DELETE /api/hub/datasets/{name}?version=               its owner or an admin

Private weights and datasets are seen only by whoever registered them and by admins.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.responses import FileResponse

from hakutaku.api.deps import DatabaseDep, SettingsDep, caller, db_session
from hakutaku.api.schemas import RAW_BODY
from hakutaku.db.models import HubArchitecture, HubDataset, HubWeights
from hakutaku.errors import PlatformError
from hakutaku.gateway.http import read_body
from hakutaku.hub.server_store import BUILTIN_ARCHITECTURES, DatasetMeta, ServerHub, WeightsMeta
from hakutaku.identity.auth import Principal

router = APIRouter(prefix="/api/hub", tags=["hub"])

# -- wire schemas ------------------------------------------------------------------------------


class ArchitectureIn(BaseModel):
    name: str
    builder: str = Field(description="'package.module:callable' returning an nn.Module.")
    description: str = ""


class ArchitectureOut(BaseModel):
    name: str
    builder: str = Field(description="Empty for the built-in ones.")
    description: str
    builtin: bool
    owner: str | None
    created_at: datetime | None


class WeightsOut(BaseModel):
    architecture: str
    version: str
    sha256: str
    size: int
    config: dict[str, Any] = Field(description="The builder's keywords for these weights.")
    training_data: str
    metrics: dict[str, Any]
    licence: str
    author: str
    description: str
    public: bool
    created_by: str
    created_at: datetime
    download: str = Field(description="Path of the file on this server.")


class DatasetFileIO(BaseModel):
    path: str
    sha256: str
    bytes: int = Field(ge=0)
    split: str = ""


class DatasetIn(BaseModel):
    name: str
    version: str = "1"
    description: str = ""
    licence: str = ""
    citation: str = ""
    format: str = ""
    files: list[DatasetFileIO] = Field(default_factory=list)
    splits: dict[str, int] = Field(default_factory=dict, description="Split → number of jets.")
    public: bool = True


class DatasetOut(DatasetIn):
    size_bytes: int
    owner: str
    created_at: datetime


def weights_out(row: HubWeights) -> WeightsOut:
    return WeightsOut(
        architecture=row.architecture,
        version=row.version,
        sha256=row.sha256,
        size=row.size,
        config=row.config,
        training_data=row.training_data,
        metrics=row.metrics,
        licence=row.licence,
        author=row.author,
        description=row.description,
        public=row.public,
        created_by=row.created_by.name,
        created_at=row.created_at,
        download=f"/api/hub/weights/{quote(row.architecture, safe='')}/"
        f"{quote(row.version, safe='')}/file",
    )


def dataset_out(row: HubDataset) -> DatasetOut:
    return DatasetOut(
        name=row.name,
        version=row.version,
        description=row.description,
        licence=row.licence,
        citation=row.citation,
        format=row.format,
        files=[DatasetFileIO(**f) for f in row.files],
        splits=row.splits,
        public=row.public,
        size_bytes=row.size_bytes,
        owner=row.owner.name,
        created_at=row.created_at,
    )


def architecture_out(row: HubArchitecture) -> ArchitectureOut:
    return ArchitectureOut(
        name=row.name,
        builder=row.builder,
        description=row.description,
        builtin=False,
        owner=row.owner.name,
        created_at=row.created_at,
    )


def _hub(settings: SettingsDep, s: Session = Depends(db_session, scope="function")) -> ServerHub:
    # The same session as the endpoint's own `s` (FastAPI runs a dependency once a request).
    return ServerHub(s, settings.storage_path)


HubDep = Annotated[ServerHub, Depends(_hub)]


def _json_object(name: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise PlatformError(f"{name} must be a JSON object: {exc}", param=name) from exc
    if not isinstance(value, dict):
        raise PlatformError(f"{name} must be a JSON object, not {type(value).__name__}", param=name)
    return value


# -- architectures -----------------------------------------------------------------------------


@router.get("/architectures", response_model=list[ArchitectureOut])
def list_architectures(
    hub: HubDep,
    _who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> list[ArchitectureOut]:
    builtin = [
        ArchitectureOut(
            name=n, builder="", description="", builtin=True, owner=None, created_at=None
        )
        for n in sorted(BUILTIN_ARCHITECTURES)
    ]
    return builtin + [architecture_out(r) for r in hub.architectures()]


@router.post("/architectures", response_model=ArchitectureOut, status_code=201)
def add_architecture(
    body: ArchitectureIn,
    hub: HubDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> ArchitectureOut:
    """Record a builder; clients import it to build the module (the server never runs it)."""
    row = hub.add_architecture(who, body.name, body.builder, body.description)
    return architecture_out(row)


# -- weights -----------------------------------------------------------------------------------


@router.get("/weights", response_model=list[WeightsOut])
def list_weights(
    hub: HubDep,
    architecture: str | None = None,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> list[WeightsOut]:
    return [weights_out(r) for r in hub.weights(who, architecture)]


@router.post(
    "/weights/{architecture}/{version}",
    response_model=WeightsOut,
    status_code=201,
    openapi_extra=RAW_BODY,
)
async def add_weights(
    architecture: str,
    version: str,
    request: Request,
    settings: SettingsDep,
    db: DatabaseDep,
    sha256: str = Query(description="Hex SHA-256 of the body; the upload is refused if unequal."),
    config: str = Query(default="{}", description="JSON object: the builder's keywords."),
    metrics: str = Query(default="{}", description='JSON object, e.g. {"auc": 0.98}.'),
    training_data: str = "",
    licence: str = "",
    author: str = Query(default="", description="Who made the weights (free text)."),
    description: str = "",
    public: bool = Query(default=True, description="false: only you and admins see them."),
    who: Principal = Depends(caller),
) -> WeightsOut:
    """Upload a state_dict saved with torch.save (at most HAI_MAX_BODY_BYTES) with its card."""
    meta = WeightsMeta(
        architecture=architecture,
        version=version,
        sha256=sha256,
        config=_json_object("config", config),
        training_data=training_data,
        metrics=_json_object("metrics", metrics),
        licence=licence,
        author=author,
        description=description,
        public=public,
    )
    data = await read_body(request, settings.max_body_bytes)

    def store() -> WeightsOut:
        with db.session() as s:
            return weights_out(ServerHub(s, settings.storage_path).add_weights(who, meta, data))

    # Hashing and writing a file of up to the body limit would stall the event loop.
    return await asyncio.to_thread(store)


@router.get("/weights/{architecture}/{version}", response_model=WeightsOut)
def get_weights(
    architecture: str,
    version: str,
    hub: HubDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> WeightsOut:
    return weights_out(hub.get_weights(who, architecture, version))


@router.get("/weights/{architecture}/{version}/file", response_class=FileResponse)
def download_weights(
    architecture: str,
    version: str,
    hub: HubDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> FileResponse:
    """The weights file; the `x-sha256` header carries its checksum."""
    row = hub.get_weights(who, architecture, version)
    return FileResponse(
        hub.weights_path(row),
        media_type="application/octet-stream",
        filename=f"{row.architecture}-{row.version}.pt",
        headers={"x-sha256": row.sha256},
    )


@router.delete("/weights/{architecture}/{version}", response_model=WeightsOut)
def delete_weights(
    architecture: str,
    version: str,
    hub: HubDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> WeightsOut:
    """Delete a version and its file (whoever registered it, or an admin)."""
    row = hub.delete_weights(who, architecture, version)
    return weights_out(row)


# -- datasets ----------------------------------------------------------------------------------


@router.get("/datasets", response_model=list[DatasetOut])
def list_datasets(
    hub: HubDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> list[DatasetOut]:
    return [dataset_out(r) for r in hub.datasets(who)]


@router.post("/datasets", response_model=DatasetOut, status_code=201)
def add_dataset(
    body: DatasetIn,
    hub: HubDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> DatasetOut:
    """Register a dataset card; you become its owner."""
    meta = DatasetMeta(**body.model_dump())
    return dataset_out(hub.add_dataset(who, meta))


@router.get("/datasets/{name}", response_model=DatasetOut)
def get_dataset(
    name: str,
    hub: HubDep,
    version: str = "latest",
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> DatasetOut:
    return dataset_out(hub.get_dataset(who, name, version))


@router.delete("/datasets/{name}", response_model=DatasetOut)
def delete_dataset(
    name: str,
    hub: HubDep,
    version: str = Query(description="The version to delete."),
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> DatasetOut:
    return dataset_out(hub.delete_dataset(who, name, version))
