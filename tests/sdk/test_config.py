"""The client's own configuration: URL and key from arguments, then the environment; the SDK
never reads the server's settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hakutaku import Client
from hakutaku.sdk import config

CLIENT_ENV = ("HAI_URL", "HAI_HOST", "HAI_PORT", "HAI_API_KEY", "HAI_HOME")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No client variables but an empty HAI_HOME of the test's own."""
    for name in CLIENT_ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HAI_HOME", str(home))
    return home


def test_the_url_argument_then_hai_url_then_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.base_url() == "http://127.0.0.1:8000"
    monkeypatch.setenv("HAI_HOST", "gpu01.example.org")
    monkeypatch.setenv("HAI_PORT", "8123")
    assert config.base_url() == "http://gpu01.example.org:8123"
    monkeypatch.setenv("HAI_HOST", "0.0.0.0")  # a server's listen address: reach it locally
    assert config.base_url() == "http://127.0.0.1:8123"
    monkeypatch.setenv("HAI_URL", "https://hai.example.org/")
    assert config.base_url() == "https://hai.example.org"
    assert config.base_url("http://other:1/") == "http://other:1"
    monkeypatch.setenv("HAI_URL", "")  # empty counts as unset
    monkeypatch.setenv("HAI_PORT", "eighty")
    with pytest.raises(ValueError, match="HAI_PORT='eighty' is not a port number"):
        config.base_url()


def test_the_key_argument_then_hai_api_key_then_the_bootstrap_file(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    assert config.api_key() is None
    key_file = clean_env / "bootstrap-admin.key"
    key_file.write_text("hai-boot.strap\n")
    assert config.bootstrap_key_path() == key_file
    assert config.api_key() == "hai-boot.strap"
    monkeypatch.setenv("HAI_API_KEY", "hai-from.env")
    assert config.api_key() == "hai-from.env"
    assert config.api_key("hai-given.key") == "hai-given.key"
    client = Client()
    assert (client.base_url, client.api_key) == ("http://127.0.0.1:8000", "hai-from.env")
    client.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_bootstrap_key_is_no_key(clean_env: Path) -> None:
    key_file = clean_env / "bootstrap-admin.key"
    key_file.write_text("hai-boot.strap\n")
    key_file.chmod(0)
    assert config.api_key() is None
    with pytest.raises(ValueError, match="HAI_API_KEY"):
        Client()


def test_hai_home_defaults_to_the_users_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAI_HOME")
    assert config.hai_home() == Path.home() / ".hakutaku"
    monkeypatch.setenv("HAI_HOME", "~/elsewhere")
    assert config.hai_home() == Path.home() / "elsewhere"


def test_the_sdk_does_not_import_the_servers_settings(clean_env: Path) -> None:
    """A client needs a URL and a key, not hakutaku.config (pydantic-settings, hai.toml)."""
    code = (
        "import sys\n"
        "import hakutaku.sdk\n"
        "from hakutaku import Client\n"
        "c = Client('http://127.0.0.1:9', 'hai-x.y')\n"
        "[getattr(c, r) for r in ('users', 'keys', 'models', 'workers', 'compute', 'jobs',"
        " 'files', 'prices', 'contributions', 'usage', 'hub')]\n"
        "c.hub.weights, c.hub.datasets, c.hub.architectures, c.remote_model('m')\n"
        "import hakutaku.hub.remote_store\n"
        "banned = ('hakutaku.config', 'pydantic_settings', 'hakutaku.server', 'fastapi',"
        " 'sqlalchemy')\n"
        "print(sorted(m for m in banned if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HAI_HOME": str(clean_env)},
    )
    assert out.stdout.strip() == "[]"
