"""`--hub ARCH:VERSION` deployments: hub weights served with no class to write, through a real
server, a real replica job and real calls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hakutaku import hub
from hakutaku.hep.inputs import to_tensors
from hakutaku.hep.jets import from_four_vectors
from hakutaku.hep.models import build
from hakutaku.hep.training import predict
from hakutaku.hub.remote_store import RemoteHub
from hakutaku.sdk.errors import APIError
from tests.support.processes import Platform

Local = tuple[Platform, str]
CONFIG = {"features": "kin", "num_classes": 2}


def _jets(n_jets: int = 5, n_particles: int = 12) -> np.ndarray:
    rng = np.random.default_rng(7)
    p = rng.normal(0.0, 20.0, size=(n_jets, n_particles, 3))
    p[..., 2] += 100.0  # boosted along z, as jets are
    energy = np.sqrt((p**2).sum(-1) + 0.14**2)
    p4 = np.concatenate([p, energy[..., None]], axis=-1).astype(np.float32)
    p4[:, n_particles - 3 :] = 0.0  # zero-padded constituents
    return p4


def _push(store: RemoteHub, tmp_path: Path, version: str, *, config: dict, public: bool) -> Path:
    torch.manual_seed(len(version))
    model = build("pfn", **config)
    path = tmp_path / f"{version}.pt"
    torch.save(model.state_dict(), path)
    hub.register_weights(
        "pfn", path, version=version, config=config, metrics={"classes": ["qcd", "top"]},
        public=public, hub=store,
    )  # fmt: skip
    return path


def _expected(weights: Path, p4: np.ndarray) -> np.ndarray:
    model = build("pfn", **CONFIG)
    model.load_state_dict(torch.load(weights, weights_only=True))
    inputs = to_tensors(from_four_vectors(p4), "kin", 128)
    probs, _ = predict(model.eval(), inputs, 256, torch.device("cpu"))
    return probs


def test_hub_weights_served_and_pinned(local: Local, tmp_path: Path) -> None:
    platform, alice = local
    c = platform.client(alice)
    store = RemoteHub(platform.url, alice)
    first = _push(store, tmp_path, "top-v1", config=CONFIG, public=True)
    d = c.deployments.create("top-tagger", hub="pfn:latest", mem="1G")
    assert d["kind"] == "hub" and d["target"] == "pfn:top-v1"  # "latest" is pinned
    c.deployments.wait_ready("top-tagger", timeout=180)
    tagger = c.remote_model("top-tagger")
    p4 = _jets()
    probs = np.asarray(tagger.predict(p4))
    assert probs.shape == (5, 2)
    np.testing.assert_allclose(probs, _expected(first, p4), rtol=1e-4, atol=1e-5)
    assert tagger.classes() == ["qcd", "top"]
    info = c.models.call("top-tagger", "info", {})  # the proxy's own `.info` is the listing
    assert (
        info["weights"] == "pfn/top-v1"
        and info["sha256"] == store.find_weights("pfn", "top-v1").sha256
    )

    # Newer weights do not change what runs until the deployment is updated to them.
    second = _push(store, tmp_path, "top-v2", config=CONFIG, public=True)
    assert c.deployments.get("top-tagger")["target"] == "pfn:top-v1"
    updated = c.deployments.update("top-tagger", hub="pfn:latest")
    assert updated["target"] == "pfn:top-v2"
    c.deployments.wait_ready("top-tagger", timeout=180, generation=2)
    np.testing.assert_allclose(
        np.asarray(tagger.predict(p4)), _expected(second, p4), rtol=1e-4, atol=1e-5
    )
    c.deployments.delete("top-tagger")


def test_hub_deployments_refused_clearly(local: Local, tmp_path: Path) -> None:
    platform, alice = local
    bob = platform.add_user_key("bob")
    alice_hub = RemoteHub(platform.url, alice)
    _push(alice_hub, tmp_path, "private-v1", config=CONFIG, public=False)
    _push(alice_hub, tmp_path, "channels-v1", config={"features": 7, "num_classes": 2}, public=True)
    c_bob = platform.client(bob)
    with pytest.raises(APIError) as hidden:
        c_bob.deployments.create("bobs", hub="pfn:private-v1", mem="1G")
    assert hidden.value.status == 404 and "private-v1" in hidden.value.message
    with pytest.raises(APIError) as unknown:
        c_bob.deployments.create("bobs", hub="nosuch:v1", mem="1G")
    assert unknown.value.status == 404 and "nosuch" in unknown.value.message
    with pytest.raises(APIError) as channels:
        c_bob.deployments.create("bobs", hub="pfn:channels-v1", mem="1G")
    assert channels.value.status == 400
    assert "features=7" in channels.value.message and "--worker" in channels.value.message
    with pytest.raises(APIError) as malformed:
        c_bob.deployments.create("bobs", hub="pfn", mem="1G")
    assert malformed.value.status in (400, 422) and "ARCH:VERSION" in malformed.value.message
    assert c_bob.deployments.list() == []
