"""Settings: defaults, `hai.toml`, and `HAI_<NAME>` environment variables (which win)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hakutaku.config import Settings, cli_api_key, write_secret_file


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("HAI_HOME", "HAI_PORT", "HAI_HOST", "HAI_URL", "HAI_API_KEY", "HAI_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    s = Settings()
    assert s.home == tmp_path / ".hakutaku"
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.server_url == "http://127.0.0.1:8000"
    assert s.sqlalchemy_url == f"sqlite:///{tmp_path / '.hakutaku' / 'hakutaku.db'}"


def test_toml_in_home_then_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "hai.toml").write_text('port = 9123\nhost = "127.0.0.2"\nmax_body_bytes = 1024\n')
    monkeypatch.setenv("HAI_HOME", str(home))
    s = Settings()
    assert (s.port, s.host, s.max_body_bytes) == (9123, "127.0.0.2", 1024)
    monkeypatch.setenv("HAI_PORT", "8124")
    assert Settings().port == 8124


def test_cli_key_falls_back_to_the_bootstrap_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HAI_HOME", str(tmp_path))
    assert cli_api_key(Settings()) is None
    write_secret_file(tmp_path / "bootstrap-admin.key", "hai-abc.def")
    assert (tmp_path / "bootstrap-admin.key").stat().st_mode & 0o777 == 0o600
    assert cli_api_key(Settings()) == "hai-abc.def"
    monkeypatch.setenv("HAI_API_KEY", "hai-env.key")
    assert cli_api_key(Settings()) == "hai-env.key"
