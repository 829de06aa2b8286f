"""Inputs for the tagger tests: small weaver-style batches with padding."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

P = 40  # particles per jet slot (small: the tests must be quick on two CPU cores)


def make_batch(n: int, channels: int, lengths=None, length: int = P, seed: int = 0):
    """points (n,2,L), features (n,C,L), lorentz_vectors (n,4,L), mask (n,1,L); padding zeroed."""
    g = torch.Generator().manual_seed(seed)
    if lengths is None:
        lengths = torch.randint(3, length + 1, (n,), generator=g)
    lengths = torch.as_tensor(lengths)
    mask = (torch.arange(length)[None] < lengths[:, None]).unsqueeze(1).float()
    eta_phi = 0.3 * torch.randn(n, 2, length, generator=g)
    features = torch.randn(n, channels, length, generator=g)
    pt = 1 + 100 * torch.rand(n, 1, length, generator=g)
    eta, phi = eta_phi[:, :1], eta_phi[:, 1:]
    vectors = torch.cat(
        (pt * torch.cos(phi), pt * torch.sin(phi), pt * torch.sinh(eta), pt * torch.cosh(eta)), 1
    )
    return eta_phi * mask, features * mask, vectors * mask, mask


def pretrained_location() -> Path:
    env = os.environ.get("HAI_PRETRAINED_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return (Path(__file__).parents[3] / "../shared/data/jetclass-pretrained").resolve()


@pytest.fixture(scope="session")
def pretrained_dir() -> Path:
    path = pretrained_location()
    if not (path / "ParticleNet_kin.pt").is_file():
        pytest.skip(
            f"published JetClass checkpoints not found at {path} (set HAI_PRETRAINED_DIR to the "
            "folder holding ParticleNet_{kin,kinpid,full}.pt)"
        )
    return path
