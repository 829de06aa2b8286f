"""ParticleNet: dynamic graph CNN (EdgeConv) on the particle cloud.

Qu, Gouskos, "ParticleNet: Jet Tagging via Particle Clouds", Phys. Rev. D 101 (2020) 056019,
arXiv:1902.08570. Defaults are the ParT paper's JetClass configuration (the published
`ParticleNet_{kin,kinpid,full}.pt` checkpoints): batch norm on the inputs, three EdgeConv
blocks with k = 16 and (64,64,64), (128,128,128), (256,256,256) channels, mean pooling over the
real particles, one 256-wide hidden layer with dropout 0.1 and no fusion block (370.2 k
parameters on the 17 "full" features, 10 classes). `use_fusion=True` adds the fusion block of
the original paper's configuration.

Module and parameter names follow weaver-core's `ParticleNet` (`bn_fts`, `edge_convs.N.convs`,
`.bns`, `.sc`, `.sc_bn`, `fusion_block`, `fc`), so weaver's state_dicts load by stripping the
wrapper's `mod.` prefix (see `hakutaku.hep.weights`). In eval mode the outputs equal weaver's.

By default the network runs "packed": every per-particle and per-edge layer acts on the real
particles only, as rows, instead of on every slot up to the batch's longest jet. Jets vary in
size (generated top and QCD jets: 64 particles on average, up to 128), so about half of a dense
batch's edges belong to padding, and the EdgeConv layers are nearly all of the cost. Only the
neighbour search stays dense (it is a small part of the work). In training, the batch norms
then normalise over real particles and their edges only (weaver's also count padded slots, so
its statistics depend on how much padding a batch has).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from ._common import as_mask, mlp_head, trim_padding

# Coordinate given to padded particles so they are never anyone's nearest neighbours. The
# distances are computed in float32, so this is safe under autocast too.
PADDING_COORDINATE = 1e9

DEFAULT_CONV_PARAMS = ((16, (64, 64, 64)), (16, (128, 128, 128)), (16, (256, 256, 256)))
DEFAULT_FC_PARAMS = ((256, 0.1),)


def knn_indices(points: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (N, P, k) of each particle's k nearest neighbours in `points` (N, D, P), self
    excluded (the closest entry, at distance zero, is dropped)."""
    x = points.float()
    inner = -2 * torch.matmul(x.transpose(2, 1), x)  # (N, P, P)
    sq = x.square().sum(dim=1, keepdim=True)  # (N, 1, P)
    dist = (sq.transpose(2, 1) + inner + sq).clamp(min=0)
    k = min(k, x.size(-1) - 1)
    return dist.topk(k=k + 1, dim=-1, largest=False, sorted=True)[1][:, :, 1:]


def gather_neighbours(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x_j for each particle i and its neighbours j = idx[:, i, :]: (N, C, P) → (N, C, P, k)."""
    batch, channels, length = x.shape
    k = idx.size(-1)
    offset = torch.arange(batch, device=x.device).view(-1, 1, 1) * length
    flat = x.transpose(2, 1).reshape(batch * length, channels)
    neighbours = flat[(idx + offset).reshape(-1)].view(batch, length, k, channels)
    return neighbours.permute(0, 3, 1, 2)


def edge_features(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """EdgeConv inputs (N, 2C, P, k): for each particle i and neighbour j, (x_i, x_j - x_i)."""
    neighbours = gather_neighbours(x, idx)
    centre = x.unsqueeze(-1).expand(-1, -1, -1, idx.size(-1))
    return torch.cat((centre, neighbours - centre), dim=1)


def _bias(conv: nn.Conv1d | nn.Conv2d, dtype: torch.dtype) -> torch.Tensor | None:
    return None if conv.bias is None else conv.bias.to(dtype)


def _pointwise(conv: nn.Conv1d | nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """A 1×1 convolution applied to rows x (..., C_in) → (..., C_out)."""
    return nn.functional.linear(x, conv.weight.flatten(1).to(x.dtype), _bias(conv, x.dtype))


def knn_rows(
    dense: torch.Tensor, rows: torch.Tensor, slot_to_row: torch.Tensor, k: int
) -> torch.Tensor:
    """Neighbour rows (R, k) of the real particles: `dense` (N, D, P) holds every jet's
    coordinates with padded slots far away, `rows` (R,) the real particles' flat slots
    (jet · P + position), `slot_to_row` (N · P,) each slot's row, R for padded slots."""
    length = dense.size(-1)
    idx = knn_indices(dense, k)  # (N, P, k) positions within the jet
    idx = idx.reshape(-1, idx.size(-1)).index_select(0, rows)  # (R, k)
    jet_start = torch.div(rows, length, rounding_mode="floor").mul_(length)
    return slot_to_row[idx + jet_start.unsqueeze(1)]


class EdgeConvBlock(nn.Module):
    """x_i' = ReLU(shortcut(x_i) + mean_j h(x_i, x_j - x_i)) over the k nearest neighbours j
    (found in `points`), h = layers of (1×1 conv, batch norm, ReLU).

    The first layer is linear in (x_i, x_j − x_i), so W·(x_i, x_j − x_i) = (W₁ − W₂)·x_i + W₂·x_j
    can be computed per particle and then gathered: k times fewer multiplications for that
    layer. `exact`: True always builds the edge tensor as the reference does (bitwise equal
    outputs), False always factorises, None (default) factorises in training mode only.
    """

    def __init__(
        self,
        k: int,
        in_feat: int,
        out_feats: Sequence[int],
        batch_norm: bool = True,
        activation: bool = True,
        exact: bool | None = None,
    ) -> None:
        super().__init__()
        self.k = k
        self.exact = exact
        self.convs = nn.ModuleList()
        width = 2 * in_feat
        for out in out_feats:
            self.convs.append(nn.Conv2d(width, out, kernel_size=1, bias=not batch_norm))
            width = out
        self.bns = (
            nn.ModuleList(nn.BatchNorm2d(out) for out in out_feats)
            if batch_norm
            else [nn.Identity() for _ in out_feats]
        )
        self.acts = (
            nn.ModuleList(nn.ReLU() for _ in out_feats)
            if activation
            else [nn.Identity() for _ in out_feats]
        )
        self.sc: nn.Conv1d | None = None
        self.sc_bn: nn.BatchNorm1d | None = None
        if in_feat != out_feats[-1]:
            self.sc = nn.Conv1d(in_feat, out_feats[-1], kernel_size=1, bias=False)
            self.sc_bn = nn.BatchNorm1d(out_feats[-1])
        self.sc_act = nn.ReLU() if activation else nn.Identity()

    def forward(self, points: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        idx = knn_indices(points, self.k)
        exact = self.exact if self.exact is not None else not self.training
        if exact:
            x = self.convs[0](edge_features(features, idx))
        else:
            x = self._factorised_first_layer(features, idx)
        for i, (bn, act) in enumerate(zip(self.bns, self.acts, strict=True)):
            if i:
                x = self.convs[i](x)
            x = act(bn(x))
        x = x.mean(dim=-1)
        return self.sc_act(self._shortcut(features, rows=False) + x)

    def forward_rows(self, x: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
        """The same block on packed rows: x (R, C), one row per real particle; neighbours
        (R, k) row indices into x, where R (one past the last row) stands for a padded slot,
        whose features are zero (jets with fewer than k + 1 particles have such neighbours, as
        in the dense computation). Returns (R, out)."""
        rows, channels = x.shape
        k = neighbours.size(1)
        padded = torch.cat((x, x.new_zeros(1, channels)))
        first = self._conv(0)
        exact = self.exact if self.exact is not None else not self.training
        if exact:
            centre = x.unsqueeze(1).expand(rows, k, channels)
            edges = torch.cat((centre, padded[neighbours] - centre), dim=2)
            h = _pointwise(first, edges)
        else:
            w_centre, w_edge = self._factorised_weights(channels, x.dtype)
            centre = nn.functional.linear(x, w_centre, _bias(first, x.dtype))
            h = centre.unsqueeze(1) + nn.functional.linear(padded, w_edge)[neighbours]
        for i, (bn, act) in enumerate(zip(self.bns, self.acts, strict=True)):
            if i:
                h = _pointwise(self._conv(i), h)
            width = h.size(-1)
            # (R·k, C, 1, 1): the 2-d batch norm's own statistics and buffers, over edges
            h = act(bn(h.reshape(rows * k, width, 1, 1))).view(rows, k, width)
        h = h.mean(dim=1)
        return self.sc_act(self._shortcut(x, rows=True) + h)

    def _conv(self, i: int) -> nn.Conv2d:
        return cast(nn.Conv2d, self.convs[i])

    def _shortcut(self, x: torch.Tensor, rows: bool) -> torch.Tensor:
        """x itself, or its projection where the block changes the width (on packed rows
        (R, C) or on jets (N, C, P))."""
        if self.sc is None or self.sc_bn is None:
            return x
        return self.sc_bn(_pointwise(self.sc, x) if rows else self.sc(x))

    def _factorised_weights(
        self, channels: int, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The first layer's weight W = (W₁, W₂) on (x_i, x_j − x_i) as (W₁ − W₂, W₂): the
        maps applied to x_i and, gathered, to x_j."""
        weight = self._conv(0).weight.flatten(1).to(dtype)  # (out, 2C)
        w_centre, w_edge = weight[:, :channels], weight[:, channels:]
        return w_centre - w_edge, w_edge

    def _factorised_first_layer(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        conv = self._conv(0)
        w_centre, w_edge = self._factorised_weights(x.size(1), x.dtype)
        centre = torch.matmul(w_centre, x)  # (N, out, P)
        if conv.bias is not None:
            centre = centre + conv.bias.to(x.dtype).view(1, -1, 1)
        return centre.unsqueeze(-1) + gather_neighbours(torch.matmul(w_edge, x), idx)


class ParticleNet(nn.Module):
    """ParticleNet. `forward(points, features, lorentz_vectors, mask)` → logits (N, classes).

    points (N, 2, P): Δη, Δφ to the jet axis (the first graph's coordinates); features (N, C, P);
    lorentz_vectors: unused (may be None); mask (N, 1, P): 1 for real particles, 0 for padding
    (None: all real). Padded slots may hold anything: they are ignored.

    `trim` drops the padding after the batch's longest jet (no change to the outputs);
    `exact_edges` see `EdgeConvBlock` (by default: factorised first edge layer in training, the
    reference's exact arithmetic in eval); `packed` (default) computes on the real particles
    only (see the module's doc; the same outputs in eval, up to float rounding), False on every
    slot as weaver-core does.
    """

    def __init__(
        self,
        input_dims: int,
        num_classes: int,
        conv_params: Sequence[tuple[int, Sequence[int]]] = DEFAULT_CONV_PARAMS,
        fc_params: Sequence[tuple[int, float]] = DEFAULT_FC_PARAMS,
        use_fusion: bool = False,
        use_fts_bn: bool = True,
        use_counts: bool = True,
        trim: bool = True,
        exact_edges: bool | None = None,
        packed: bool = True,
    ) -> None:
        super().__init__()
        conv_params = [(int(k), tuple(channels)) for k, channels in conv_params]
        self.use_fts_bn = use_fts_bn
        self.use_counts = use_counts
        self.use_fusion = use_fusion
        self.trim = trim
        self.packed = packed
        self.max_k = max(k for k, _ in conv_params)
        if use_fts_bn:
            self.bn_fts = nn.BatchNorm1d(input_dims)
        self.edge_convs = nn.ModuleList()
        width = input_dims
        for k, channels in conv_params:
            self.edge_convs.append(
                EdgeConvBlock(k=k, in_feat=width, out_feats=channels, exact=exact_edges)
            )
            width = channels[-1]
        if use_fusion:
            fused = sum(channels[-1] for _, channels in conv_params)
            width = min(max((fused // 128) * 128, 128), 1024)
            self.fusion_block = nn.Sequential(
                nn.Conv1d(fused, width, kernel_size=1, bias=False),
                nn.BatchNorm1d(width),
                nn.ReLU(),
            )
        self.fc = mlp_head(width, fc_params, num_classes)

    def forward(
        self,
        points: torch.Tensor,
        features: torch.Tensor,
        lorentz_vectors: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        mask = as_mask(mask, features)
        if self.trim:
            mask, points, features = trim_padding(mask, points, features, min_length=self.max_k + 1)
        if self.packed:
            rows = mask.reshape(-1).nonzero().squeeze(1)  # (R,) flat slots jet · P + position
            # batch norm in training needs two values per channel; a batch of at most one
            # particle has them only among the padded slots of the dense computation
            if rows.numel() > 1 or not self.training:
                return self._forward_packed(points, features, mask, rows)
        return self._forward_dense(points, features, mask)

    def _forward_dense(
        self, points: torch.Tensor, features: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        padding = ~mask
        fts = features.masked_fill(padding, 0)
        if self.use_fts_bn:
            fts = self.bn_fts(fts).masked_fill(padding, 0)
        outputs = []
        for idx, conv in enumerate(self.edge_convs):
            pts = (points if idx == 0 else fts).masked_fill(padding, PADDING_COORDINATE)
            fts = conv(pts, fts).masked_fill(padding, 0)
            outputs.append(fts)
        if self.use_fusion:
            fts = self.fusion_block(torch.cat(outputs, dim=1)).masked_fill(padding, 0)
        if self.use_counts:
            counts = mask.sum(dim=-1).clamp(min=1).to(fts.dtype)  # (N, 1)
            x = fts.sum(dim=-1) / counts
        else:
            x = fts.mean(dim=-1)
        return self.fc(x)

    def _forward_packed(
        self, points: torch.Tensor, features: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor
    ) -> torch.Tensor:
        batch, channels, length = features.shape
        n_rows = rows.numel()
        jet = torch.div(rows, length, rounding_mode="floor")
        slot_to_row = torch.full((batch * length,), n_rows, dtype=torch.long, device=rows.device)
        slot_to_row[rows] = torch.arange(n_rows, device=rows.device)
        padding = ~mask

        fts = features.transpose(1, 2).reshape(-1, channels).index_select(0, rows)  # (R, C)
        if self.use_fts_bn:
            fts = self.bn_fts(fts)
        outputs = []
        for idx, block in enumerate(self.edge_convs):
            conv = cast(EdgeConvBlock, block)
            if idx == 0:
                coords = points.masked_fill(padding, PADDING_COORDINATE)
            else:
                coords = self._dense(fts, rows, batch, length, PADDING_COORDINATE)
            neighbours = knn_rows(coords, rows, slot_to_row, conv.k)
            fts = conv.forward_rows(fts, neighbours)
            outputs.append(fts)
        if self.use_fusion:
            fused = torch.cat(outputs, dim=1)
            fts = self.fusion_block(fused.unsqueeze(-1)).squeeze(-1)
        pooled = fts.new_zeros(batch, fts.size(1)).index_add_(0, jet, fts)
        if self.use_counts:
            counts = mask.sum(dim=-1).clamp(min=1).to(fts.dtype)  # (N, 1)
            x = pooled / counts
        else:
            x = pooled / length
        return self.fc(x)

    @staticmethod
    def _dense(
        rows_fts: torch.Tensor, rows: torch.Tensor, batch: int, length: int, fill: float
    ) -> torch.Tensor:
        """Rows (R, C) back into (N, C, P), `fill` in the padded slots."""
        dense = rows_fts.new_full((batch * length, rows_fts.size(1)), fill)
        dense = dense.index_copy(0, rows, rows_fts)
        return dense.view(batch, length, -1).transpose(1, 2)
