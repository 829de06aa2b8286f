"""The model zoo and dataset registry: `from hakutaku import hub`.

    hub.list()                                   architectures (built-in and registered)
    hub.docs("part")                             what an architecture is and how to configure it
    hub.load("part", features="full", num_classes=10)          an untrained ParT
    hub.load("particlenet", weights="ParticleNet_kin.pt", features="kin", num_classes=10)
    hub.register_weights("particlenet", "model.pt", version="top-v1", config={...}, ...)
    hub.list_weights("particlenet"); hub.load("particlenet", weights="top-v1")
    hub.datasets.register(...); hub.datasets.list(); hub.datasets.get("name")

Used as a library the hub lives in a folder (`HAI_HUB_DIR`, else `$HAI_HOME/hub`). With a
platform server it lives in the server's database and storage root: call
`hub.use_server(url, api_key)` or set `HAI_HUB=server` (URL and key from HAI_URL, HAI_API_KEY).
"""

from __future__ import annotations

from hakutaku.hub import datasets
from hakutaku.hub.backend import use_folder, use_server
from hakutaku.hub.models import (
    docs,
    list,
    list_weights,
    load,
    register_architecture,
    register_weights,
)

__all__ = [
    "datasets",
    "docs",
    "list",
    "list_weights",
    "load",
    "register_architecture",
    "register_weights",
    "use_folder",
    "use_server",
]
