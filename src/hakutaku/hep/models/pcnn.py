"""P-CNN: a 1-D ResNet over the pT-ordered particle sequence (the CMS DeepAK8-style baseline).

Sizes as in the ParT paper's P-CNN baseline: a 32-channel stem, three stages of two residual
units (64, 64, 128 channels; stride 2 at the start of stages 2 and 3), global average pooling and
a 512-wide hidden layer with dropout 0.2 (354.5 k parameters on the 17 "full" features).

Unlike the other taggers this one is not permutation invariant, by design: it convolves along
the particle order. Padded slots are zeroed before the stem, so what they held does not matter,
but the padded length does (the pooling averages over every slot), as in the reference.

Module names follow the reference `ResNet` (`fts_conv`, `resnet_units`, `fc`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._common import as_mask, mlp_head


class ResNetUnit(nn.Module):
    """Two (conv k=3, batch norm, ReLU) layers with an identity or 1×1-conv shortcut."""

    def __init__(self, in_channels: int, out_channels: int, strides: tuple[int, int] = (1, 1)):
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, stride=strides[0], padding=1)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, stride=strides[1], padding=1)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.relu = nn.ReLU()
        self.dim_match = in_channels == out_channels and tuple(strides) == (1, 1)
        if not self.dim_match:
            self.conv_sc = nn.Conv1d(
                in_channels, out_channels, 1, stride=strides[0] * strides[1], bias=False
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return (x if self.dim_match else self.conv_sc(x)) + y


class PCNN(nn.Module):
    """P-CNN. `conv_params[0] = (stem_channels,)`, then one tuple of unit widths per stage."""

    def __init__(
        self,
        input_dims: int,
        num_classes: int,
        conv_params: Sequence[Sequence[int]] = ((32,), (64, 64), (64, 64), (128, 128)),
        fc_params: Sequence[tuple[int, float]] = ((512, 0.2),),
    ) -> None:
        super().__init__()
        conv_params = [tuple(c) for c in conv_params]
        self.num_stages = len(conv_params) - 1
        stem = conv_params[0][0]
        self.fts_conv = nn.Sequential(
            nn.BatchNorm1d(input_dims),
            nn.Conv1d(input_dims, stem, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm1d(stem),
            nn.ReLU(),
        )
        self.resnet_units = nn.ModuleDict()
        for stage in range(self.num_stages):
            units = []
            width = conv_params[stage][-1]
            for j, out in enumerate(conv_params[stage + 1]):
                strides = (2, 1) if (j == 0 and stage > 0) else (1, 1)
                units.append(ResNetUnit(width, out, strides))
                width = out
            self.resnet_units[f"resnet_unit_{stage}"] = nn.Sequential(*units)
        self.fc = mlp_head(conv_params[-1][-1], fc_params, num_classes)

    def forward(
        self,
        points: torch.Tensor | None,
        features: torch.Tensor,
        lorentz_vectors: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = features.masked_fill(~as_mask(mask, features), 0)
        x = self.fts_conv(x)
        for stage in range(self.num_stages):
            x = self.resnet_units[f"resnet_unit_{stage}"](x)
        return self.fc(x.mean(dim=-1))
