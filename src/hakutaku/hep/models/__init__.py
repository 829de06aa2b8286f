"""Jet taggers: PFN, P-CNN, ParticleNet and Particle Transformer, with the published sizes.

All take weaver-style inputs, `forward(points, features, lorentz_vectors, mask)`:
points (N, 2, P) Δη/Δφ, features (N, C, P), lorentz_vectors (N, 4, P) px/py/pz/E, mask (N, 1, P);
and return logits (N, num_classes). Build one by name with
`build("particlenet", features="kin", num_classes=10)`.
"""

from ._common import FEATURE_DIMS, classifier_head, count_parameters, resolve_input_dims
from .device import available_kinds, describe_device, pick_device
from .part import ParticleTransformer, pair_features
from .particlenet import EdgeConvBlock, ParticleNet
from .pcnn import PCNN
from .pfn import ParticleFlowNetwork
from .registry import (
    ARCHITECTURES,
    Architecture,
    build,
    get_architecture,
    register_architecture,
)

__all__ = [
    "ARCHITECTURES",
    "FEATURE_DIMS",
    "PCNN",
    "Architecture",
    "EdgeConvBlock",
    "ParticleFlowNetwork",
    "ParticleNet",
    "ParticleTransformer",
    "available_kinds",
    "build",
    "classifier_head",
    "count_parameters",
    "describe_device",
    "get_architecture",
    "pair_features",
    "pick_device",
    "register_architecture",
    "resolve_input_dims",
]
