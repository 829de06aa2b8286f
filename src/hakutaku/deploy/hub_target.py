"""`--hub ARCH:VERSION` deployments: the weights a replica serves, pinned and checked.

A deployment of `latest` is pinned to the version that is latest when it is created or
updated, so replicas started later serve the same weights. Replicas run
`hakutaku.workers.backends.hub_tagger:HubTagger`, configured from the card by `replica_env`.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hakutaku.db.models import HubArchitecture, HubWeights
from hakutaku.errors import PlatformError
from hakutaku.hub.server_store import ServerHub
from hakutaku.identity.auth import Principal

HUB_BACKEND = "hakutaku.workers.backends.hub_tagger:HubTagger"
# Feature sets a replica computes from the four-vectors a caller sends (hakutaku.hep.features).
SERVABLE_FEATURES = ("kin", "kinpid", "full")


def pin(s: Session, owner: Principal, target: str, storage_root: Path) -> str:
    """`ARCH:VERSION` (or `ARCH:latest`) → `ARCH:VERSION` of weights the owner may see."""
    architecture, _, version = target.partition(":")
    hub = ServerHub(s, storage_root)
    row = hub.get_weights(owner, architecture, version)
    hub.weights_path(row)  # the file is there
    features = row.config.get("features", "kin")
    if features not in SERVABLE_FEATURES:
        raise PlatformError(
            f"{row.architecture}/{row.version} is built with features={features!r}; a --hub "
            f"replica computes its inputs from four-vectors and needs one of "
            f"{', '.join(SERVABLE_FEATURES)}. Deploy a class with --worker instead.",
            param="target",
        )
    return f"{row.architecture}:{row.version}"


def replica_env(s: Session, target: str, storage_root: Path) -> dict[str, str]:
    """The environment of a replica serving the pinned `target`."""
    architecture, _, version = target.partition(":")
    row = s.scalar(
        select(HubWeights).where(
            HubWeights.architecture == architecture, HubWeights.version == version
        )
    )
    if row is None:
        raise PlatformError(
            f"the weights {architecture}/{version} were deleted from the hub; point the "
            "deployment at others with `hai deploy update NAME --hub ARCH:VERSION`"
        )
    path = ServerHub(s, storage_root).weights_path(row)
    builder = s.scalar(select(HubArchitecture.builder).where(HubArchitecture.name == architecture))
    classes = row.metrics.get("classes") if isinstance(row.metrics, dict) else None
    env = {
        "HAI_HUB_ARCH": architecture,
        "HAI_HUB_CONFIG": json.dumps(row.config),
        "HAI_HUB_WEIGHTS_FILE": str(path),
        "HAI_HUB_SHA256": row.sha256,
        "HAI_HUB_REF": f"{architecture}/{version}",
        "HAI_HUB_CLASSES": json.dumps(classes if isinstance(classes, list) else []),
    }
    if builder:
        env["HAI_HUB_BUILDER"] = builder
    return env
