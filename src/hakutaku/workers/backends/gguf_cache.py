"""A GGUF chat model converted once: its dequantized weights kept as a transformers folder.

transformers dequantizes a GGUF file's tensors on every load (about 20 s for the bundled
SmolLM2-135M on 2 cores, the tokenizer rebuilt from the file's vocabulary among them); the
same weights read back from safetensors load in under a second. The first load of a file
writes them under the cache folder, keyed by the file (path, size, modification time), the
dtype and the transformers release, so a replaced file or an upgrade converts again.

`HAI_CHAT_CACHE_DIR` (default `$XDG_CACHE_HOME/hakutaku/chat-models`, else
`~/.cache/hakutaku/chat-models`) is the cache folder; `off` turns the cache off. A folder is
written beside its final name and renamed into place, so a load never sees half of one, and two
workers converting at once leave one. A cache that cannot be written (read-only, disk full) or
read (damaged) costs the conversion, never the model: the GGUF file is loaded as before.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CACHE_VARIABLE = "HAI_CHAT_CACHE_DIR"
OFF = "off"
DONE_MARK = "converted-from.txt"  # written last inside the folder (before the rename)


def cache_root() -> Path | None:
    configured = os.environ.get(CACHE_VARIABLE, "").strip()
    if configured.lower() == OFF:
        return None
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "hakutaku" / "chat-models"


def conversion_folder(gguf: Path, dtype: str, library_version: str) -> Path | None:
    """Where the conversion of `gguf` to `dtype` is (or goes); None when the cache is off."""
    root = cache_root()
    if root is None:
        return None
    resolved = gguf.resolve()
    stat = resolved.stat()
    key = f"{resolved}|{stat.st_size}|{stat.st_mtime_ns}|{dtype}|{library_version}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return root / f"{resolved.stem}-{digest}"


def is_complete(folder: Path) -> bool:
    return (folder / DONE_MARK).is_file()


def save(model: Any, tokenizer: Any, folder: Path, source: Path) -> None:
    """Write the loaded model and tokenizer as a transformers folder at `folder`."""
    from safetensors.torch import save_file

    partial = folder.with_name(f"{folder.name}.part-{os.getpid()}")
    try:
        partial.mkdir(parents=True)
        config = copy.deepcopy(model.config)
        # The weights are plain tensors now: a reload must not look for a GGUF file.
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.save_pretrained(partial)
        model.generation_config.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        save_file(_untied(model.state_dict()), partial / "model.safetensors", {"format": "pt"})
        (partial / DONE_MARK).write_text(f"{source.resolve()}\n")
        try:
            partial.rename(folder)
        except OSError:  # another worker's conversion is there first: keep that one
            shutil.rmtree(partial, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        logger.warning(
            "could not keep the converted chat model in %s (%s); the next start converts the "
            "GGUF file again (set %s to a writable folder, or to 'off')",
            folder,
            exc,
            CACHE_VARIABLE,
        )


def discard(folder: Path) -> None:
    """A cached folder that failed to load: remove it so the next start converts afresh."""
    shutil.rmtree(folder, ignore_errors=True)


def _untied(state: dict[str, Any]) -> dict[str, Any]:
    """Each tensor once, on the CPU: a tied output layer shares the embedding's storage
    (safetensors refuses shared storage; the config's tie_word_embeddings ties it again)."""
    seen: set[int] = set()
    tensors: dict[str, Any] = {}
    for name, tensor in state.items():
        pointer = tensor.data_ptr()
        if pointer in seen:
            continue
        seen.add(pointer)
        tensors[name] = tensor.detach().to("cpu").contiguous()
    return tensors
