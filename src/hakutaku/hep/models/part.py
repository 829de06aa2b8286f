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

Only real particles cost work: the per-particle layers run on them as rows, attention runs in
buckets of jets of similar sizes (`Packing`), and the pair embedding embeds only pairs of two
real particles (`PairEmbed`). The outputs are those of the dense network over padded jets.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

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

    def forward(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """(N, C, P) → (N, P, dims[-1]); with `rows` (flat indices into N·P) only those
        particles, (len(rows), dims[-1]). The batch norm always sees the whole (N, C, P)."""
        x = self.input_bn(x).transpose(1, 2)
        if rows is not None:
            x = x.reshape(-1, x.size(-1)).index_select(0, rows)
        return self.embed(x)


class PairEmbed(nn.Module):
    """Pairwise features → one attention bias per head, (N, heads, P, P).

    The features are symmetric, so they are computed and embedded once per unordered pair
    (i ≥ j) and mirrored. Only pairs of two real particles are embedded: a batch of jets of
    varied sizes has far fewer of them than the P·(P+1)/2 pairs up to its longest jet, and the
    others never reach a real particle's attention (a padded key is masked, a padded query's
    output is never read). In eval mode this gives exactly the biases of embedding every pair;
    in training the batch norms see statistics over real pairs only, as weaver-core ≥ 0.5 does.
    Pairs that are not embedded get a zero bias, or `-inf` where the key is marked as padding.

    The 1×1 convolutions keep weaver-core's `Conv1d` parameters (so published state_dicts
    load) but run as matrix products over the flat list of pairs, which is cheaper on CPU.
    """

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

    def embed_rows(self, fts: torch.Tensor) -> torch.Tensor:
        """The embedding network on pair features as rows: (pairs, 4) → (pairs, heads)."""
        x = fts
        for layer in self.embed:
            if isinstance(layer, nn.Conv1d):
                # a 1×1 convolution over pairs is a linear map of each row
                x = F.linear(x, layer.weight.squeeze(-1), layer.bias)
            else:
                x = layer(x)  # BatchNorm1d over rows normalises per channel, like over (N, C, L)
        return x

    def embed_pairs(
        self, v: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The embedded pairs as a flat list: (elements (pairs, heads), jet, i, j), i ≥ j the
        particles' slots in `v` (N, 4, P); only pairs of two real particles when `mask`
        (N, 1, P) is given."""
        batch, _, length = v.shape
        i, j = torch.tril_indices(
            length, length, offset=-1 if self.remove_self_pair else 0, device=v.device
        )
        if mask is None:
            jet = torch.arange(batch, device=v.device).repeat_interleave(i.numel())
            pi, pj = i.repeat(batch), j.repeat(batch)
        else:
            real = mask.reshape(batch, length)
            jet, tri = (real[:, i] & real[:, j]).nonzero(as_tuple=True)
            pi, pj = i[tri], j[tri]
        with torch.no_grad():
            vt = v.transpose(1, 2).float()  # (N, P, 4): one row per particle
            fts = pair_features(vt[jet, pi], vt[jet, pj], eps=self.eps)  # (pairs, 4)
        # (a batch without any pair of real particles has nothing to embed)
        elements = self.embed_rows(fts) if fts.size(0) else fts.new_zeros(0, self.out_dim)
        return elements, jet, pi, pj

    def forward(
        self,
        v: torch.Tensor,
        mask: torch.Tensor | None = None,
        key_padding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """v (N, 4, P) four-vectors; mask (N, 1, P), True for real particles (None: all real);
        key_padding (N, 1, P), True where a key gets `-inf` (for keys that are not real
        particles). Returns the bias (N, heads, P, P), query along dim 2 and key along dim 3."""
        batch, _, length = v.shape
        elements, jet, pi, pj = self.embed_pairs(v, mask)
        rows = elements.size(0)
        if key_padding is None:
            index = torch.full((batch, length, length), rows, device=v.device)
        else:
            index = torch.where(key_padding.reshape(batch, 1, length), rows + 1, rows)
            index = index.expand(batch, length, length).contiguous()
        pair = torch.arange(rows, device=v.device)
        index[jet, pi, pj] = pair
        index[jet, pj, pi] = pair
        return gather_bias(elements, index)


def _bias_table(elements: torch.Tensor) -> torch.Tensor:
    """(heads, pairs + 2): the pairs' biases, then a zero and a -inf column to point at."""
    heads = elements.size(1)
    zero = elements.new_zeros(1, heads)
    return torch.cat((elements, zero, zero.new_full((1, heads), float("-inf")))).t()


def gather_bias(elements: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """A dense bias (N, heads, P, P) from pair rows `elements` (pairs, heads) and `index`
    (N, P, P): the row of each (jet, query, key) slot, `pairs` for a zero bias and `pairs + 1`
    for `-inf`. One gather, unlike two scatters, also sums both mirrored slots' gradients into
    the pair's row."""
    heads = elements.size(1)
    out = _bias_table(elements).index_select(1, index.flatten())  # (heads, N·P·P)
    # contiguous (N, heads, P, P) for the attention kernels
    return out.view(heads, *index.shape).transpose(0, 1).contiguous()


def _plan_buckets(lengths: list[int], max_buckets: int, overhead: float) -> list[int]:
    """Split jets sorted by decreasing size into at most `max_buckets` consecutive groups,
    minimising Σ (jets · longest²) + overhead per group: the attention's cost, which grows with
    the square of the group's longest jet, plus a fixed cost per extra set of kernels. Returns
    the group boundaries (end indices)."""
    n = len(lengths)
    # candidate boundaries: where the size changes, thinned to at most 32 (quick for any batch)
    cuts = [k for k in range(1, n) if lengths[k] != lengths[k - 1]]
    if len(cuts) > 31:
        cuts = [cuts[round(q * (len(cuts) - 1) / 30)] for q in range(31)]
    ends = [*sorted(set(cuts)), n]
    # best[k][e]: cost of covering jets [0, ends[e]) with k + 1 groups; back: the split
    inf = float("inf")
    best = [[inf] * len(ends) for _ in range(max_buckets)]
    back = [[-1] * len(ends) for _ in range(max_buckets)]
    for e, end in enumerate(ends):
        best[0][e] = end * lengths[0] ** 2 + overhead
    for k in range(1, max_buckets):
        for e, end in enumerate(ends):
            for s in range(e):  # the last group is [ends[s], end)
                start = ends[s]
                cost = best[k - 1][s] + (end - start) * lengths[start] ** 2 + overhead
                if cost < best[k][e]:
                    best[k][e], back[k][e] = cost, s
    k = min(range(max_buckets), key=lambda q: best[q][-1])
    e, bounds = len(ends) - 1, []
    while k >= 0:
        bounds.append(ends[e])
        e = back[k][e]
        k -= 1
    return bounds[::-1]


class Packing:
    """Where the real particles of a batch go: as rows (R, E) for everything that acts on one
    particle at a time (embedding, projections, norms, feed-forward), and into dense attention
    buckets of jets of similar sizes, each padded only to its own longest jet.

    Padded slots cost a dense network as much as real particles; ParT's jets vary in size
    (here 64 particles on average, up to 128), so about half of the per-particle work and, in
    attention, more than half of the query × key pairs were padding. Nothing else changes: a
    real particle attends to the real particles of its jet with the same biases.
    """

    def __init__(self, mask: torch.Tensor, max_buckets: int = 4, overhead: float = 4096) -> None:
        batch, length = mask.size(0), mask.size(-1)
        device = mask.device
        real = mask.reshape(batch, length)
        self.batch = batch
        self.rows = real.flatten().nonzero().squeeze(1)  # (R,) flat indices into N·P
        self.jet = torch.div(self.rows, length, rounding_mode="floor")
        # position of each real particle among its jet's real particles (they need not be first)
        self.position = (real.cumsum(1) - 1).flatten().index_select(0, self.rows)
        lengths = real.sum(1)
        sizes = lengths.tolist()
        self.longest = max(max(sizes, default=0), 1)
        # jets with particles, largest first, in buckets; empty jets take no part in the
        # particle blocks (class attention sees only the class token for them)
        order = sorted((n for n in range(batch) if sizes[n]), key=lambda n: -sizes[n])
        bounds = _plan_buckets([sizes[n] for n in order], max_buckets, overhead) if order else []
        self.buckets: list[tuple[int, int]] = []  # (jets, length) per bucket
        row_base = [0] * batch  # slot of each jet's first particle in the bucket buffer
        pair_base = [0] * batch  # slot of each jet's (0, 0) pair in the bias buffer
        width = [1] * batch
        key_padding = []
        slots = pairs = start = 0
        for end in bounds:
            jets = order[start:end]
            size = sizes[jets[0]]
            for r, n in enumerate(jets):
                row_base[n] = slots + r * size
                pair_base[n] = pairs + r * size * size
                width[n] = size
            jet_sizes = torch.tensor([sizes[n] for n in jets], device=device)
            key_padding.append(torch.arange(size, device=device) >= jet_sizes[:, None])
            self.buckets.append((len(jets), size))
            slots += len(jets) * size
            pairs += len(jets) * size * size
            start = end
        self.slots, self.pairs = slots, pairs
        self.key_padding = key_padding  # per bucket (jets, length), True past a jet's end
        self._row_base = torch.tensor(row_base, device=device)
        self._pair_base = torch.tensor(pair_base, device=device)
        self._width = torch.tensor(width, device=device)
        self.slot = self._row_base.index_select(0, self.jet) + self.position  # (R,)
        self._compact = real.cumsum(1) - 1  # (N, P): slot → position among real particles
        # class attention: the class token, then the jet's particles, padded to the longest
        self.cls_slot = self.jet * (1 + self.longest) + 1 + self.position
        self.cls_key_padding = torch.arange(1 + self.longest, device=device) > lengths[:, None]

    def to_buckets(self, rows: torch.Tensor) -> list[torch.Tensor]:
        """(R, C) rows → one (jets, length, C) tensor per bucket, zeros in padded slots."""
        dense = rows.new_zeros(self.slots, rows.size(-1)).index_copy(0, self.slot, rows)
        out, offset = [], 0
        for jets, size in self.buckets:
            out.append(dense[offset : offset + jets * size].view(jets, size, -1))
            offset += jets * size
        return out

    def from_buckets(self, dense: list[torch.Tensor]) -> torch.Tensor:
        """One (jets, length, C) tensor per bucket → the real particles' rows (R, C)."""
        flat = torch.cat([d.reshape(-1, d.size(-1)) for d in dense])
        return flat.index_select(0, self.slot)

    def with_class_token(self, token: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """token (N, 1, C) and rows (R, C) → (N, 1 + longest, C): the token, then the jet."""
        width = 1 + self.longest
        dense = rows.new_zeros(self.batch * width, rows.size(-1)).index_copy(0, self.cls_slot, rows)
        dense = dense.view(self.batch, width, -1)
        return torch.cat((token, dense[:, 1:]), dim=1)

    def key_biases(self, dtype: torch.dtype) -> list[torch.Tensor]:
        """Per bucket, the additive mask (jets, 1, 1, length): -inf on padded keys."""
        return [
            torch.zeros(pad.shape, dtype=dtype, device=pad.device)
            .masked_fill(pad, float("-inf"))
            .view(pad.size(0), 1, 1, -1)
            for pad in self.key_padding
        ]

    def pair_biases(
        self, elements: torch.Tensor, jet: torch.Tensor, i: torch.Tensor, j: torch.Tensor
    ) -> list[torch.Tensor]:
        """Per bucket, the attention bias (jets, heads, length, length) from embedded pairs
        (elements (pairs, heads) of jet `jet`, slots i ≥ j): the pair's embedding for real
        query and key, -inf on padded keys."""
        device = elements.device
        rows = elements.size(0)
        index = torch.empty(self.pairs, dtype=torch.long, device=device)
        offset = 0
        for pad in self.key_padding:
            jets, size = pad.shape
            block = torch.where(pad, rows + 1, rows).view(jets, 1, size).expand(jets, size, size)
            index[offset : offset + jets * size * size] = block.flatten()
            offset += jets * size * size
        qi = self._compact[jet, i]
        qj = self._compact[jet, j]
        base, width = self._pair_base.index_select(0, jet), self._width.index_select(0, jet)
        pair = torch.arange(rows, device=device)
        index[base + qi * width + qj] = pair
        index[base + qj * width + qi] = pair
        heads = elements.size(1)
        flat = _bias_table(elements).index_select(1, index)  # (heads, pairs of all buckets)
        out, offset = [], 0
        for jets, size in self.buckets:
            part = flat[:, offset : offset + jets * size * size]
            out.append(part.view(heads, jets, size, size).transpose(0, 1).contiguous())
            offset += jets * size * size
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
        return self.out_proj(self._attend(q, k, v, bias))

    def _attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        """Multi-head scaled dot-product attention, (N, L, E) in and out; `bias` is additive."""
        if bias is not None and bias.dtype != q.dtype:
            bias = bias.to(q.dtype)
        out = F.scaled_dot_product_attention(
            self._heads(q),
            self._heads(k),
            self._heads(v),
            attn_mask=bias,
            dropout_p=self.dropout if self.training else 0.0,
        )
        return out.transpose(1, 2).flatten(2)

    def packed(
        self, rows: torch.Tensor, packing: Packing, biases: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        """Self-attention among each jet's real particles: rows (R, E) → (R, E). The
        projections act on the rows; attention runs per bucket, `biases[b]` its mask."""
        qkv = F.linear(rows, self.in_proj_weight, self.in_proj_bias)
        outs = []
        for dense, bias in zip(packing.to_buckets(qkv), biases, strict=True):
            q, k, v = dense.chunk(3, dim=-1)
            outs.append(self._attend(q, k, v, bias))
        return self.out_proj(packing.from_buckets(outs))

    def class_attention(
        self,
        query: torch.Tensor,
        token: torch.Tensor,
        rows: torch.Tensor,
        packing: Packing,
        bias: torch.Tensor,
    ) -> torch.Tensor:
        """The class token `query` (N, 1, E) attends to [token (N, 1, E), the jet's rows
        (R, E)]; `bias` (N, 1, 1, 1 + longest) masks the padded keys."""
        e = self.embed_dim
        q = F.linear(query, self.in_proj_weight[:e], self.in_proj_bias[:e])
        w, b = self.in_proj_weight[e:], self.in_proj_bias[e:]
        kv = packing.with_class_token(F.linear(token, w, b), F.linear(rows, w, b))
        k, v = kv.chunk(2, dim=-1)
        return self.out_proj(self._attend(q, k, v, bias))


def _one_mask(bias: torch.Tensor | Sequence[torch.Tensor] | None) -> torch.Tensor:
    if not isinstance(bias, torch.Tensor):
        raise TypeError("class attention over packed rows takes one padding mask (a tensor)")
    return bias


def _bucket_masks(bias: torch.Tensor | Sequence[torch.Tensor] | None) -> Sequence[torch.Tensor]:
    if bias is None or isinstance(bias, torch.Tensor):
        raise TypeError("attention over packed rows takes one mask per bucket (a sequence)")
    return bias


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
        bias: torch.Tensor | Sequence[torch.Tensor] | None = None,
        packing: Packing | None = None,
    ) -> torch.Tensor:
        """x (N, P, E), or the real particles' rows (R, E) with `packing`. With `x_cls`
        (N, 1, E): class attention, the class token queries [class token, particles]; returns
        the updated token. `bias`: additive attention mask, one per bucket with `packing`."""
        if x_cls is not None:
            residual = x_cls
            if packing is None:
                u = self.pre_attn_norm(torch.cat((x_cls, x), dim=1))
                h = self.attn(x_cls, u, bias)
            else:
                # the norm acts per particle, so norming token and rows apart is the same
                token, rows = self.pre_attn_norm(x_cls), self.pre_attn_norm(x)
                h = self.attn.class_attention(x_cls, token, rows, packing, _one_mask(bias))
        else:
            residual = x
            h = self.pre_attn_norm(x)
            h = (
                self.attn(h, h, bias)
                if packing is None
                else self.attn.packed(h, packing, _bucket_masks(bias))
            )
        if self.c_attn is not None:
            # Scale each head. The published network (and weaver-core until February 2026)
            # leaves the channels ordered (head_dim, heads) afterwards, and its later layers
            # were trained on that order; `reorder_heads=False` keeps (heads, head_dim).
            lead = h.shape[:-1]
            h = h.view(*lead, self.num_heads, self.head_dim) * self.c_attn.view(-1, 1)
            if self.reorder_heads:
                h = h.transpose(-1, -2)
            h = h.reshape(*lead, self.embed_dim)
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
        block_cfg: dict[str, Any] = {**copy.deepcopy(DEFAULT_BLOCK), "num_heads": num_heads}
        block_cfg.update(embed_dim=embed_dim, activation=activation)
        cls_cfg: dict[str, Any] = {
            **block_cfg,
            "dropout": 0.0,
            "attn_dropout": 0.0,
            "activation_dropout": 0.0,
        }
        block_cfg.update(block_params or {})
        cls_cfg.update(cls_block_params or {})
        self.num_heads = block_cfg["num_heads"]
        self.trim = trim
        # Attention buckets of jets of similar sizes (see `Packing`): at most this many, and
        # the fixed cost of one more in query × key pairs (None: chosen for the device).
        self.max_buckets = 4
        self.bucket_overhead: float | None = None

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
        # Everything per particle runs on the real particles only, as rows (R, E); attention
        # runs in buckets of jets of similar sizes (see `Packing`).
        packing = Packing(mask, self.max_buckets, overhead=self._bucket_overhead(features.device))
        x = self.embed(features.masked_fill(padding, 0), rows=packing.rows)  # (R, E)

        if lorentz_vectors is not None and self.pair_embed is not None:
            v = lorentz_vectors.masked_fill(padding, 0)
            elements, jet, i, j = self.pair_embed.embed_pairs(v, mask)
            biases = packing.pair_biases(elements.to(x.dtype), jet, i, j)
        else:
            biases = packing.key_biases(x.dtype)

        for block in self.blocks:
            x = block(x, bias=biases, packing=packing)

        cls_bias = torch.zeros(packing.cls_key_padding.shape, dtype=x.dtype, device=x.device)
        cls_bias = cls_bias.masked_fill(packing.cls_key_padding, float("-inf"))
        cls_bias = cls_bias.view(packing.batch, 1, 1, -1)  # (N, 1, 1, 1 + longest)
        token = self.cls_token.expand(packing.batch, -1, -1)
        for block in self.cls_blocks:
            token = block(x, x_cls=token, bias=cls_bias, packing=packing)
        return self.fc(self.norm(token).squeeze(1))

    def _bucket_overhead(self, device: torch.device) -> float:
        if self.bucket_overhead is not None:
            return self.bucket_overhead
        # A rough estimate, not a fit: on CPU one more bucket (its kernels in every block)
        # costs about as much as attention over 4096 query × key pairs (2 cores: 2-4 buckets
        # trained ParT 1.3-1.4x faster than 1). A GPU's attention is cheap and its kernel
        # launches are not, so there one bucket is nearly always chosen (not yet measured).
        return 4096.0 if device.type == "cpu" else float(2**22)
