"""The SDK's own behaviour: defaults, argument binding, errors — against a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from hakutaku import Client
from hakutaku.sdk.errors import APIError, ConnectionFailed
from tests.conftest import TEST_MODELS
from tests.support.processes import Platform, free_port


def test_defaults_come_from_the_environment(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAI_HOME", str(platform.home))
    monkeypatch.setenv("HAI_PORT", str(platform.port))
    monkeypatch.delenv("HAI_URL", raising=False)
    monkeypatch.delenv("HAI_API_KEY", raising=False)
    client = Client()  # the bootstrap key in HAI_HOME, the URL from HAI_HOST/HAI_PORT
    assert client.base_url == platform.url
    assert client.models.list() == []
    assert client.openai.models.list().data == []


def test_binding_and_unknown_methods(platform: Platform) -> None:
    platform.start_worker(TEST_MODELS + ":Lab")
    lab = platform.client().remote_model("lab")
    assert "add" in dir(lab) and lab.methods["count"]["kind"] == "generator"
    with pytest.raises(TypeError, match="multiple values"):
        lab.add(1, a=2)
    with pytest.raises(TypeError, match="positional"):
        lab.add(1, 2, 3)
    with pytest.raises(APIError, match="no method 'missing'"):
        lab.missing()
    with pytest.raises(APIError) as bad_input:
        lab.add("x", 1)  # the model raises TypeError: a model error, not the caller's
    assert bad_input.value.status == 500
    with pytest.raises(APIError) as unknown:
        platform.client().remote_model("ghost").run()
    assert unknown.value.status == 404


def test_no_key_and_no_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAI_HOME", str(tmp_path))
    monkeypatch.delenv("HAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="HAI_API_KEY"):
        Client("http://127.0.0.1:9")
    client = Client(f"http://127.0.0.1:{free_port()}", api_key="hai-x.y")
    with pytest.raises(ConnectionFailed, match="is it running"):
        client.models.list()
