"""Network inputs as torch tensors: `build_inputs`' arrays in the order the models take them."""

from __future__ import annotations

import numpy as np
import torch

from hakutaku.hep.jets import JetBatch

INPUT_KEYS = ("pf_points", "pf_features", "pf_vectors", "pf_mask")


def to_tensors(batch: JetBatch, features: str, length: int) -> dict[str, torch.Tensor]:
    """{pf_points, pf_features, pf_vectors, pf_mask}: float32 (n_jets, channels, length)."""
    from hakutaku.hep.features import build_inputs

    inputs = build_inputs(batch, features, length=length)
    return {
        k: torch.from_numpy(np.ascontiguousarray(inputs[k], dtype=np.float32)) for k in INPUT_KEYS
    }
