"""Importing the published weaver-core checkpoints, and fine-tuning from them."""

from __future__ import annotations

import math

import pytest
import torch

from hakutaku.hep.models import build, count_parameters
from hakutaku.hep.weights import (
    infer_config,
    load_weaver_state_dict,
    param_groups,
    read_state_dict,
)

CHANNELS = {"kin": 7, "kinpid": 13, "full": 17}

# Logits of weaver-core's reference ParticleNet (hqucms/weaver-core, ParticleNet.py) with each
# published checkpoint, in eval mode, on `golden_inputs` (computed outside this repository).
GOLDEN_TEXT = {
    "kin": """
        -63.8469 -81.195 -72.3139 -80.2234 -79.5566 -71.2334 -83.8258 -82.4016 -78.4054 -66.4486
        -42.5322 -59.5504 -55.5081 -60.4553 -76.1187 -48.7678 -61.778 -58.1977 -59.1143 -39.2339
        -48.7043 -82.4587 -78.8624 -102.175 -147.432 -58.4737 -74.7371 -67.2884 -108.03 -52.4499
    """,
    "kinpid": """
        -2.2197 -8.0968 -7.6468 -4.7532 -7.2741 -12.8209 -5.7689 -5.7394 -8.8115 -11.4042
        -13.5783 -21.6144 -22.6657 -21.6602 -32.6764 -22.8271 -24.1647 -21.5958 -30.7986 -19.1335
        -29.1459 -34.7171 -34.1127 -42.7179 -55.2011 -14.8084 -34.3884 -32.1236 -51.8899 -11.6682
    """,
    "full": """
        -61.7658 -139.513 -118.521 -139.304 -221.972 -133.228 -98.071 -111.453 -259.123 -144.051
        -64.048 -140.641 -119.336 -136.627 -208.617 -121.592 -98.0932 -108.297 -241.604 -131.288
        -64.0185 -145.528 -123.089 -135.246 -197.912 -127.545 -103.281 -110.99 -213.558 -138.249
    """,
}
GOLDEN = {
    k: [[float(x) for x in line.split()] for line in v.strip().splitlines()]
    for k, v in GOLDEN_TEXT.items()
}


def golden_inputs(channels: int, lengths=(9, 40, 128), length: int = 128):
    """Deterministic inputs (no RNG): three jets with 9, 40 and 128 particles."""
    j = torch.arange(length, dtype=torch.float64)
    i = torch.arange(len(lengths), dtype=torch.float64)[:, None]
    mask = (j[None] < torch.tensor(lengths, dtype=torch.float64)[:, None]).unsqueeze(1)
    points = torch.stack(
        (0.4 * torch.sin(1.3 * j + 0.7 * i), 0.4 * torch.cos(2.1 * j + 1.1 * i)), 1
    )
    ch = torch.arange(channels, dtype=torch.float64)[None, :, None]
    features = torch.sin(0.37 * (ch + 1) * j[None, None] + 0.5 * i[:, :, None] + ch)
    return points.float() * mask, features.float() * mask, mask.float()


@pytest.mark.parametrize("features", ["kin", "kinpid", "full"])
def test_published_particlenet_loads_strictly_and_reproduces_the_reference(
    pretrained_dir, features
):
    path = pretrained_dir / f"ParticleNet_{features}.pt"
    state = read_state_dict(path)
    assert len(state) == 81
    model = build("particlenet", features=features, num_classes=10)
    own = model.state_dict()
    assert len(own) == 81
    assert {k.removeprefix("mod."): tuple(v.shape) for k, v in state.items()} == {
        k: tuple(v.shape) for k, v in own.items()
    }
    report = load_weaver_state_dict(model, path, strict=True)
    assert len(report.loaded) == 81 and not report.missing and not report.unexpected
    for key, value in state.items():
        assert torch.equal(model.state_dict()[key.removeprefix("mod.")], value)
    assert infer_config(path, "particlenet") == {
        "features": CHANNELS[features],
        "num_classes": 10,
    }
    model.eval()
    points, feats, mask = golden_inputs(CHANNELS[features])
    with torch.no_grad():
        out = model(points, feats, None, mask)
    torch.testing.assert_close(out, torch.tensor(GOLDEN[features]), rtol=1e-4, atol=2e-3)


def test_exclude_head_for_two_classes(pretrained_dir):
    path = pretrained_dir / "ParticleNet_kin.pt"
    state = read_state_dict(path)
    torch.manual_seed(0)
    model = build("particlenet", features="kin", num_classes=2)
    with pytest.raises(ValueError, match="exclude_head=True"):
        load_weaver_state_dict(model, path)
    head_before = model.fc[1].weight.detach().clone()
    report = load_weaver_state_dict(model, path, exclude_head=True)
    assert report.skipped_head == ["fc.1.bias", "fc.1.weight"]
    assert len(report.loaded) == 79 and not report.missing
    assert torch.equal(model.fc[1].weight, head_before)
    assert torch.equal(model.fc[0][0].weight, state["mod.fc.0.0.weight"])
    assert torch.equal(
        model.edge_convs[2].convs[1].weight, state["mod.edge_convs.2.convs.1.weight"]
    )
    model.eval()
    points, feats, mask = golden_inputs(7)
    with torch.no_grad():
        assert model(points, feats, None, mask).shape == (3, 2)


def test_param_groups_for_fine_tuning():
    model = build("particlenet", features="kin", num_classes=2)
    groups = param_groups(model, body_lr_scale=0.05, lr=1e-3)
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {"body", "head"}
    assert by_name["head"]["lr"] == pytest.approx(1e-3)
    assert by_name["body"]["lr"] == pytest.approx(5e-5)
    assert {id(p) for p in by_name["head"]["params"]} == {
        id(model.fc[1].weight),
        id(model.fc[1].bias),
    }
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    optimizer = torch.optim.AdamW(groups, lr=1e-3)
    assert [g["lr"] for g in optimizer.param_groups] == [g["lr"] for g in groups]

    part = build("part", features="kin", num_classes=2, num_layers=1, num_cls_layers=1)
    groups = {g["name"]: g for g in param_groups(part, 0.1, lr=1e-3, weight_decay=0.01)}
    assert groups["body_no_decay"]["params"] == [part.cls_token]
    assert groups["body_no_decay"]["weight_decay"] == 0.0
    assert groups["head"]["weight_decay"] == 0.01
    total = sum(p.numel() for g in groups.values() for p in g["params"])
    assert total == count_parameters(part)


def test_weaver_wrapper_layouts_round_trip():
    torch.manual_seed(0)
    source = build("part", features="kin", num_classes=4, num_layers=2, num_cls_layers=1).eval()
    weaver = {f"mod.{k}": v for k, v in source.state_dict().items()}
    target = build("part", features="kin", num_classes=4, num_layers=2, num_cls_layers=1).eval()
    load_weaver_state_dict(target, {"state_dict": weaver})
    batch = golden_inputs(7, lengths=(5, 20), length=24)
    vectors = torch.cat(
        (batch[0], batch[0].abs().sum(1, keepdim=True) + 1, batch[0][:, :1] * 0 + 9), 1
    )
    with torch.no_grad():
        a = source(batch[0], batch[1], vectors[:, :4], batch[2])
        b = target(batch[0], batch[1], vectors[:, :4], batch[2])
    assert torch.equal(a, b)
    # the ParT repository's fine-tuning wrapper keeps the classifier `fc` outside `mod`
    finetuned = {k: v for k, v in weaver.items() if not k.startswith("mod.fc.")}
    finetuned.update(
        {"fc.0.weight": weaver["mod.fc.0.weight"], "fc.0.bias": weaver["mod.fc.0.bias"]}
    )
    assert len(load_weaver_state_dict(target, finetuned).loaded) == len(weaver)
    assert infer_config(finetuned, "part") == {"features": 7, "num_classes": 4}
    # later weaver-core releases call the packed projection `attn.in_proj.weight`
    renamed = {k.replace("in_proj_", "in_proj."): v for k, v in weaver.items()}
    assert any(".attn.in_proj.weight" in k for k in renamed)
    assert len(load_weaver_state_dict(target, renamed).loaded) == len(weaver)
    # ...and, from February 2026, keep the channels in (heads, head_dim) order
    plain = {"reorder_heads": False}
    other = build(
        "part",
        features="kin",
        num_classes=4,
        num_layers=2,
        num_cls_layers=1,
        block_params=plain,
        cls_block_params=plain,
    ).eval()
    load_weaver_state_dict(other, renamed)
    with torch.no_grad():
        c = other(batch[0], batch[1], vectors[:, :4], batch[2])
    assert c.shape == a.shape and not torch.allclose(a, c)

    # ParticleNet's fine-tuning wrapper: `mod.fc` without its last layer, plus `fc_out`
    pn = build("particlenet", features="kin", num_classes=3)
    state = {f"mod.{k}": v for k, v in pn.state_dict().items() if not k.startswith("fc.1.")}
    state["fc_out.weight"] = torch.zeros(3, 256)
    state["fc_out.bias"] = torch.arange(3.0)
    load_weaver_state_dict(pn, state)
    assert torch.equal(pn.fc[1].bias, torch.arange(3.0))
    assert infer_config(state, "pn") == {"features": 7, "num_classes": 3}


def test_strict_errors_name_the_problem():
    model = build("pfn", features="kin", num_classes=10)
    state = {k: v for k, v in model.state_dict().items() if k != "phi.0.0.bias"}
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError) as info:
        load_weaver_state_dict(model, state)
    assert "phi.0.0.bias" in str(info.value) and "extra.weight" in str(info.value)
    report = load_weaver_state_dict(model, state, strict=False)
    assert report.missing == ["phi.0.0.bias"] and report.unexpected == ["extra.weight"]
    with pytest.raises(FileNotFoundError):
        load_weaver_state_dict(model, "/nonexistent/ParticleNet.pt")
    assert math.isfinite(float(model.fc[0][0].weight.detach().sum()))
