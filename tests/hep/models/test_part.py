"""ParT's pair embedding over real pairs only: same biases, same outputs, whatever the padding."""

from __future__ import annotations

import torch
from torch import nn

from hakutaku.hep.models import build, count_parameters
from hakutaku.hep.models.part import Packing, PairEmbed, pair_features

from .conftest import make_batch


def _randomise_batch_norms(model: nn.Module, seed: int = 0) -> None:
    # Non-trivial running statistics, so that eval mode exercises them.
    g = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=g))
            module.running_var.copy_(0.5 + torch.rand(module.running_var.shape, generator=g))


def _dense_reference(embed: PairEmbed, v: torch.Tensor) -> torch.Tensor:
    """Every i ≥ j pair embedded through the module's own Conv1d stack, mirrored: the
    straightforward (N, heads, P, P) computation, padding included."""
    n, _, length = v.shape
    i, j = torch.tril_indices(length, length)
    fts = pair_features(v[:, :, i], v[:, :, j])  # (N, 4, pairs)
    elements = embed.embed(fts)
    out = elements.new_zeros(n, embed.out_dim, length, length)
    out[:, :, i, j] = elements
    out[:, :, j, i] = elements
    return out


def _pairs(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n, length = mask.size(0), mask.size(-1)
    i, j = torch.tril_indices(length, length)
    real = mask.reshape(n, length).bool()
    jet, tri = (real[:, i] & real[:, j]).nonzero(as_tuple=True)
    return jet, i[tri], j[tri]


def test_part_parameter_count_on_kin_inputs_is_weavers():
    assert count_parameters(build("part", features="kin", num_classes=2)) == 2_141_134


def test_pair_biases_of_real_pairs_equal_the_dense_embedding_in_eval():
    torch.manual_seed(0)
    embed = PairEmbed(4, (64, 64, 64, 8))
    _randomise_batch_norms(embed)
    embed.eval()
    _, _, vectors, mask = make_batch(3, 7, lengths=[3, 17, 30], length=32)
    real = mask.bool()
    padding = ~real
    with torch.no_grad():
        dense = _dense_reference(embed, vectors)
        sparse = embed(vectors, mask=real, key_padding=padding)
        unmasked = embed(vectors)
    pair_real = real.unsqueeze(-1) & real.unsqueeze(-2)  # (N, 1, P, P), query × key
    expanded = pair_real.expand_as(dense)
    torch.testing.assert_close(sparse[expanded], dense[expanded], rtol=1e-5, atol=1e-5)
    # padded keys are masked for every query; a padded query's real keys get no bias
    assert torch.isneginf(sparse.masked_select(padding.unsqueeze(2).expand_as(sparse))).all()
    padded_query = (padding.unsqueeze(-1) & real.unsqueeze(-2)).expand_as(sparse)
    assert (sparse[padded_query] == 0).all()
    # without a mask every pair is embedded: the dense computation itself
    torch.testing.assert_close(unmasked, dense, rtol=1e-5, atol=1e-5)


def test_pair_embedding_in_training_normalises_over_real_pairs_and_gets_both_gradients():
    torch.manual_seed(1)
    embed = PairEmbed(4, (64, 64, 64, 8)).train()
    _, _, vectors, mask = make_batch(3, 7, lengths=[2, 9, 20], length=24)
    real = mask.bool()
    out = embed(vectors, mask=real)
    # the input batch norm saw the real pairs' features only (each unordered pair once)
    jet, pi, pj = _pairs(mask)
    vt = vectors.transpose(1, 2)
    fts = pair_features(vt[jet, pi], vt[jet, pj])
    momentum = embed.embed[0].momentum
    torch.testing.assert_close(embed.embed[0].running_mean, momentum * fts.mean(0))

    # the same rows through the Conv1d stack, scattered into both triangles
    reference_embed = PairEmbed(4, (64, 64, 64, 8)).train()
    reference_embed.load_state_dict(embed.state_dict())
    elements = reference_embed.embed(fts.T.unsqueeze(0)).squeeze(0).T  # (pairs, heads)
    reference = elements.new_zeros(out.shape).permute(0, 2, 3, 1).clone()
    reference[jet, pi, pj] = elements
    reference[jet, pj, pi] = elements
    reference = reference.permute(0, 3, 1, 2)
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)

    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(2))
    (out * weights).sum().backward()
    (reference * weights).sum().backward()
    # float32 sums over every pair, in an order that depends on the thread count: 2e-4 apart
    for ours, theirs in zip(embed.parameters(), reference_embed.parameters(), strict=True):
        torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-3, atol=1e-3)


def test_pair_embedding_without_any_real_pair():
    embed = PairEmbed(4, (64, 8)).train()
    _, _, vectors, mask = make_batch(2, 7, lengths=[0, 0], length=5)
    out = embed(vectors, mask=mask.bool())
    assert out.shape == (2, 8, 5, 5)
    assert (out == 0).all()


def test_same_jets_padded_to_64_and_128_give_the_same_outputs_in_eval():
    torch.manual_seed(3)
    model = build("part", features="kin", num_classes=2)
    _randomise_batch_norms(model, seed=3)
    model.eval()
    short = make_batch(4, 7, lengths=[1, 12, 40, 64], length=64, seed=4)
    longer = tuple(nn.functional.pad(t, (0, 64)) for t in short)
    assert longer[1].size(-1) == 128
    with torch.no_grad():
        a = model(*short)
        b = model(*longer)
        # the same jets alone, each in its own batch, without padding
        alone = torch.cat(
            [model(*(t[k : k + 1, :, : int(short[3][k].sum())] for t in short)) for k in range(4)]
        )
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(alone, a, rtol=1e-5, atol=1e-5)


def test_part_without_trimming_ignores_padding_too():
    # trim=False keeps all 128 slots through the network: the biases alone must mask them
    torch.manual_seed(4)
    model = build("part", features="kin", num_classes=2, trim=False)
    _randomise_batch_norms(model, seed=4)
    model.eval()
    short = make_batch(3, 7, lengths=[5, 30, 64], length=64, seed=5)
    longer = tuple(nn.functional.pad(t, (0, 64)) for t in short)
    with torch.no_grad():
        torch.testing.assert_close(model(*longer), model(*short), rtol=1e-5, atol=1e-5)


def test_attention_buckets_change_nothing_but_the_speed():
    # jets of very different sizes, real particles not first: one bucket against as many as
    # the planner can make (no cost per bucket), in eval and in a training step's gradients
    torch.manual_seed(5)
    zero = {"dropout": 0.0, "attn_dropout": 0.0, "activation_dropout": 0.0}
    one = build("part", features="kin", num_classes=3, block_params=zero)
    many = build("part", features="kin", num_classes=3, block_params=zero)
    many.load_state_dict(one.state_dict())
    one.max_buckets, many.max_buckets, many.bucket_overhead = 1, 4, 0.0
    batch = make_batch(6, 7, lengths=[0, 2, 9, 10, 33, 40], length=48, seed=6)
    perm = torch.randperm(48, generator=torch.Generator().manual_seed(7))
    batch = tuple(t[..., perm] for t in batch)
    with torch.no_grad():
        torch.testing.assert_close(many.eval()(*batch), one.eval()(*batch), rtol=1e-5, atol=1e-5)
    one.train()
    many.train()
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    for model in (one, many):
        nn.functional.cross_entropy(model(*batch), labels).backward()
    for (name, a), b in zip(many.named_parameters(), one.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_bucket_plan_groups_jets_of_similar_sizes():
    mask = torch.zeros(5, 1, 100, dtype=torch.bool)
    for n, size in enumerate([100, 98, 10, 0, 9]):
        mask[n, 0, :size] = True
    # the empty jet takes no part; with no cost per bucket each jet gets its own
    assert Packing(mask, max_buckets=4, overhead=0.0).buckets == [
        (1, 100),
        (1, 98),
        (1, 10),
        (1, 9),
    ]
    # 2·100² < 100² + 98² + 1000 and 2·10² < 10² + 9² + 1000
    assert Packing(mask, max_buckets=4, overhead=1000.0).buckets == [(2, 100), (2, 10)]
    assert Packing(mask, max_buckets=1).buckets == [(4, 100)]
    packing = Packing(mask, max_buckets=4, overhead=1000.0)
    rows = torch.randn(int(mask.sum()), 3)
    assert torch.equal(packing.from_buckets(packing.to_buckets(rows)), rows)
