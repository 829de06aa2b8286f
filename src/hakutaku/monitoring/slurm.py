"""Slurm's nodes: what each has and has allocated, read once per monitor tick.

Commands, in order of preference (the first that works is kept): `scontrol show nodes --json`
(Slurm 23.02 and later), `sinfo --json` (22.05, which lists nodes the same way), and the text
of `scontrol --oneliner --details show nodes` for a Slurm built without JSON. Cards are Slurm's
generic resources (gres) of kind gpu, dcu or npu, counted per type (`gpu:a800:4`); `GresUsed`
says how many are allocated.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from hakutaku.compute.policy import Policy
from hakutaku.monitoring.cluster import CARD_KINDS, WHOLE, ClusterView, PartitionView

log = logging.getLogger("hakutaku.monitoring")

COMMAND_TIMEOUT = 60.0
# Node states (base or flag) in which a node takes no new job: its free resources are not free.
UNAVAILABLE = {
    "DOWN",
    "DRAIN",
    "DRAINED",
    "DRAINING",
    "FAIL",
    "FAILING",
    "FUTURE",
    "UNKNOWN",
    "ERROR",
    "NOT_RESPONDING",
    "POWERED_DOWN",
    "POWERING_DOWN",
    "INVALID_REG",
}
_GRES_ITEM = re.compile(r"([^,()]+)(?:\(([^)]*)\))?")

CardKey = tuple[str, str]  # (kind, model)


class SlurmNodesUnavailable(RuntimeError):
    """No command could list Slurm's nodes (slurmctld down, tools missing)."""


@dataclass(frozen=True)
class SlurmNode:
    name: str
    partitions: tuple[str, ...]
    cpus: int
    cpus_alloc: int
    mem_mb: int
    mem_alloc_mb: int
    cards: dict[CardKey, int] = field(default_factory=dict)
    cards_used: dict[CardKey, int] = field(default_factory=dict)
    up: bool = True


def parse_gres(text: str | None) -> dict[CardKey, int]:
    """`gpu:a800:4(S:0-1),dcu:k100ai:2(IDX:0,2),gpu:2` → {("gpu","a800"): 4, ...}; only the
    card kinds (gpu, dcu, npu) are kept."""
    found: dict[CardKey, int] = {}
    if not text or text.strip() in ("(null)", "N/A"):
        return found
    for match in _GRES_ITEM.finditer(text):
        item = match.group(1).strip().strip(",")
        if not item:
            continue
        parts = item.split(":")
        kind = parts[0].removeprefix("gres/")
        if kind not in CARD_KINDS:
            continue
        count = 1
        if len(parts) > 1 and parts[-1].isdigit():
            count = int(parts[-1])
            parts = parts[:-1]
        model = parts[1].lower() if len(parts) > 1 else ""
        found[(kind, model)] = found.get((kind, model), 0) + count
    return found


def _number(value: Any) -> int:
    """An integer from Slurm's JSON: a plain number, or {"set": true, "number": N} (23.02+)."""
    if isinstance(value, dict):
        value = value.get("number", 0) if value.get("set", True) else 0
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _is_up(states: Iterable[str]) -> bool:
    return not any(st.upper() in UNAVAILABLE for st in states)


def parse_nodes_json(text: str) -> list[SlurmNode]:
    """Nodes from `sinfo --json` (22.05) or `scontrol show nodes --json` (23.02+)."""
    doc = orjson.loads(text)
    nodes = []
    for raw in doc["nodes"]:
        state = raw.get("state", "")
        states = [state] if isinstance(state, str) else list(state)
        states += list(raw.get("state_flags", []))
        cpus = _number(raw.get("cpus"))
        nodes.append(
            SlurmNode(
                name=str(raw["name"]),
                partitions=tuple(raw.get("partitions") or ()),
                cpus=cpus,
                cpus_alloc=min(cpus, _number(raw.get("alloc_cpus"))),
                mem_mb=_number(raw.get("real_memory")),
                mem_alloc_mb=_number(raw.get("alloc_memory")),
                cards=parse_gres(raw.get("gres")),
                cards_used=parse_gres(raw.get("gres_used")),
                up=_is_up(st for s in states for st in s.split("+")),
            )
        )
    return nodes


def parse_nodes_text(text: str) -> list[SlurmNode]:
    """Nodes from `scontrol --oneliner --details show nodes` (KEY=VALUE words, a node a line)."""
    nodes = []
    for line in text.splitlines():
        fields = dict(w.partition("=")[::2] for w in line.split() if "=" in w)
        if "NodeName" not in fields:
            continue
        cpus = _number(fields.get("CPUTot"))
        used = parse_gres(fields.get("GresUsed"))
        if "GresUsed" not in fields:
            used = parse_gres(_gres_of_tres(fields.get("AllocTRES", "")))
        nodes.append(
            SlurmNode(
                name=fields["NodeName"],
                partitions=tuple(p for p in fields.get("Partitions", "").split(",") if p),
                cpus=cpus,
                cpus_alloc=min(cpus, _number(fields.get("CPUAlloc"))),
                mem_mb=_number(fields.get("RealMemory")),
                mem_alloc_mb=_number(fields.get("AllocMem")),
                cards=parse_gres(fields.get("Gres")),
                cards_used=used,
                up=_is_up(fields.get("State", "UNKNOWN").split("+")),
            )
        )
    return nodes


def _gres_of_tres(tres: str) -> str:
    """`cpu=2,mem=1G,gres/gpu=2,gres/gpu:a800=2` → `gpu:a800:2` (typed entries when present)."""
    pairs = [p.partition("=") for p in tres.split(",") if p.startswith("gres/")]
    typed = [(k, v) for k, _, v in pairs if ":" in k]
    chosen = typed or [(k, v) for k, _, v in pairs]
    return ",".join(f"{k.removeprefix('gres/')}:{v}" for k, v in chosen)


class SlurmNodes:
    """Lists the nodes with the first of Slurm's commands that works here."""

    def __init__(self, bin_dir: Path | None) -> None:
        self.bin_dir = bin_dir
        self._way: str | None = None  # the command that worked last time

    def read(self) -> list[SlurmNode]:
        ways: tuple[str, ...] = ("scontrol-json", "sinfo-json", "scontrol-text")
        if self._way is not None:
            ways = (self._way, *(w for w in ways if w != self._way))
        problems = []
        for way in ways:
            try:
                nodes = self._read(way)
            except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError) as exc:
                problems.append(f"{way}: {exc}")
                continue
            self._way = way
            return nodes
        raise SlurmNodesUnavailable("; ".join(problems))

    def _read(self, way: str) -> list[SlurmNode]:
        if way == "scontrol-json":
            return parse_nodes_json(self._run("scontrol", "show", "nodes", "--json"))
        if way == "sinfo-json":
            return parse_nodes_json(self._run("sinfo", "--json"))
        return parse_nodes_text(self._run("scontrol", "--oneliner", "--details", "show", "nodes"))

    def _run(self, tool: str, *args: str) -> str:
        binary = str(self.bin_dir / tool) if self.bin_dir else shutil.which(tool) or tool
        done = subprocess.run(
            [binary, *args],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "TZ": "UTC"},
        )
        if done.returncode != 0:
            raise ValueError(f"exit {done.returncode}: {done.stderr.strip()[:300]}")
        return done.stdout


def slurm_view(nodes: list[SlurmNode], policy: Policy) -> ClusterView:
    """Partitions from the nodes (and the policy's, even without nodes), and the whole cluster.

    A partition of the policy shows the cards of its kind (and models, when it names some); a
    partition Slurm has and the policy not shows every card of its nodes.
    """
    names = sorted({p for n in nodes for p in n.partitions} | set(policy.partitions))
    partitions = []
    for name in names:
        spec = policy.partitions.get(name)
        kind = spec.accelerator if spec is not None else "*"
        models = {m.lower() for m in spec.models} if spec is not None else set()
        members = [n for n in nodes if name in n.partitions]
        view = _add_nodes(PartitionView(name, accelerator=kind), members, kind, models)
        if view.accelerator == "*":
            view.accelerator = view.cards[0].kind if view.cards else "cpu"
        partitions.append(view)
    whole = _add_nodes(PartitionView(WHOLE), nodes, "*", set())
    return ClusterView(whole, partitions, "slurm")


def _add_nodes(
    view: PartitionView, nodes: list[SlurmNode], kind: str, models: set[str]
) -> PartitionView:
    for node in nodes:
        view.nodes += 1
        view.cpus_total += node.cpus
        view.cpus_alloc += node.cpus_alloc
        view.mem_total_mb += node.mem_mb
        view.mem_alloc_mb += node.mem_alloc_mb
        if node.up:
            view.cpus_free += max(0, node.cpus - node.cpus_alloc)
            view.mem_free_mb += max(0, node.mem_mb - node.mem_alloc_mb)
        else:
            view.nodes_down += 1
        for (card_kind, model), total in node.cards.items():
            if kind != "*" and (card_kind != kind or (models and model not in models)):
                continue
            used = min(total, node.cards_used.get((card_kind, model), 0))
            cards = view.card(card_kind, model)
            cards.total += total
            cards.alloc += used
            if node.up:
                cards.free += total - used
    return view
