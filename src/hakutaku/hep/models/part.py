"""Particle Transformer (ParT): particle attention biased by pairwise interaction features, then
class attention.

Qu, Li, Qian, "Particle Transformer for Jet Tagging", ICML 2022, arXiv:2202.03772. Defaults are
the paper's: particle embedding (128, 512, 128) with input batch norm; pair embedding of the four
interaction features ln kT, ln z, ln ΔR, ln m² through (64, 64, 64) → one bias per head; 8
particle-attention blocks with 8 heads (NormFormer-style extra norms and per-head / residual
scales); 2 class-attention blocks with a class token; a linear classifier (2.14 M parameters on
the 17 "full" features, 10 classes).

Module and parameter names follow weaver-core's `ParticleTransformer` as published with the paper
(the attention's `in_proj_weight` / `out_proj` like `nn.MultiheadAttention`), and the per-head
scale reorders the channels the way the published network does, so its state_dicts load and give
the same outputs. Internally the layout is batch-first and attention runs through
`scaled_dot_product_attention`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._common import as_mask, trim_padding


def _activation(name: str) -> nn.Module:
    return nn.GELU() if name == "gelu" else nn.ReLU()


def delta_phi(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a − b wrapped into [−π, π)."""
    return (a - b + math.pi) % (2 * math.pi) - math.pi


def _pt_rapidity_phi(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    px, py, pz, energy = v.split((1, 1, 1, 1), dim=1)
    pt = torch.sqrt(px.square() + py.square())
    # y = ½ ln((E + pz)/(E − pz)), written to stay finite for empty (all-zero) slots
    rapidity = 0.5 * torch.log(1 + (2 * pz) / (energy - pz).clamp(min=1e-20))
    return pt, rapidity, torch.atan2(py, px)


def pair_features(xi: torch.Tensor, xj: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Interaction features of particle pairs from four-vectors (px, py, pz, E) along dim 1:
    (ln kT, ln z, ln ΔR, ln m²) with kT = min(pT) ΔR, z = min(pT)/(pT_i + pT_j)."""
    pti, rapi, phii = _pt_rapidity_phi(xi)
    ptj, rapj, phij = _pt_rapidity_phi(xj)
    delta = ((rapi - rapj).square() + delta_phi(phii, phij).square()).sqrt()
    ln_delta = torch.log(delta.clamp(min=eps))
    ptmin = torch.minimum(pti, ptj)
    ln_kt = torch.log((ptmin * delta).clamp(min=eps))
    ln_z = torch.log((ptmin / (pti + ptj).clamp(min=eps)).clamp(min=eps))
    pair = xi + xj
    m2 = pair[:, 3:4].square() - pair[:, :3].square().sum(dim=1, keepdim=True)
    ln_m2 = torch.log(m2.clamp(min=eps))
    return torch.cat((ln_kt, ln_z, ln_delta, ln_m2), dim=1)


class Embed(nn.Module):
    """Per-particle embedding: batch norm, then (LayerNorm, Linear, GELU) per width."""

    def __init__(self, input_dim: int, dims: Sequence[int], activation: str = "gelu") -> None:
        super().__init__()
        self.input_bn = nn.BatchNorm1d(input_dim)
        layers: list[nn.Module] = []
        for dim in dims:
            layers += [nn.LayerNorm(input_dim), nn.Linear(input_dim, dim), _activation(activation)]
            input_dim = dim
        self.embed = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (N, C, P) → (N, P, dims[-1])
        return self.embed(self.input_bn(x).transpose(1, 2))


class PairEmbed(nn.Module):
    """Pairwise features → one attention bias per head, (N, heads, P, P).

    Symmetric features are computed for the lower triangle only (i ≥ j) and mirrored."""

    def __init__(
        self,
        input_dim: int,
        dims: Sequence[int],
        remove_self_pair: bool = False,
        use_pre_activation_pair: bool = False,
        activation: str = "gelu",
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        if input_dim != 4:
            raise ValueError("only the four ParT interaction features are implemented")
        self.remove_self_pair = remove_self_pair
        self.eps = eps
        self.out_dim = dims[-1]
        layers: list[nn.Module] = [nn.BatchNorm1d(input_dim)]
        for dim in dims:
            layers += [nn.Conv1d(input_dim, dim, 1), nn.BatchNorm1d(dim), _activation(activation)]
            input_dim = dim
        if use_pre_activation_pair:
            layers = layers[:-1]
        self.embed = nn.Sequential(*layers)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        batch, _, length = v.shape
        i, j = torch.tril_indices(
            length, length, offset=-1 if self.remove_self_pair else 0, device=v.device
        )
        with torch.no_grad():
            fts = pair_features(v[:, :, i].float(), v[:, :, j].float(), eps=self.eps)
        elements = self.embed(fts)  # (N, heads, pairs)
        out = elements.new_zeros(batch, self.out_dim, length, length)
        out[:, :, i, j] = elements
        out[:, :, j, i] = elements
        return out


class MultiheadAttention(nn.Module):
    """Multi-head attention with `nn.MultiheadAttention`'s parameters (`in_proj_weight`,
    `in_proj_bias`, `out_proj`), batch-first, with an additive float bias (N, 1|H, Tq, Tk)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)

    def forward(
        self, query: torch.Tensor, key: torch.Tensor, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        e = self.embed_dim
        if query is key:
            q, k, v = F.linear(query, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        else:
            q = F.linear(query, self.in_proj_weight[:e], self.in_proj_bias[:e])
            k, v = F.linear(key, self.in_proj_weight[e:], self.in_proj_bias[e:]).chunk(2, dim=-1)
        if bias is not None and bias.dtype != q.dtype:
            bias = bias.to(q.dtype)
        out = F.scaled_dot_product_attention(
            self._heads(q),
            self._heads(k),
            self._heads(v),
            attn_mask=bias,
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out_proj(out.transpose(1, 2).flatten(2))


class Block(nn.Module):
    """A ParT block: attention and feed-forward, each pre-normed, with NormFormer extras
    (post-attention and mid-FFN LayerNorms, per-head and residual scales)."""

    def __init__(
        self,
        embed_dim: int = 128,
        num_heads: int = 8,
        ffn_ratio: int = 4,
        dropout: float = 0.1,
        attn_dropout: float = 0.1,
        activation_dropout: float = 0.1,
        activation: str = "gelu",
        scale_fc: bool = True,
        scale_attn: bool = True,
        scale_heads: bool = True,
        scale_resids: bool = True,
        reorder_heads: bool = True,
    ) -> None:
        super().__init__()
        self.reorder_heads = reorder_heads
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        ffn_dim = embed_dim * ffn_ratio
        self.pre_attn_norm = nn.LayerNorm(embed_dim)
        self.attn = MultiheadAttention(embed_dim, num_heads, dropout=attn_dropout)
        self.post_attn_norm = nn.LayerNorm(embed_dim) if scale_attn else None
        self.dropout = nn.Dropout(dropout)
        self.pre_fc_norm = nn.LayerNorm(embed_dim)
        self.fc1 = nn.Linear(embed_dim, ffn_dim)
        self.act = _activation(activation)
        self.act_dropout = nn.Dropout(activation_dropout)
        self.post_fc_norm = nn.LayerNorm(ffn_dim) if scale_fc else None
        self.fc2 = nn.Linear(ffn_dim, embed_dim)
        self.c_attn = nn.Parameter(torch.ones(num_heads)) if scale_heads else None
        self.w_resid = nn.Parameter(torch.ones(embed_dim)) if scale_resids else None

    def forward(
        self,
        x: torch.Tensor,
        x_cls: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (N, P, E). With `x_cls` (N, 1, E): class attention, the class token queries
        [class token, particles]; returns the updated token. `bias`: additive attention mask."""
        if x_cls is not None:
            residual = x_cls
            u = self.pre_attn_norm(torch.cat((x_cls, x), dim=1))
            h = self.attn(x_cls, u, bias)
        else:
            residual = x
            h = self.pre_attn_norm(x)
            h = self.attn(h, h, bias)
        if self.c_attn is not None:
            # Scale each head. The published network (and weaver-core until February 2026)
            # leaves the channels ordered (head_dim, heads) afterwards, and its later layers
            # were trained on that order; `reorder_heads=False` keeps (heads, head_dim).
            n, t, _ = h.shape
            h = h.view(n, t, self.num_heads, self.head_dim) * self.c_attn.view(-1, 1)
            if self.reorder_heads:
                h = h.transpose(2, 3)
            h = h.reshape(n, t, self.embed_dim)
        if self.post_attn_norm is not None:
            h = self.post_attn_norm(h)
        x = self.dropout(h) + residual

        residual = x
        h = self.act_dropout(self.act(self.fc1(self.pre_fc_norm(x))))
        if self.post_fc_norm is not None:
            h = self.post_fc_norm(h)
        h = self.dropout(self.fc2(h))
        if self.w_resid is not None:
            residual = self.w_resid * residual
        return h + residual


DEFAULT_BLOCK = dict(
    num_heads=8,
    ffn_ratio=4,
    dropout=0.1,
    attn_dropout=0.1,
    activation_dropout=0.1,
    scale_fc=True,
    scale_attn=True,
    scale_heads=True,
    scale_resids=True,
)


class ParticleTransformer(nn.Module):
    """ParT. `forward(points, features, lorentz_vectors, mask)` → logits (N, num_classes).

    features (N, C, P); lorentz_vectors (N, 4, P) as (px, py, pz, E) for the interaction
    features (None: no pair bias); mask (N, 1, P), 1 for real particles; `points` is unused.
    """

    def __init__(
        self,
        input_dims: int,
        num_classes: int,
        pair_input_dim: int = 4,
        remove_self_pair: bool = False,
        use_pre_activation_pair: bool = False,
        embed_dims: Sequence[int] = (128, 512, 128),
        pair_embed_dims: Sequence[int] | None = (64, 64, 64),
        num_heads: int = 8,
        num_layers: int = 8,
        num_cls_layers: int = 2,
        block_params: dict | None = None,
        cls_block_params: dict | None = None,
        fc_params: Sequence[tuple[int, float]] = (),
        activation: str = "gelu",
        trim: bool = True,
    ) -> None:
        super().__init__()
        embed_dims = list(embed_dims)
        embed_dim = embed_dims[-1] if embed_dims else input_dims
        block_cfg = {**copy.deepcopy(DEFAULT_BLOCK), "num_heads": num_heads}
        block_cfg.update(embed_dim=embed_dim, activation=activation)
        cls_cfg = {**block_cfg, "dropout": 0.0, "attn_dropout": 0.0, "activation_dropout": 0.0}
        block_cfg.update(block_params or {})
        cls_cfg.update(cls_block_params or {})
        self.num_heads = block_cfg["num_heads"]
        self.trim = trim

        self.embed = Embed(input_dims, embed_dims, activation) if embed_dims else nn.Identity()
        self.pair_embed = (
            PairEmbed(
                pair_input_dim,
                [*pair_embed_dims, self.num_heads],
                remove_self_pair=remove_self_pair,
                use_pre_activation_pair=use_pre_activation_pair,
                activation=activation,
            )
            if pair_embed_dims is not None and pair_input_dim > 0
            else None
        )
        self.blocks = nn.ModuleList(Block(**block_cfg) for _ in range(num_layers))
        self.cls_blocks = nn.ModuleList(Block(**cls_cfg) for _ in range(num_cls_layers))
        self.norm = nn.LayerNorm(embed_dim)
        layers: list[nn.Module] = []
        width = embed_dim
        for out, drop in fc_params:
            layers.append(nn.Sequential(nn.Linear(width, out), nn.ReLU(), nn.Dropout(drop)))
            width = out
        layers.append(nn.Linear(width, num_classes))
        self.fc = nn.Sequential(*layers)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {"cls_token"}

    def forward(
        self,
        points: torch.Tensor | None,
        features: torch.Tensor,
        lorentz_vectors: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        mask = as_mask(mask, features)
        if self.trim:
            mask, features, lorentz_vectors = trim_padding(mask, features, lorentz_vectors)
        padding = ~mask  # (N, 1, P)
        x = self.embed(features.masked_fill(padding, 0)).masked_fill(padding.transpose(1, 2), 0)

        # Additive attention masks: -inf on padded keys. A jet without any real particle keeps
        # all its keys in the particle blocks, so that nothing becomes NaN.
        empty = padding.all(dim=-1, keepdim=True)  # (N, 1, 1)
        key_pad = (padding & ~empty).unsqueeze(1)  # (N, 1, 1, P)
        bias = torch.zeros(key_pad.shape, dtype=x.dtype, device=x.device)
        bias = bias.masked_fill(key_pad, float("-inf"))
        if lorentz_vectors is not None and self.pair_embed is not None:
            v = lorentz_vectors.masked_fill(padding, 0)
            bias = self.pair_embed(v).to(x.dtype) + bias  # (N, H, P, P)

        for block in self.blocks:
            x = block(x, bias=bias)

        cls_pad = F.pad(padding.unsqueeze(1), (1, 0), value=False)  # (N, 1, 1, 1 + P)
        cls_bias = torch.zeros(cls_pad.shape, dtype=x.dtype, device=x.device)
        cls_bias = cls_bias.masked_fill(cls_pad, float("-inf"))
        token = self.cls_token.expand(x.size(0), -1, -1)
        for block in self.cls_blocks:
            token = block(x, x_cls=token, bias=cls_bias)
        return self.fc(self.norm(token).squeeze(1))
