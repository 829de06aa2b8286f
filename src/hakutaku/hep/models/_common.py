"""Pieces the taggers share: input sizes, masks, trimming of padding, the classifier head."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

# Particle features per input set of the ParT data configs (JetClass_{kin,kinpid,full}.yaml).
FEATURE_DIMS: dict[str, int] = {"kin": 7, "kinpid": 13, "full": 17}


def resolve_input_dims(features: str | int) -> int:
    """The number of particle features for an input-set name ("kin", "kinpid", "full") or int."""
    if isinstance(features, bool):
        raise TypeError("features must be 'kin', 'kinpid', 'full' or a positive int")
    if isinstance(features, int):
        if features < 1:
            raise ValueError(f"features must be positive, got {features}")
        return features
    key = str(features).strip().lower()
    if key.isdigit():
        return resolve_input_dims(int(key))
    try:
        return FEATURE_DIMS[key]
    except KeyError:
        raise ValueError(
            f"unknown feature set {features!r}; expected one of {sorted(FEATURE_DIMS)} or an int"
        ) from None


def as_mask(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """A boolean (N, 1, P) mask, True for real particles; all True when `mask` is None."""
    if mask is None:
        return torch.ones_like(like[:, :1], dtype=torch.bool)
    if mask.dim() == 2:
        mask = mask.unsqueeze(1)
    return mask if mask.dtype == torch.bool else mask != 0


def trim_padding(
    mask: torch.Tensor, *tensors: torch.Tensor | None, min_length: int = 1
) -> tuple[Any, ...]:
    """Cut the particle axis after the last real particle of the batch (at least `min_length`).

    Returns the mask and the tensors, trimmed, in order (a None stays None: `Any` so that
    callers unpack them with the types they passed).

    Exact for networks whose outputs do not depend on padded slots; it only saves work. Works
    for any mask layout (real particles need not come first).
    """
    length = mask.size(-1)
    real = mask.reshape(-1, length).any(dim=0)
    last = int(real.nonzero().max()) + 1 if bool(real.any()) else 1
    keep = min(length, max(last, min_length))
    if keep == length:
        return (mask, *tensors)
    return (mask[..., :keep], *(t[..., :keep] if t is not None else None for t in tensors))


def classifier_head(model: nn.Module) -> tuple[str, nn.Linear]:
    """The final classification layer of a tagger: (state-dict prefix, module).

    Every tagger here ends in `model.fc`, a Sequential whose last module is an `nn.Linear`.
    """
    fc = getattr(model, "fc", None)
    if not isinstance(fc, nn.Sequential) or not isinstance(fc[-1], nn.Linear):
        raise TypeError(f"{type(model).__name__} has no `fc` Sequential ending in nn.Linear")
    return f"fc.{len(fc) - 1}", fc[-1]


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters (not buffers), trainable ones only by default."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def mlp_head(
    in_dim: int, fc_params: Iterable[tuple[int, float]], num_classes: int
) -> nn.Sequential:
    """Hidden layers `(width, dropout)` as Sequential(Linear, ReLU, Dropout), then Linear."""
    layers: list[nn.Module] = []
    for width, drop in fc_params:
        layers.append(nn.Sequential(nn.Linear(in_dim, width), nn.ReLU(), nn.Dropout(drop)))
        in_dim = width
    layers.append(nn.Linear(in_dim, num_classes))
    return nn.Sequential(*layers)
