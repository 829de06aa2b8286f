"""The four taggers: published sizes, shapes, masks, permutations, determinism, devices."""

from __future__ import annotations

import pytest
import torch

from hakutaku.hep.models import (
    ARCHITECTURES,
    build,
    classifier_head,
    count_parameters,
    pick_device,
)
from hakutaku.hep.models.part import pair_features

from .conftest import make_batch

NAMES = ("pfn", "pcnn", "particlenet", "part")
CHANNELS = {"kin": 7, "kinpid": 13, "full": 17}

# Exact counts on the JetClass "full" inputs (17 features, 10 classes), and the published ones
# (ParT paper, Table 2): 86.1 k, 354 k, 370 k, 2.14 M.
EXPECTED = {"pfn": 86_154, "pcnn": 354_540, "particlenet": 370_156, "part": 2_143_486}


def run(model, batch):
    points, features, vectors, mask = batch
    with torch.no_grad():
        return model(points, features, vectors, mask)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_counts_match_the_published_ones(name):
    model = build(name, features="full", num_classes=10)
    count = count_parameters(model)
    published = ARCHITECTURES[name].published_parameters
    print(f"{name}: {count} parameters (published {published})")
    assert count == EXPECTED[name]
    assert abs(count - published) / published < 0.015


@pytest.mark.parametrize("name", NAMES)
def test_forward_shapes_for_every_input_set_and_class_count(name):
    torch.manual_seed(0)
    for features, channels in CHANNELS.items():
        for num_classes in (2, 10):
            model = build(name, features=features, num_classes=num_classes).eval()
            out = run(model, make_batch(3, channels, length=24))
            assert out.shape == (3, num_classes)
            assert torch.isfinite(out).all()
            assert model.config["features"] == features
    assert build(name, features=5, num_classes=3).config["features"] == 5


@pytest.mark.parametrize("name", NAMES)
def test_training_step_gives_finite_gradients_even_for_an_empty_jet(name):
    torch.manual_seed(0)
    model = build(name, features="kin", num_classes=2).train()
    points, features, vectors, mask = make_batch(4, 7, lengths=[0, 1, 20, 40])
    out = model(points, features, vectors, mask)
    assert torch.isfinite(out).all()
    torch.nn.functional.cross_entropy(out, torch.tensor([0, 1, 0, 1])).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", NAMES)
def test_padded_slots_do_not_matter(name):
    torch.manual_seed(1)
    model = build(name, features="kinpid", num_classes=10).eval()
    points, features, vectors, mask = make_batch(4, 13, lengths=[5, 12, 33, 40])
    clean = run(model, (points, features, vectors, mask))
    pad = mask == 0
    noisy = (
        points.masked_fill(pad, 7.0),
        features + 50 * torch.randn_like(features) * pad,
        vectors.masked_fill(pad, 3.0),
        mask,
    )
    torch.testing.assert_close(run(model, noisy), clean, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ("pfn", "particlenet", "part"))
def test_extra_padding_does_not_change_the_output(name):
    torch.manual_seed(2)
    model = build(name, features="kin", num_classes=10).eval()
    short = make_batch(3, 7, lengths=[4, 17, 30], length=30)
    longer = tuple(torch.nn.functional.pad(t, (0, 50)) for t in short)
    torch.testing.assert_close(run(model, longer), run(model, short), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ("pfn", "particlenet", "part"))
def test_permutation_invariance_over_the_particles(name):
    torch.manual_seed(3)
    model = build(name, features="full", num_classes=10).eval()
    batch = make_batch(3, 17, lengths=[6, 25, 40])
    reference = run(model, batch)
    # shuffle every slot, padding included: real particles need not come first
    perm = torch.randperm(batch[0].size(-1))
    shuffled = tuple(t[..., perm] for t in batch)
    torch.testing.assert_close(run(model, shuffled), reference, rtol=1e-4, atol=1e-4)


def test_pcnn_sees_the_particle_order():
    torch.manual_seed(4)
    model = build("pcnn", features="kin", num_classes=10).eval()
    batch = make_batch(2, 7, lengths=[40, 40])
    perm = torch.randperm(40)
    shuffled = tuple(t[..., perm] for t in batch)
    assert not torch.allclose(run(model, shuffled), run(model, batch))


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_in_eval_and_for_a_seed(name):
    torch.manual_seed(5)
    a = build(name, features="kin", num_classes=2).eval()
    torch.manual_seed(5)
    b = build(name, features="kin", num_classes=2).eval()
    batch = make_batch(3, 7)
    out = run(a, batch)
    assert torch.equal(out, run(a, batch))
    assert torch.equal(out, run(b, batch))
    rebuilt = build(**a.config)
    assert rebuilt.state_dict().keys() == a.state_dict().keys()


def test_classifier_head_is_the_last_linear_layer():
    for name in NAMES:
        model = build(name, features="kin", num_classes=3)
        prefix, layer = classifier_head(model)
        assert layer.out_features == 3
        assert f"{prefix}.weight" in model.state_dict()


def test_build_rejects_bad_requests():
    with pytest.raises(KeyError, match="unknown architecture"):
        build("transformer-xl")
    with pytest.raises(ValueError, match="feature set"):
        build("pfn", features="kinematics")
    with pytest.raises(TypeError, match="no option"):
        build("particlenet", features="kin", num_layers=3)
    assert count_parameters(build("PN", features="kin")) == count_parameters(
        build("particlenet", features="kin")
    )
    small = build("part", features="kin", num_layers=2, num_cls_layers=1)
    assert len(small.blocks) == 2 and small.config["num_layers"] == 2


def test_particlenet_fusion_block_is_optional():
    model = build("particlenet", features="full", use_fusion=True)
    assert "fusion_block.0.weight" in model.state_dict()
    assert count_parameters(model) > EXPECTED["particlenet"]


def test_pair_features_by_hand():
    # two massless particles at (y, φ) = (0, 0) and (0, 0.5) with pT 10 and 30
    def vec(pt, phi):
        return torch.tensor(
            [pt * torch.cos(torch.tensor(phi)), pt * torch.sin(torch.tensor(phi)), 0.0, pt]
        ).view(1, 4, 1)

    a, b = vec(10.0, 0.0), vec(30.0, 0.5)
    ln_kt, ln_z, ln_dr, ln_m2 = pair_features(a, b).flatten().tolist()
    assert ln_dr == pytest.approx(torch.log(torch.tensor(0.5)).item(), abs=1e-5)
    assert ln_kt == pytest.approx(torch.log(torch.tensor(10 * 0.5)).item(), abs=1e-5)
    assert ln_z == pytest.approx(torch.log(torch.tensor(10 / 40)).item(), abs=1e-5)
    m2 = 2 * 10 * 30 * (1 - torch.cos(torch.tensor(0.5))).item()
    assert ln_m2 == pytest.approx(torch.log(torch.tensor(m2)).item(), abs=1e-4)


def test_pick_device(monkeypatch):
    monkeypatch.delenv("HAI_DEVICE", raising=False)
    device = pick_device()
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert device.type in (expected, "npu", "mps")
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("HAI_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")
    with pytest.raises(ValueError):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="not available"):
            pick_device("cuda")
        with pytest.raises(RuntimeError, match="not available"):
            pick_device("rocm")


def test_particlenet_factorised_edge_layer_equals_the_exact_one():
    torch.manual_seed(6)
    exact = build("particlenet", features="kin", num_classes=10, exact_edges=True).eval()
    fast = build("particlenet", features="kin", num_classes=10, exact_edges=False).eval()
    fast.load_state_dict(exact.state_dict())
    batch = make_batch(4, 7, lengths=[3, 17, 30, 40])
    torch.testing.assert_close(run(fast, batch), run(exact, batch), rtol=1e-4, atol=1e-4)
    # the default: factorised while training, exact in eval
    model = build("particlenet", features="kin", num_classes=10)
    block = model.edge_convs[0]
    assert block.exact is None


@pytest.mark.parametrize("use_fusion", (False, True))
def test_packed_particlenet_equals_the_dense_one_in_eval(use_fusion):
    torch.manual_seed(7)
    dense = build("particlenet", features="kinpid", num_classes=10, use_fusion=use_fusion)
    packed = build("particlenet", features="kinpid", num_classes=10, use_fusion=use_fusion)
    dense.packed = False
    packed.load_state_dict(dense.state_dict())
    # jets shorter than k + 1 = 17 have padded neighbours: both must treat them alike
    batch = make_batch(5, 13, lengths=[0, 3, 16, 29, 40])
    for exact in (True, False):
        for model in (dense, packed):
            for block in model.edge_convs:
                block.exact = exact
        torch.testing.assert_close(
            run(packed.eval(), batch), run(dense.eval(), batch), rtol=1e-4, atol=1e-4
        )


def test_packed_particlenet_trains_like_the_dense_one_without_padding():
    # with every slot real, both normalise over the same edges: same outputs and gradients
    torch.manual_seed(8)
    dense = build("particlenet", features="kin", num_classes=2, packed=False).train()
    packed = build("particlenet", features="kin", num_classes=2).train()
    packed.load_state_dict(dense.state_dict())
    points, features, vectors, mask = make_batch(3, 7, lengths=[40, 40, 40])
    grads = []
    for model in (dense, packed):
        torch.manual_seed(9)  # the same dropout mask
        out = model(points, features, vectors, mask)
        torch.nn.functional.cross_entropy(out, torch.tensor([0, 1, 1])).backward()
        grads.append((out, [p.grad for p in model.parameters()]))
    (out_d, grad_d), (out_p, grad_p) = grads
    torch.testing.assert_close(out_p, out_d, rtol=1e-4, atol=1e-4)
    for gp, gd in zip(grad_p, grad_d, strict=True):
        torch.testing.assert_close(gp, gd, rtol=1e-3, atol=1e-4)


def test_packed_particlenet_training_ignores_how_much_padding_a_batch_has():
    torch.manual_seed(10)
    model = build("particlenet", features="kin", num_classes=2, trim=False).train()
    short = make_batch(3, 7, lengths=[5, 20, 30], length=30)
    longer = tuple(torch.nn.functional.pad(t, (0, 50)) for t in short)
    outs = []
    for batch in (short, longer):
        torch.manual_seed(11)
        outs.append(model(*batch))
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-5, atol=1e-5)


def test_packed_particlenet_trains_on_a_batch_of_one_particle():
    # batch norm over real particles alone would have one value per channel: the dense
    # computation (which also sees the padded slots) takes over
    model = build("particlenet", features="kin", num_classes=2).train()
    points, features, vectors, mask = make_batch(2, 7, lengths=[1, 0])
    out = model(points, features, vectors, mask)
    assert out.shape == (2, 2) and torch.isfinite(out).all()
