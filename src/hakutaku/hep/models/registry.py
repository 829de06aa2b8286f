"""The architectures by name, with the published default configurations, and `build`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ._common import resolve_input_dims
from .part import ParticleTransformer
from .particlenet import DEFAULT_CONV_PARAMS, DEFAULT_FC_PARAMS, ParticleNet
from .pcnn import PCNN
from .pfn import ParticleFlowNetwork


@dataclass(frozen=True)
class Architecture:
    """A tagger architecture: `factory(input_dims=..., num_classes=..., **defaults)`.

    `published_parameters`: the count published for the JetClass "full" inputs (17 features,
    10 classes), or None. `aliases` are other accepted names (case-insensitive).
    """

    name: str
    factory: Callable[..., nn.Module]
    title: str
    reference: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    published_parameters: int | None = None
    aliases: tuple[str, ...] = ()
    description: str = ""


ARCHITECTURES: dict[str, Architecture] = {}


def register_architecture(arch: Architecture, *, replace: bool = False) -> Architecture:
    """Add an architecture (a user's own, too). Names and aliases are case-insensitive."""
    names = [arch.name, *arch.aliases]
    for name in names:
        key = name.lower()
        if not replace and (key in ARCHITECTURES or key in _ALIASES):
            raise ValueError(f"architecture {name!r} is already registered")
    ARCHITECTURES[arch.name.lower()] = arch
    for alias in arch.aliases:
        _ALIASES[alias.lower()] = arch.name.lower()
    return arch


_ALIASES: dict[str, str] = {}


def get_architecture(name: str) -> Architecture:
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    try:
        return ARCHITECTURES[key]
    except KeyError:
        raise KeyError(
            f"unknown architecture {name!r}; available: {', '.join(sorted(ARCHITECTURES))}"
        ) from None


def build(
    name: str, features: str | int = "kin", num_classes: int = 10, **overrides: Any
) -> nn.Module:
    """A freshly initialised tagger.

    `features`: "kin" (7), "kinpid" (13), "full" (17) particle features, or their number;
    `overrides`: constructor arguments replacing the published defaults (e.g. `num_layers=4`).
    The model carries `.config`, the arguments that rebuild it with `build(**config)`.
    """
    arch = get_architecture(name)
    input_dims = resolve_input_dims(features)
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    accepted = inspect.signature(arch.factory).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(overrides) - set(accepted))
        if unknown:
            known = sorted(set(accepted) - {"input_dims", "num_classes"})
            raise TypeError(f"{arch.name} has no option(s) {unknown}; options: {known}")
    kwargs = {**arch.defaults, **overrides}
    model = arch.factory(input_dims=input_dims, num_classes=int(num_classes), **kwargs)
    model.config = {  # type: ignore[assignment]  # a plain attribute, not in torch's stubs
        "name": arch.name,
        "features": features,
        "num_classes": int(num_classes),
        **overrides,
    }
    return model


register_architecture(
    Architecture(
        name="pfn",
        factory=ParticleFlowNetwork,
        title="Particle Flow Network (Deep Sets)",
        reference="Komiske, Metodiev, Thaler, JHEP 01 (2019) 121, arXiv:1810.05165",
        defaults={"phi_sizes": (128, 128, 128), "f_sizes": (128, 128, 128), "use_bn": False},
        published_parameters=86_100,
        aliases=("particleflownetwork", "deepsets"),
        description="Per-particle MLP, masked sum, jet-level MLP; permutation invariant.",
    )
)
register_architecture(
    Architecture(
        name="pcnn",
        factory=PCNN,
        title="P-CNN (1-D ResNet over the pT-ordered particles)",
        reference="CMS DeepAK8, CMS-DP-2017-049; ParT paper baseline, arXiv:2202.03772",
        defaults={
            "conv_params": ((32,), (64, 64), (64, 64), (128, 128)),
            "fc_params": ((512, 0.2),),
        },
        published_parameters=354_000,
        aliases=("p-cnn", "resnet"),
        description="1-D convolutions along the particle sequence, global average pooling.",
    )
)
register_architecture(
    Architecture(
        name="particlenet",
        factory=ParticleNet,
        title="ParticleNet (EdgeConv, k = 16)",
        reference="Qu, Gouskos, Phys. Rev. D 101 (2020) 056019, arXiv:1902.08570",
        defaults={
            "conv_params": DEFAULT_CONV_PARAMS,
            "fc_params": DEFAULT_FC_PARAMS,
            "use_fusion": False,
            "use_fts_bn": True,
            "use_counts": True,
        },
        published_parameters=370_000,
        aliases=("pn", "particle_net"),
        description="Dynamic graph CNN on the particle cloud; loads the published weights.",
    )
)
register_architecture(
    Architecture(
        name="part",
        factory=ParticleTransformer,
        title="Particle Transformer (ParT)",
        reference="Qu, Li, Qian, ICML 2022, arXiv:2202.03772",
        defaults={
            "pair_input_dim": 4,
            "use_pre_activation_pair": False,
            "embed_dims": (128, 512, 128),
            "pair_embed_dims": (64, 64, 64),
            "num_heads": 8,
            "num_layers": 8,
            "num_cls_layers": 2,
            "fc_params": (),
            "activation": "gelu",
        },
        published_parameters=2_140_000,
        aliases=("particletransformer", "particle_transformer"),
        description="Transformer with pairwise-interaction attention bias and class attention.",
    )
)
