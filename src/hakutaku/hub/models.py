"""Architectures and their versioned weights.

Every function takes `hub=` (a FolderHub or RemoteHub); without it the store is chosen by
hakutaku.hub.backend (a folder, or the platform after `hub.use_server()` / `HAI_HUB=server`).
torch is imported only when a module is built: the server imports this package (for the
store's names and checks) and must not pay for torch, and `import hakutaku.hub` stays quick.
"""

from __future__ import annotations

import builtins
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hakutaku.hub.backend import HubStore, current
from hakutaku.hub.store import WeightsCard

if TYPE_CHECKING:
    from torch import nn

BUILTIN_DOCS_HINT = "features='kin'|'kinpid'|'full' (or a channel count), num_classes=N"


def _hub(hub: HubStore | None) -> HubStore:
    return current(hub)


def list(hub: HubStore | None = None) -> builtins.list[str]:
    """Names of every architecture: the built-in taggers and those registered here."""
    from hakutaku.hep.models import ARCHITECTURES

    return sorted({*ARCHITECTURES, *_hub(hub).user_architectures()})


def docs(name: str, hub: HubStore | None = None) -> str:
    from hakutaku.hep.models import ARCHITECTURES

    if name in ARCHITECTURES:
        arch = ARCHITECTURES[name]
        lines = [f"{name}: {arch.title}", f"Reference: {arch.reference}"]
        if arch.description:
            lines.append(arch.description)
        if arch.published_parameters:
            size = arch.published_parameters
            lines.append(f"Published size: {size:,} parameters (JetClass full)")
        defaults = ", ".join(f"{k}={v!r}" for k, v in arch.defaults.items())
        if defaults:
            lines.append(f"Defaults: {defaults}")
        lines.append(f"Build with hub.load({name!r}, {BUILTIN_DOCS_HINT}).")
        return "\n".join(lines)
    user = _hub(hub).user_architectures().get(name)
    if user is None:
        raise LookupError(f"unknown architecture {name!r}; hub.list() shows the known ones")
    return f"{name} ({user['builder']}): {user['docs']}"


def register_architecture(
    name: str, builder: str, docs: str = "", hub: HubStore | None = None
) -> None:
    """Register `module:callable` (returning an nn.Module from keyword config) under `name`.

    On a server the builder is recorded, not run there: every client that loads it must be
    able to import it.
    """
    from hakutaku.hep.models import ARCHITECTURES

    if name.lower() in ARCHITECTURES:
        raise ValueError(f"{name!r} is a built-in architecture; register yours under another name")
    _resolve(builder)  # fail now, not at the first load
    _hub(hub).add_architecture(name, builder, docs)


def register_weights(
    architecture: str,
    path: str | Path,
    *,
    version: str,
    config: dict[str, Any] | None = None,
    training_data: str = "",
    metrics: dict[str, Any] | None = None,
    licence: str = "",
    author: str = "",
    description: str = "",
    public: bool = True,
    hub: HubStore | None = None,
) -> WeightsCard:
    """Store a weights file under `architecture`/`version` with its card; returns the card.

    `config` is what `load` passes to the builder for these weights (features, num_classes…).
    The weights must load into that build: this is checked before anything is stored (here,
    also when the store is a server, which never runs model code). `public=False` shows them
    on a server only to you and the admins.
    """
    if architecture not in list(hub):
        raise LookupError(f"unknown architecture {architecture!r}; hub.list() shows the known ones")
    config = dict(config or {})
    module = _build(architecture, config, hub)
    load_state(module, Path(path))
    card = WeightsCard(
        architecture=architecture,
        version=version,
        file="",
        sha256="",
        config=config,
        training_data=training_data,
        metrics=dict(metrics or {}),
        licence=licence,
        author=author,
        description=description,
        public=public,
    )
    return _hub(hub).add_weights(card, Path(path))


def list_weights(architecture: str, hub: HubStore | None = None) -> builtins.list[WeightsCard]:
    return _hub(hub).weights(architecture)


def load(
    name: str,
    weights: str | Path | None = None,
    hub: HubStore | None = None,
    **config: Any,
) -> nn.Module:
    """A ready `torch.nn.Module` (eval mode when weights are given) with `.config`.

    `weights` is a registered version (or "latest"), or a path to a state_dict — the
    platform's own or a weaver-core checkpoint (parameter names starting with `mod.`).
    """
    store = _hub(hub)
    card = None
    if weights is not None and not Path(weights).exists():
        card = store.find_weights(name, str(weights))
        config = {**card.config, **config}
    module = _build(name, config, store)
    if weights is not None:
        path = store.weights_file(card) if card is not None else Path(weights)
        load_state(module, path)
        module.eval()
    described: dict[str, Any] = {"architecture": name, **config}
    if card is not None:
        described["weights"] = f"{card.architecture}/{card.version}"
        described["sha256"] = card.sha256
    module.config = described  # type: ignore[assignment]
    return module


def _build(name: str, config: dict[str, Any], hub: HubStore | None) -> nn.Module:
    from hakutaku.hep.models import ARCHITECTURES

    if name in ARCHITECTURES:
        return build_module(name, config)
    user = _hub(hub).user_architectures().get(name)
    if user is None:
        raise LookupError(f"unknown architecture {name!r}; hub.list() shows the known ones")
    return build_module(name, config, builder=user["builder"])


def build_module(name: str, config: dict[str, Any], builder: str | None = None) -> nn.Module:
    """A fresh module of a built-in architecture, or of a registered one from its `builder`
    (`package.module:callable`), with the card's builder keywords."""
    from torch import nn

    from hakutaku.hep.models import build

    if builder is None:
        return build(name, **config)
    module = _resolve(builder)(**config)
    if not isinstance(module, nn.Module):
        raise TypeError(f"{builder} returned {type(module).__name__}, not an nn.Module")
    return module


def _resolve(builder: str) -> Any:
    module_name, _, attr = builder.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise LookupError(f"cannot import builder {builder!r}: {exc}") from exc
    return target


def load_state(module: nn.Module, path: Path) -> None:
    import torch

    if not path.exists():
        raise FileNotFoundError(f"weights file {path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and any(k.startswith("mod.") for k in state):
        from hakutaku.hep.weights import load_weaver_state_dict

        load_weaver_state_dict(module, state)
    else:
        module.load_state_dict(state)
