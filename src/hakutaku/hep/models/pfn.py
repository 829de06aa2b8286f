"""Particle Flow Network (Deep Sets): a per-particle network Φ, a masked sum, a jet network F.

Komiske, Metodiev, Thaler, "Energy Flow Networks: Deep Sets for Particle Jets", JHEP 01 (2019)
121, arXiv:1810.05165. Sizes as in the ParT paper's PFN baseline: Φ = F = (128, 128, 128), no
batch normalisation (86.2 k parameters on the 17 JetClass "full" features, 10 classes).

Module names follow weaver's `ParticleFlowNetwork` (`input_bn`, `phi`, `fc`) so that its
state_dicts load directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._common import as_mask


class ParticleFlowNetwork(nn.Module):
    """PFN: `F(Σ_i mask_i Φ(x_i))`. `forward(points, features, lorentz_vectors, mask)` → logits.

    Only `features` (N, C, P) and `mask` (N, 1, P) are used; `points` and `lorentz_vectors` are
    accepted for a common signature and may be None.
    """

    def __init__(
        self,
        input_dims: int,
        num_classes: int,
        phi_sizes: Sequence[int] = (128, 128, 128),
        f_sizes: Sequence[int] = (128, 128, 128),
        use_bn: bool = False,
    ) -> None:
        super().__init__()
        self.input_bn = nn.BatchNorm1d(input_dims) if use_bn else nn.Identity()
        phi: list[nn.Module] = []
        width = input_dims
        for size in phi_sizes:
            phi.append(
                nn.Sequential(
                    nn.Conv1d(width, size, kernel_size=1),
                    nn.BatchNorm1d(size) if use_bn else nn.Identity(),
                    nn.ReLU(),
                )
            )
            width = size
        self.phi = nn.Sequential(*phi)
        f: list[nn.Module] = []
        for size in f_sizes:
            f.append(nn.Sequential(nn.Linear(width, size), nn.ReLU()))
            width = size
        f.append(nn.Linear(width, num_classes))
        self.fc = nn.Sequential(*f)

    def forward(
        self,
        points: torch.Tensor | None,
        features: torch.Tensor,
        lorentz_vectors: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        mask = as_mask(mask, features)
        x = self.phi(self.input_bn(features))
        x = x.masked_fill(~mask, 0).sum(dim=-1)
        return self.fc(x)
