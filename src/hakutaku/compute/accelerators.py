"""What accelerators this machine has: NVIDIA (CUDA), AMD/Hygon (ROCm), Huawei Ascend, CPUs.

Detection reads what the drivers expose (device files, sysfs, the vendors' tools) and never
imports a framework. `HAI_ACCELERATORS` replaces detection, e.g. on a login node that should
offer what its compute nodes have, or in tests: `gpu:a800:0,1,2,3;dcu:k100ai:0,1`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# The variable each runtime reads to choose which devices a process sees.
VISIBLE_DEVICES = {
    "cuda": "CUDA_VISIBLE_DEVICES",
    "rocm": "HIP_VISIBLE_DEVICES",
    "ascend": "ASCEND_RT_VISIBLE_DEVICES",
}
# The platform's accelerator kinds and the runtime that drives them.
RUNTIME_OF_KIND = {"gpu": "cuda", "dcu": "rocm", "npu": "ascend"}
HYGON_VENDOR_ID = 0x1D94  # Hygon's PCI vendor id: its DCUs show up as ROCm devices


@dataclass(frozen=True)
class Accelerator:
    kind: str  # gpu | dcu | npu
    runtime: str  # cuda | rocm | ascend
    model: str  # e.g. "a800", "k100ai", "ascend910b"
    index: str  # the id the runtime's visible-devices variable takes

    @property
    def visible_devices_var(self) -> str:
        return VISIBLE_DEVICES[self.runtime]


def parse_accelerators(spec: str) -> list[Accelerator]:
    """`KIND:MODEL:ID,ID;...` (kind gpu, dcu or npu; MODEL may be empty) → accelerators."""
    found: list[Accelerator] = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        fields = part.split(":")
        if len(fields) != 3 or fields[0] not in RUNTIME_OF_KIND:
            raise ValueError(
                f"HAI_ACCELERATORS: cannot read {part!r}; write KIND:MODEL:IDS with KIND one of "
                f"{', '.join(RUNTIME_OF_KIND)}, e.g. `gpu:a800:0,1,2,3`."
            )
        kind, model, ids = fields
        for index in filter(None, (i.strip() for i in ids.split(","))):
            found.append(Accelerator(kind, RUNTIME_OF_KIND[kind], model or kind, index))
    return found


def detect_accelerators() -> list[Accelerator]:
    return [*_nvidia(), *_rocm(), *_ascend()]


def available_accelerators(override: str | None) -> list[Accelerator]:
    return parse_accelerators(override) if override is not None else detect_accelerators()


def normalise_model(name: str) -> str:
    """A short model name from a marketing one: 'NVIDIA A800-SXM4-80GB' → 'a800'."""
    name = name.lower()
    for noise in ("nvidia", "tesla", "geforce", "amd", "instinct", "hygon", "huawei"):
        name = name.replace(noise, " ")
    first = re.split(r"[\s\-_]+", name.strip())[0] if name.strip() else ""
    return first or "unknown"


# ----------------------------------------------------------------------------- vendors


def _nvidia() -> list[Accelerator]:
    smi = shutil.which("nvidia-smi")
    if smi:
        out = _run([smi, "--query-gpu=index,name", "--format=csv,noheader"])
        rows = [line.split(",", 1) for line in out.splitlines() if "," in line]
        return [Accelerator("gpu", "cuda", normalise_model(n), i.strip()) for i, n in rows]
    # Without the tool, the driver's /proc entries still say what is there.
    gpus = sorted(Path("/proc/driver/nvidia/gpus").glob("*/information"))
    found = []
    for index, info in enumerate(gpus):
        model = _field(info, "Model") or "nvidia"
        found.append(Accelerator("gpu", "cuda", normalise_model(model), str(index)))
    return found


def _rocm() -> list[Accelerator]:
    nodes = Path("/sys/class/kfd/kfd/topology/nodes")
    found: list[Accelerator] = []
    for node in sorted(nodes.glob("*"), key=lambda p: int(p.name) if p.name.isdigit() else 0):
        props = _properties(node / "properties")
        if props.get("simd_count", 0) <= 0:  # a CPU node of the topology
            continue
        hygon = props.get("vendor_id") == HYGON_VENDOR_ID
        name = _read(node / "name") or ("dcu" if hygon else "amdgpu")
        index = str(len(found))  # HIP numbers the GPU nodes in topology order
        kind = "dcu" if hygon else "gpu"
        found.append(Accelerator(kind, "rocm", normalise_model(name), index))
    return found


def _ascend() -> list[Accelerator]:
    devices = sorted(
        (p for p in Path("/dev").glob("davinci*") if p.name[len("davinci") :].isdigit()),
        key=lambda p: int(p.name[len("davinci") :]),
    )
    model = "ascend"
    smi = shutil.which("npu-smi")
    if devices and smi:
        match = re.search(r"(910B?\d?|310P?)", _run([smi, "info"]))
        if match:
            model = f"ascend{match.group(1).lower()}"
    return [Accelerator("npu", "ascend", model, p.name[len("davinci") :]) for p in devices]


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _field(path: Path, name: str) -> str:
    for line in _read(path).splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return ""


def _properties(path: Path) -> dict[str, int]:
    props: dict[str, int] = {}
    for line in _read(path).splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            props[key] = int(value)
    return props


# ----------------------------------------------------------------------------- CPUs, memory


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def total_memory_mb() -> int:
    import psutil

    return int(psutil.virtual_memory().total // (1024 * 1024))


def visible_devices_env(
    given: Iterable[Accelerator], present: Iterable[Accelerator]
) -> dict[str, str]:
    """The variables a job gets: its devices for their runtime, none of the others.

    A runtime present on the machine but not given to the job gets an empty list, so a
    job that asked for no card cannot use one it was not given.
    """
    env = {VISIBLE_DEVICES[a.runtime]: "" for a in present}
    by_var: dict[str, list[str]] = {}
    for a in given:
        by_var.setdefault(a.visible_devices_var, []).append(a.index)
    env.update({var: ",".join(ids) for var, ids in by_var.items()})
    return env
