"""Choose the compute device from what is present: CUDA, ROCm (AMD and Hygon DCU, which PyTorch
exposes as `cuda` with `torch.version.hip` set), Ascend NPU (`torch_npu`), Apple MPS, or CPU."""

from __future__ import annotations

import importlib
import os
from typing import Any

import torch

KINDS = ("cuda", "rocm", "npu", "mps", "cpu")


def _npu_available() -> bool:
    try:
        importlib.import_module("torch_npu")  # registers torch.npu
    except Exception:
        return False
    npu = getattr(torch, "npu", None)
    try:
        return bool(npu is not None and npu.is_available())
    except Exception:
        return False


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def is_rocm() -> bool:
    """True when this PyTorch is a ROCm build (AMD GPUs, Hygon DCU)."""
    return getattr(torch.version, "hip", None) is not None


def available_kinds() -> list[str]:
    """The accelerator kinds usable here, best first; always ends with "cpu"."""
    kinds = []
    if torch.cuda.is_available():
        kinds.append("rocm" if is_rocm() else "cuda")
    if _npu_available():
        kinds.append("npu")
    if _mps_available():
        kinds.append("mps")
    kinds.append("cpu")
    return kinds


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to run on.

    `prefer`: None or "auto" picks the best present (CUDA/ROCm, then NPU, then MPS, then CPU);
    the environment variable HAI_DEVICE, when set, is used in place of None. A kind ("cuda",
    "rocm", "hip", "dcu", "npu", "mps", "cpu") or a device string such as "cuda:1" or "npu:0"
    asks for that one, and raises RuntimeError when it is not present. ROCm devices are
    `torch.device("cuda", ...)` in PyTorch.
    """
    if prefer is None:
        prefer = os.environ.get("HAI_DEVICE") or "auto"
    if isinstance(prefer, torch.device):
        prefer = str(prefer)
    text = prefer.strip().lower()
    if text in ("", "auto"):
        best = available_kinds()[0]
        return torch.device("cuda" if best == "rocm" else best)
    kind, _, index = text.partition(":")
    if index and not index.isdigit():
        raise ValueError(f"bad device {prefer!r}")
    if kind in ("hip", "dcu"):
        kind = "rocm"
    if kind not in KINDS:
        raise ValueError(f"unknown device {prefer!r}; expected auto or one of {KINDS}")
    present = available_kinds()
    if kind == "cuda" and "rocm" in present:
        kind = "rocm"  # ROCm builds answer to "cuda" as PyTorch does
    if kind not in present:
        raise RuntimeError(f"device {prefer!r} is not available here (present: {present})")
    if kind == "rocm":
        kind = "cuda"
    device = torch.device(kind, int(index)) if index else torch.device(kind)
    if index and kind in ("cuda", "npu"):
        count = torch.cuda.device_count() if kind == "cuda" else _npu().device_count()
        if int(index) >= count:
            raise RuntimeError(f"device {prefer!r} is not available ({count} present)")
    return device


def _npu() -> Any:
    """`torch.npu`, which exists only once Ascend's torch_npu is imported."""
    return getattr(torch, "npu")  # noqa: B009  (not in torch's stubs)


def describe_device(device: torch.device | str | None = None) -> str:
    """A human-readable name: "CUDA: NVIDIA H100", "ROCm: ...", "Ascend NPU: ...", "CPU"."""
    device = pick_device(device) if not isinstance(device, torch.device) else device
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return f"{'ROCm' if is_rocm() else 'CUDA'}: {name}"
    if device.type == "npu":
        try:
            return f"Ascend NPU: {_npu().get_device_name(device)}"
        except Exception:
            return "Ascend NPU"
    if device.type == "mps":
        return "Apple MPS"
    return "CPU"
