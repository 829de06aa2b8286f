"""The hub on a platform server: the service on a real SQLite database, then `/api/hub` and the
`hakutaku.hub` library in server mode against a real `hai serve` process."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from hakutaku import hub
from hakutaku.db.migrate import upgrade
from hakutaku.db.session import Database
from hakutaku.errors import Conflict, Forbidden, NotFound, PlatformError
from hakutaku.hub import backend
from hakutaku.hub.server_store import BUILTIN_ARCHITECTURES, DatasetMeta, ServerHub, WeightsMeta
from hakutaku.hub.store import FolderHub
from hakutaku.identity import service
from hakutaku.identity.auth import Principal
from tests.support.processes import Platform

PFN_CONFIG = {"features": "kin", "num_classes": 2}


def pfn_weights() -> tuple[torch.nn.Module, bytes]:
    """A small untrained PFN and its state_dict as torch.save writes it."""
    torch.manual_seed(3)
    model = hub.load("pfn", hub=FolderHub("/nonexistent-hub"), **PFN_CONFIG)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return model.eval(), buffer.getvalue()


def jets(n: int = 5, particles: int = 16) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    points = torch.randn(n, 2, particles, generator=g)
    features = torch.randn(n, 7, particles, generator=g)
    vectors = torch.rand(n, 4, particles, generator=g) + 1
    mask = torch.ones(n, 1, particles)
    return points, features, vectors, mask


@pytest.fixture(autouse=True)
def no_chosen_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts from library mode, with its own HAI_HOME (the download cache)."""
    monkeypatch.setattr(backend, "_chosen", None)
    monkeypatch.setattr(backend, "_from_env", None)
    monkeypatch.delenv("HAI_HUB", raising=False)
    monkeypatch.setenv("HAI_HOME", str(tmp_path / "client-home"))


def test_builtin_names_match_the_model_registry() -> None:
    from hakutaku.hep.models import ARCHITECTURES

    assert set(ARCHITECTURES) == BUILTIN_ARCHITECTURES


def test_the_hub_imports_neither_torch_nor_the_server() -> None:
    code = (
        "import sys; from hakutaku import hub; import hakutaku.hub.server_store; "
        "print(sorted(m for m in ('torch', 'fastapi', 'hakutaku.server') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- the service on a real database --------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'hai.db'}"
    upgrade(url)
    database = Database(url)
    with database.session() as s:
        for name, role in (("alice", "user"), ("bob", "user"), ("root", "admin")):
            service.add_user(s, name, role=role)
    yield database
    database.dispose()


def principal(db: Database, name: str) -> Principal:
    with db.session() as s:
        user = service.get_user(s, name)
        return Principal(key_id=0, user_id=user.id, user=name, role=user.role, groups=frozenset())


def test_service_weights(db: Database, tmp_path: Path) -> None:
    alice, bob, root = (principal(db, n) for n in ("alice", "bob", "root"))
    _, data = pfn_weights()
    good = hashlib.sha256(data).hexdigest()
    storage = tmp_path / "storage"

    def meta(version: str, sha256: str = good, public: bool = True) -> WeightsMeta:
        return WeightsMeta("pfn", version, sha256, config=PFN_CONFIG, public=public)

    with db.session() as s:
        store = ServerHub(s, storage)
        with pytest.raises(PlatformError, match=r"sha256 is .* not the declared") as bad:
            store.add_weights(alice, meta("v1", "0" * 64), data)
        assert bad.value.code == "checksum_mismatch"
        with pytest.raises(PlatformError, match="not PyTorch weights"):
            store.add_weights(alice, meta("v1", hashlib.sha256(b"x").hexdigest()), b"x")
        with pytest.raises(NotFound, match=r"unknown architecture .resnet.*register it first"):
            store.add_weights(alice, WeightsMeta("resnet", "v1", good), data)
        row = store.add_weights(alice, meta("v1"), data)
        assert (storage / row.file).read_bytes() == data and row.size == len(data)
        with pytest.raises(Conflict, match="already exist"):
            store.add_weights(bob, meta("v1"), data)
        store.add_weights(alice, meta("private", public=False), data)

    with db.session() as s:
        store = ServerHub(s, storage)
        assert [r.version for r in store.weights(alice, "pfn")] == ["v1", "private"]
        assert [r.version for r in store.weights(bob, "pfn")] == ["v1"]
        assert store.get_weights(bob, "pfn", "latest").version == "v1"
        with pytest.raises(NotFound, match="has no weights 'private'"):
            store.get_weights(bob, "pfn", "private")
        assert store.get_weights(root, "pfn", "private").created_by.name == "alice"
        with pytest.raises(Forbidden, match="only alice"):
            store.delete_weights(bob, "pfn", "v1")
        store.delete_weights(root, "pfn", "v1")
    assert not (storage / "hub/weights/pfn/v1.pt").exists()


def test_service_architectures_and_datasets(db: Database, tmp_path: Path) -> None:
    alice, bob = principal(db, "alice"), principal(db, "bob")
    files = [{"path": "public/top/train.root", "sha256": "a" * 64, "bytes": 10, "split": "train"}]
    with db.session() as s:
        store = ServerHub(s, tmp_path / "storage")
        with pytest.raises(Conflict, match="built-in"):
            store.add_architecture(alice, "ParticleNet", "pkg.mod:build")
        with pytest.raises(PlatformError, match=r"package\.module:callable"):
            store.add_architecture(alice, "mine", "not a builder")
        store.add_architecture(alice, "mine", "pkg.mod:build", "my model")
        with pytest.raises(Conflict, match="already registered"):
            store.add_architecture(bob, "mine", "pkg.other:build")
        store.add_dataset(alice, DatasetMeta("top", "1", files=files, public=False))
        with pytest.raises(PlatformError, match=r"files\[0\].sha256"):
            store.add_dataset(alice, DatasetMeta("bad", files=[{**files[0], "sha256": "xyz"}]))
    with db.session() as s:
        store = ServerHub(s, tmp_path / "storage")
        assert [a.name for a in store.architectures()] == ["mine"]
        assert store.get_dataset(alice, "top").size_bytes == 10
        assert store.datasets(bob) == []
        with pytest.raises(NotFound, match="no dataset named 'top' that your key may see"):
            store.get_dataset(bob, "top")


# -- /api/hub and the library in server mode, through a real server -----------------------------


def test_server_hub_end_to_end(platform: Platform, tmp_path: Path) -> None:
    alice, bob = platform.add_user_key("alice"), platform.add_user_key("bob")
    model, data = pfn_weights()
    sha = hashlib.sha256(data).hexdigest()
    url = "/api/hub/weights/pfn/raw-v1"
    params = {"sha256": sha, "config": '{"features": "kin", "num_classes": 2}', "licence": "MIT"}

    with platform.http(alice) as h:
        r = h.post(url, params={**params, "sha256": "f" * 64}, content=data)
        assert r.status_code == 400 and r.json()["error"]["code"] == "checksum_mismatch", r.text
        r = h.post(url, params=params, content=data)
        assert r.status_code == 201, r.text
        assert r.json()["created_by"] == "alice" and r.json()["size"] == len(data)
        assert h.post(url, params=params, content=data).status_code == 409
        r = h.get("/api/hub/weights", params={"architecture": "pfn"})
        assert [w["version"] for w in r.json()] == ["raw-v1"]
        r = h.get(f"{url}/file")
        assert r.content == data and r.headers["x-sha256"] == sha
        r = h.get("/api/hub/weights/pfn/nope")
        assert r.status_code == 404 and "has no weights 'nope'" in r.json()["error"]["message"]
        r = h.get("/api/hub/datasets/nothing")
        assert r.status_code == 404 and "GET /api/hub/datasets" in r.json()["error"]["message"]
    with platform.http(bob) as h:
        assert h.delete(url).status_code == 403

    # The library in server mode: register through hub.register_weights, load a working module.
    weights_file = tmp_path / "pfn.pt"
    weights_file.write_bytes(data)
    hub.use_server(platform.url, alice)
    card = hub.register_weights(
        "pfn", weights_file, version="lib-v2", config=PFN_CONFIG, metrics={"auc": 0.5}
    )
    assert card.sha256 == sha and card.created_by == "alice"
    assert [c.version for c in hub.list_weights("pfn")] == ["raw-v1", "lib-v2"]
    loaded = hub.load("pfn", weights="lib-v2")
    assert loaded.config["weights"] == "pfn/lib-v2" and not loaded.training
    with torch.no_grad():
        torch.testing.assert_close(loaded(*jets()), model(*jets()))
    with pytest.raises(LookupError, match="has no weights 'v9'"):
        hub.load("pfn", weights="v9")
    with pytest.raises(ValueError, match="already exist"):
        hub.register_weights("pfn", weights_file, version="lib-v2", config=PFN_CONFIG)

    # A user architecture: the server records the builder; the client imports and calls it.
    hub.register_architecture("identity", "torch.nn:Identity", "passes jets through")
    assert "identity" in hub.list() and "passes jets through" in hub.docs("identity")
    assert isinstance(hub.load("identity"), torch.nn.Identity)

    # Datasets: a private one is invisible to another user.
    dataset_file = tmp_path / "train.npz"
    dataset_file.write_bytes(b"jets")
    hub.datasets.register("qg-private", [dataset_file], public=False, licence="CC-BY-4.0")
    hub.datasets.register("qg-public", {"train": [dataset_file]}, splits={"train": 1})
    assert hub.datasets.get("qg-private").owner == "alice"
    assert hub.datasets.verify(hub.datasets.get("qg-public")) == []

    hub.use_server(platform.url, bob)
    assert [d.name for d in hub.datasets.list()] == ["qg-public"]
    with pytest.raises(LookupError, match="no dataset named 'qg-private' that your key may see"):
        hub.datasets.get("qg-private")


def test_hai_hub_env_selects_the_server(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAI_HUB", "server")
    monkeypatch.setenv("HAI_URL", platform.url)
    monkeypatch.setenv("HAI_API_KEY", platform.admin_key)
    assert {"pfn", "part"} <= set(hub.list())
    assert hub.list_weights("pfn") == []
    monkeypatch.setenv("HAI_HUB", "elsewhere")
    monkeypatch.setattr(backend, "_from_env", None)
    with pytest.raises(ValueError, match="HAI_HUB='elsewhere'"):
        hub.list()


def test_cli(platform: Platform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hakutaku.cli.hub import hub as hub_cli

    monkeypatch.setenv("HAI_URL", platform.url)
    monkeypatch.setenv("HAI_API_KEY", platform.admin_key)
    monkeypatch.chdir(tmp_path)
    _, data = pfn_weights()
    (tmp_path / "w.pt").write_bytes(data)
    runner = CliRunner()
    config = '{"features": "kin", "num_classes": 2}'
    result = runner.invoke(hub_cli, ["push", "pfn", "w.pt", "--version", "v1", "--config", config])
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(data).hexdigest() in result.output
    result = runner.invoke(hub_cli, ["weights", "pfn", "--json"])
    assert result.exit_code == 0 and '"version": "v1"' in result.output, result.output
    result = runner.invoke(hub_cli, ["pull", "pfn", "--out", "copy.pt"])
    assert result.exit_code == 0 and (tmp_path / "copy.pt").read_bytes() == data, result.output
    result = runner.invoke(hub_cli, ["pull", "pfn", "v7"])
    assert result.exit_code == 1 and "has no weights 'v7'" in result.output
    result = runner.invoke(hub_cli, ["push", "pfn", "w.pt", "--version", "v2", "--config", "[1]"])
    assert result.exit_code == 2 and "--config must be a JSON object" in result.output
    result = runner.invoke(hub_cli, ["datasets", "show", "none"])
    assert result.exit_code == 1 and "no dataset named 'none'" in result.output
    result = runner.invoke(hub_cli, ["list"])
    assert result.exit_code == 0 and "particlenet" in result.output
