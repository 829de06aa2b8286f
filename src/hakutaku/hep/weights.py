"""Import published weaver-core weights, and the parameter groups for fine-tuning from them.

weaver-core (the training framework of the ParticleNet and ParT papers) saves a `state_dict` of
a wrapper module whose network sits under `mod.` (`mod.bn_fts.weight`, `mod.edge_convs.0...`,
`mod.fc.1.bias`). The taggers in `hakutaku.hep.models` use weaver's module names, so importing is
a prefix strip; the fine-tuning wrappers of the ParT repository (a new head `fc_out` beside
`mod`, or `fc` outside `mod`) and `module.`/`_orig_mod.` prefixes of DDP and torch.compile are
understood too.

ParT: the published checkpoints come from the paper-era weaver-core (v0.4, 2022). Later
releases rename the attention projection (`attn.in_proj.weight`, mapped here) and, from
February 2026, no longer reorder the channels after the per-head scale; build the model with
`block_params={"reorder_heads": False}, cls_block_params={"reorder_heads": False}` for weights
trained with those.

    model = build("particlenet", features="kin", num_classes=10)
    load_weaver_state_dict(model, "ParticleNet_kin.pt")            # all tensors, shapes checked
    tuned = build("particlenet", features="kin", num_classes=2)
    load_weaver_state_dict(tuned, "ParticleNet_kin.pt", exclude_head=True)   # new classifier
    optim = torch.optim.AdamW(param_groups(tuned, body_lr_scale=0.02, lr=1e-3))
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .models._common import classifier_head

PRETRAINED_ENV = "HAI_PRETRAINED_DIR"

# Prefixes that wrappers add in front of the network's own names.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.", "mod.")
_RENAMES = (
    (".attn.in_proj.weight", ".attn.in_proj_weight"),
    (".attn.in_proj.bias", ".attn.in_proj_bias"),
)


@dataclass
class LoadReport:
    """What `load_weaver_state_dict` did: tensors loaded, head tensors skipped, and (for
    strict=False) the model's tensors left as they were and the file's tensors not used."""

    loaded: list[str] = field(default_factory=list)
    skipped_head: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def read_state_dict(source: str | os.PathLike | Mapping[str, torch.Tensor]) -> dict:
    """A state_dict from a file (tensors only; no code is unpickled) or a mapping.

    Full training checkpoints holding the weights under "state_dict", "model_state_dict" or
    "model" are unwrapped.
    """
    if isinstance(source, Mapping):
        state = dict(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no weights file at {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model_state_dict", "model"):
        inner = state.get(key) if isinstance(state, Mapping) else None
        if isinstance(inner, Mapping) and inner and all(isinstance(k, str) for k in inner):
            state = dict(inner)
            break
    if not isinstance(state, Mapping) or not all(isinstance(k, str) for k in state):
        raise ValueError("not a state_dict: expected a mapping of parameter names to tensors")
    return dict(state)


def weaver_to_local(state: Mapping[str, torch.Tensor], model: nn.Module) -> dict:
    """Rename a weaver-core state_dict's keys to `model`'s names."""
    head, _ = classifier_head(model)
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = key
        changed = True
        while changed:
            changed = False
            for prefix in _WRAPPER_PREFIXES:
                if name.startswith(prefix):
                    name = name[len(prefix) :]
                    changed = True
        if name.startswith("fc_out."):  # ParticleNet fine-tuning wrapper: the new classifier
            name = f"{head}.{name[len('fc_out.') :]}"
        # weaver-core ≥ 0.4.x of August 2024 names ParT's packed projection `attn.in_proj.*`
        for old, new in _RENAMES:
            if name.endswith(old):
                name = name[: -len(old)] + new
        if name in out:
            raise ValueError(f"two tensors map to {name!r} (from {key!r})")
        out[name] = value
    return out


def load_weaver_state_dict(
    model: nn.Module,
    path_or_state_dict: str | os.PathLike | Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
    exclude_head: bool = False,
) -> LoadReport:
    """Load weaver-core weights into a tagger of `hakutaku.hep.models`.

    strict: every tensor of the model (but the head, when excluded) must be in the file and
    every tensor in the file must be used, with equal shapes; otherwise ValueError naming them.
    With strict=False, tensors that match by name and shape are loaded and the rest reported.
    exclude_head: leave the final classifier layer as initialised (fine-tuning to another
    number of classes).
    """
    state = weaver_to_local(read_state_dict(path_or_state_dict), model)
    head, _ = classifier_head(model)
    own = model.state_dict()
    report = LoadReport()
    if exclude_head:
        report.skipped_head = sorted(k for k in state if k.startswith(head + "."))
        state = {k: v for k, v in state.items() if not k.startswith(head + ".")}
        expected = {k for k in own if not k.startswith(head + ".")}
    else:
        expected = set(own)
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(state) & set(own)
        if state[k].shape != own[k].shape
    )
    if strict and (missing or unexpected or mismatched):
        lines = [f"weights do not fit {type(model).__name__}:"]
        if mismatched:
            lines.append(f"  shape mismatches: {mismatched}")
            if any(m.startswith(head + ".") for m in mismatched) and not exclude_head:
                lines.append("  (a different number of classes? use exclude_head=True)")
        if missing:
            lines.append(f"  missing from the file: {missing}")
        if unexpected:
            lines.append(f"  not in the model: {unexpected}")
        raise ValueError("\n".join(lines))
    usable = {
        k: v.to(own[k].dtype) for k, v in state.items() if k in own and v.shape == own[k].shape
    }
    model.load_state_dict(usable, strict=False)
    report.loaded = sorted(usable)
    report.missing = sorted(expected - set(usable))
    report.unexpected = sorted(set(state) - set(usable))
    return report


def head_parameter_names(model: nn.Module) -> set[str]:
    """Names of the parameters of the final classifier layer."""
    head, _ = classifier_head(model)
    return {name for name, _ in model.named_parameters() if name.startswith(head + ".")}


def param_groups(
    model: nn.Module,
    body_lr_scale: float = 0.1,
    *,
    lr: float | None = None,
    weight_decay: float | None = None,
    head: Iterable[str] | None = None,
) -> list[dict]:
    """Optimizer parameter groups for fine-tuning: the new head at the full learning rate, the
    pre-trained body at `body_lr_scale` times it.

    Each group has "name" ("body", "head", and with weight decay "body_no_decay",
    "head_no_decay") and "lr_scale"; with `lr` also "lr" = lr × lr_scale, so that any torch
    optimizer and LR scheduler use it directly. `weight_decay` sets it on all groups except the
    parameters the model lists in `no_weight_decay()` (ParT's class token). `head`: names of the
    head parameters, by default the final classifier layer's.
    """
    if body_lr_scale < 0:
        raise ValueError("body_lr_scale must not be negative")
    head_names = set(head) if head is not None else head_parameter_names(model)
    listed = getattr(model, "no_weight_decay", None)
    no_decay = set(listed()) if callable(listed) else set()
    buckets: dict[tuple[str, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        part = "head" if name in head_names else "body"
        decays = weight_decay is not None and name not in no_decay
        buckets.setdefault((part, decays or weight_decay is None), []).append(param)
    groups = []
    for (part, decays), params in sorted(buckets.items(), key=lambda kv: kv[0]):
        scale = 1.0 if part == "head" else float(body_lr_scale)
        group: dict = {
            "params": params,
            "name": part if decays else f"{part}_no_decay",
            "lr_scale": scale,
        }
        if lr is not None:
            group["lr"] = lr * scale
        if weight_decay is not None:
            group["weight_decay"] = weight_decay if decays else 0.0
        groups.append(group)
    return groups


def pretrained_dir(start: str | os.PathLike | None = None) -> Path | None:
    """The folder of the published checkpoints, or None: $HAI_PRETRAINED_DIR, else
    `../shared/data/jetclass-pretrained` beside the checkout holding this package (or `start`)."""
    env = os.environ.get(PRETRAINED_ENV)
    if env:
        path = Path(env).expanduser()
        return path.resolve() if path.is_dir() else None
    base = Path(start) if start is not None else Path(__file__).resolve()
    for parent in [base, *base.parents]:
        candidate = parent / ".." / "shared" / "data" / "jetclass-pretrained"
        if candidate.is_dir():
            return candidate.resolve()
    return None


def infer_config(state: Mapping[str, torch.Tensor] | str | os.PathLike, arch: str) -> dict:
    """`features` (the number of particle features) and `num_classes` of a weaver state_dict
    for architecture `arch` ("pfn", "pcnn", "particlenet", "part")."""
    from .models.registry import get_architecture

    name = get_architecture(arch).name
    raw = read_state_dict(state)
    sd = {}
    for key, value in raw.items():
        for prefix in _WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        sd[key] = value
    first = {
        "pfn": ("phi.0.0.weight", 1),
        "pcnn": ("fts_conv.1.weight", 1),
        "particlenet": ("edge_convs.0.sc.weight", 1),
        "part": ("embed.input_bn.weight", 0),
    }[name]
    if first[0] not in sd:
        raise ValueError(f"{first[0]!r} not found: not a weaver {name} state_dict")
    features = int(sd[first[0]].shape[first[1]])
    if "fc_out.weight" in sd:
        num_classes = int(sd["fc_out.weight"].shape[0])
    else:
        fc = [k for k in sd if k.startswith("fc.") and k.endswith(".weight")]
        if not fc:
            raise ValueError("no classifier (fc.*) found in the state_dict")
        last = max(fc, key=lambda k: [int(p) for p in k.split(".")[1:-1] if p.isdigit()])
        num_classes = int(sd[last].shape[0])
    return {"features": features, "num_classes": num_classes}
