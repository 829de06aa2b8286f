"""The exact per-user index: one float32 matrix per paper, searched with one matrix product.

Where: `$HAI_HOME/papers/<user_id>/<paper_id>.npy` (HAI_PAPERS_DIR moves the root), row i the
L2-normalised vector of the paper's chunk of ordinal i (so a dot product is the cosine). A
question reads (memory-maps) only the papers it is asked about.

How it scales: 384 floats are 1.5 KB a chunk; a 30-page paper is ~100 chunks (150 KB). Exact
search costs one (chunks × 384) product: ~1 ms per 10⁴ chunks on one core, so it stays
interactive to ~10⁶ chunks (1.5 GB, ~0.1 s) per question — far past what one user reads. Past
that an approximate index (FAISS, HNSW) would replace `top_k` without changing callers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


class PaperVectors:
    """The vector files of every user's papers under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, user_id: int, paper_id: int) -> Path:
        return self.root / str(user_id) / f"{paper_id}.npy"

    def save(self, user_id: int, paper_id: int, vectors: NDArray[np.float32]) -> None:
        target = self.path(user_id, paper_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_suffix(".part.npy")
        np.save(part, np.ascontiguousarray(vectors, dtype=np.float32))
        os.replace(part, target)  # a reader sees the whole matrix or none

    def load(self, user_id: int, paper_id: int) -> NDArray[np.float32]:
        return np.load(self.path(user_id, paper_id), mmap_mode="r")

    def delete(self, user_id: int, paper_id: int) -> None:
        self.path(user_id, paper_id).unlink(missing_ok=True)


def top_k(
    matrix: NDArray[np.float32], query: NDArray[np.float32], k: int
) -> list[tuple[int, float]]:
    """(row, cosine score) of the k rows most similar to `query`, best first (exact)."""
    if matrix.shape[0] == 0 or k < 1:
        return []
    scores = matrix @ query
    k = min(k, scores.shape[0])
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(int(i), float(scores[i])) for i in best]
