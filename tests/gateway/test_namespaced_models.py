"""Model names as the field writes them: `openai/gpt-4o-mini`, `Qwen/Qwen2.5-7B-Instruct`.

Names may have '/'-separated parts for workers, upstreams and remote calls; a remote call's
model is the longest registered prefix of its path.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hakutaku.gateway.catalog import check_model_name
from hakutaku.gateway.remote.router import split_model_path
from tests.conftest import TEST_MODELS
from tests.support.processes import Platform


@pytest.mark.parametrize(
    "name", ["lab", "openai/gpt-4o-mini", "Qwen/Qwen2.5-7B-Instruct", "a/b/c:v2", "x" * 128]
)
def test_names_accepted(name: str) -> None:
    check_model_name(name)


@pytest.mark.parametrize("name", ["", "/a", "a/", "a//b", "a/ b", "-a", "a/.b", "x" * 129])
def test_names_refused_with_what_to_write(name: str) -> None:
    with pytest.raises(Exception, match="parts separated by '/'"):
        check_model_name(name)


def test_remote_path_splits_at_the_longest_registered_prefix() -> None:
    names = {"org", "org/tagger", "org/tagger/v2"}

    def registered(name: str) -> object:
        return name if name in names else None

    assert split_model_path(registered, "org/tagger/predict") == ("org/tagger", "predict")
    assert split_model_path(registered, "org/tagger/v2/predict") == ("org/tagger/v2", "predict")
    # the rest after the longest registered prefix is the method (404 if it has a '/')
    assert split_model_path(registered, "org/other/predict") == ("org", "other/predict")
    # nothing registered: everything before the last segment is the (unknown) model
    assert split_model_path(registered, "ghost/x/predict") == ("ghost/x", "predict")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = Platform(tmp_path_factory.mktemp("ns") / "home").start()
    try:
        p.start_worker(TEST_MODELS + ":Lab", name="lab-org/lab")
        p.start_worker(TEST_MODELS + ":Lab", name="lab-org/lab/v2")
        yield p
    finally:
        p.stop()


def test_namespaced_worker_models_are_called_and_listed(served: Platform) -> None:
    with served.http() as h:
        ids = {m["id"] for m in h.get("/v1/models").json()["data"]}
        assert {"lab-org/lab", "lab-org/lab/v2"} <= ids
        assert h.get("/v1/models/lab-org/lab/v2").json()["id"] == "lab-org/lab/v2"
        r = h.post("/v1/models/lab-org/lab/add", json={"a": 2, "b": 3})
        assert r.status_code == 200 and r.json() == 5
        r = h.post("/v1/models/lab-org/lab/v2/add", json={"a": 2, "b": 5})
        assert r.status_code == 200 and r.json() == 7
        r = h.post("/v1/models/lab-org/lab/v2/nope", json={})
        assert r.status_code == 404 and r.json()["error"]["code"] == "method_not_found"
        assert "lab-org/lab/v2" in r.json()["error"]["message"]
        r = h.post("/v1/models/lab-org/ghost/add", json={})
        assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"


def test_namespaced_upstreams_are_added_changed_and_removed(served: Platform) -> None:
    with served.http() as h:
        body = {"name": "openai/gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1"}
        r = h.post("/api/models/upstream", json=body)
        assert r.status_code == 201, r.text
        r = h.patch("/api/models/openai/gpt-4o-mini", json={"public": False})
        assert r.status_code == 200 and r.json()["public"] is False
        r = h.delete("/api/models/openai/gpt-4o-mini")
        assert r.status_code == 204
        r = h.post("/api/models/upstream", json={**body, "name": "openai//x"})
        assert r.status_code == 400 and "parts separated by '/'" in r.json()["error"]["message"]


def test_a_worker_registering_an_https_or_bad_url_is_refused_saying_why(served: Platform) -> None:
    token = {"authorization": f"Bearer {served.worker_token}"}
    with served.http() as h:
        for url in ("https://127.0.0.1:9443", "ftp://x", "127.0.0.1:9"):
            body = {"model": "lab-org/tls", "url": url, "methods": {"m": {}}}
            r = h.post("/api/workers/register", json=body, headers=token)
            assert r.status_code == 400, r.text
            assert "plain http://HOST:PORT" in r.json()["error"]["message"]
