"""The hub page: architectures, weights versions and datasets, with a search.

GET /hub?q=TEXT   the page; asked by htmx (the search box), only its results

Everything comes from hub/server_store.py's ServerHub as the signed-in user, with the rule of
/api/hub: public weights and datasets for everyone, private ones for whoever registered them
and admins. The search is a server-side filter over names, descriptions and authors (weights'
author, datasets' citation), one query per kind with their owners loaded alongside, at most
LIMITS of each. Downloads go to GET /api/hub/weights/.../file, which the session cookie opens.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hakutaku.api.deps import ReplicaDep
from hakutaku.api.hub import weights_out
from hakutaku.db.models import HubArchitecture, HubDataset, HubWeights
from hakutaku.hub.server_store import BUILTIN_ARCHITECTURES, ServerHub
from hakutaku.identity.auth import Principal
from hakutaku.portal.auth import User
from hakutaku.portal.i18n import N_, _
from hakutaku.portal.templating import render
from hakutaku.server.replica import Replica

router = APIRouter(include_in_schema=False)

# Shown on one page, of each kind; the search narrows the rest. Sized so that the page
# renders within the portal's budget (a dataset card with its files is the costly part).
LIMITS = {"architectures": 100, "weights": 50, "datasets": 10}
FILES_SHOWN = 10  # of one dataset's files; GET /api/hub/datasets/{name} has them all
QUERY_LENGTH = 128

# The taggers every client has (hakutaku.hep.models), described here: they have no rows.
BUILTIN_DESCRIPTIONS = {
    "pfn": N_("Particle Flow Network: a deep set over the jet's particles."),
    "pcnn": N_("P-CNN: a 1D convolutional network over the particles, ordered by pT."),
    "particlenet": N_("ParticleNet: dynamic graph convolutions (EdgeConv) on the particle cloud."),
    "part": N_("Particle Transformer (ParT): attention with pairwise particle interactions."),
}


@dataclass(frozen=True, slots=True)
class ArchitectureView:
    name: str
    builtin: bool
    builder: str
    description: str
    owner: str | None


@dataclass(frozen=True, slots=True)
class WeightsView:
    architecture: str
    version: str
    description: str
    metrics: list[tuple[str, str]]
    training_data: str
    licence: str
    author: str
    size: int
    sha256: str
    public: bool
    created_by: str
    created_at: datetime
    download: str


@dataclass(frozen=True, slots=True)
class DatasetView:
    name: str
    version: str
    description: str
    licence: str
    citation: str
    format: str
    size: int
    splits: list[tuple[str, Any]]
    files: list[dict[str, Any]]
    files_more: int
    public: bool
    owner: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HubResults:
    query: str
    architectures: list[ArchitectureView]
    weights: list[WeightsView]
    datasets: list[DatasetView]
    more: list[str]  # the kinds with more matches than are shown

    @property
    def empty(self) -> bool:
        return not (self.architectures or self.weights or self.datasets)


def _metric(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _weights_view(row: HubWeights) -> WeightsView:
    out = weights_out(row)  # what GET /api/hub/weights says of it, to the letter
    fields = out.model_dump(exclude={"config", "metrics"})
    metrics = [(str(k), _metric(v)) for k, v in sorted((out.metrics or {}).items())]
    return WeightsView(**fields, metrics=metrics)


def _dataset_view(row: HubDataset) -> DatasetView:
    files = list(row.files or [])
    return DatasetView(
        name=row.name,
        version=row.version,
        description=row.description,
        licence=row.licence,
        citation=row.citation,
        format=row.format,
        size=row.size_bytes,
        splits=sorted((row.splits or {}).items()),
        files=files[:FILES_SHOWN],
        files_more=max(0, len(files) - FILES_SHOWN),
        public=row.public,
        owner=row.owner.name,
        created_at=row.created_at,
    )


def _architecture_view(row: HubArchitecture) -> ArchitectureView:
    return ArchitectureView(row.name, False, row.builder, row.description, row.owner.name)


def _builtin(text: str) -> list[ArchitectureView]:
    found = []
    for name in sorted(BUILTIN_ARCHITECTURES):
        description = _(BUILTIN_DESCRIPTIONS.get(name, ""))
        if not text or text.lower() in name.lower() or text.lower() in description.lower():
            found.append(ArchitectureView(name, True, "", description, None))
    return found


def search(replica: Replica, who: Principal, text: str) -> HubResults:
    """What `who` may see of the hub that matches `text` (blocking: runs in a thread)."""
    with replica.db.session() as s:
        hub = ServerHub(s, replica.settings.storage_path)
        # one more than shown: whether there are more
        registered = hub.find_architectures(text, LIMITS["architectures"] + 1)
        weights = hub.find_weights(who, text, LIMITS["weights"] + 1)
        datasets = hub.find_datasets(who, text, LIMITS["datasets"] + 1)
        more = [
            kind
            for kind, rows in (
                (N_("architectures"), registered),
                (N_("weights"), weights),
                (N_("datasets"), datasets),
            )
            if len(rows) > LIMITS[kind]
        ]
        return HubResults(
            query=text,
            architectures=_builtin(text)
            + [_architecture_view(r) for r in registered[: LIMITS["architectures"]]],
            weights=[_weights_view(r) for r in weights[: LIMITS["weights"]]],
            datasets=[_dataset_view(r) for r in datasets[: LIMITS["datasets"]]],
            more=[_(kind) for kind in more],
        )


@router.get("/hub")
async def hub_page(request: Request, replica: ReplicaDep, user: User, q: str = "") -> Response:
    text = q.strip()[:QUERY_LENGTH]
    results = await asyncio.to_thread(search, replica, user.principal, text)
    headers = request.headers
    # htmx's search asks for the results alone; a history restore needs the whole page
    partial = "hx-request" in headers and "hx-history-restore-request" not in headers
    template = "hub/results.html" if partial else "hub/page.html"
    response = render(request, template, {"results": results, "q": text})
    response.headers["vary"] = "HX-Request"
    return response
