"""Train and evaluate jet taggers: the library behind `hai hep train|evaluate`.

A run directory holds everything needed to use or resume a model:
  config.json      what was trained (architecture, features, classes, optimiser, data)
  model.pt         the weights (state_dict), written at the end of every epoch
  checkpoint.pt    model + optimiser + scheduler + epoch, for `resume`
  metrics.csv/json one row per epoch (loss, accuracy, AUC on the validation split)
Evaluation adds metrics.json entries, scores.npz and roc.png in its own output folder.

Data: files (paths, folders, globs, ``LABEL:pattern`` groups, or a `JetSource`) are streamed
chunk by chunk by DataLoader workers, with memory bounded whatever their size; a `JetBatch`
already in memory is trained on in memory (see `hakutaku.hep.feeds`).
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hakutaku.hep import metrics
from hakutaku.hep.feeds import (
    Batch,
    Feed,
    InMemoryFeed,
    StreamedFeed,
    batches,
    labels_for,
    present_classes,
    split,
)
from hakutaku.hep.inputs import INPUT_KEYS, to_tensors
from hakutaku.hep.jets import JetBatch
from hakutaku.hep.stream import JetSource, JetStream, default_workers, iterate, loader
from hakutaku.hep.stream.dataset import DEFAULT_BUFFER_JETS, DEFAULT_OPEN_FILES
from hakutaku.hep.stream.source import DEFAULT_CHUNK_JETS
from hakutaku.hep.stream.specs import Spec

# What `train` and `evaluate` accept as data: jets in memory, or files to stream.
Data = JetBatch | JetSource | Spec | Iterable[Spec]

__all__ = [
    "INPUT_KEYS",
    "Data",
    "EpochMetrics",
    "Lookahead",
    "TrainConfig",
    "batches",
    "build_model",
    "evaluate",
    "forward",
    "load_trained",
    "make_optimizer",
    "make_schedule",
    "open_source",
    "pick_device",
    "predict",
    "predict_stream",
    "split",
    "to_tensors",
    "train",
    "validate",
]


@dataclass
class TrainConfig:
    model: str = "particlenet"
    features: str = "kin"
    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.01
    optimizer: str = "ranger"  # "ranger" (RAdam + Lookahead, as weaver) or "adamw"
    schedule: str = "flat+decay"  # weaver's: flat for 70 % of the steps, then exponential decay
    seed: int = 0
    val_fraction: float = 0.2
    length: int = 128
    device: str | None = None
    amp: bool | None = None  # default: on for CUDA
    init_weights: str | None = None
    body_lr_scale: float = 0.1  # with init_weights: the body learns this much slower
    label_names: list[str] = field(default_factory=list)
    n_features: int = 0  # input channels, recorded from the data at training time
    model_options: dict[str, Any] = field(default_factory=dict)
    # Streaming from files (see hakutaku.hep.stream): DataLoader workers (None: on an
    # accelerator one per core beyond the first, at most 4; on the CPU the cores torch's threads
    # leave free), each one's shuffle buffer (jets) and open files, and the jets per chunk that
    # workers share out.
    num_workers: int | None = None
    shuffle_buffer: int = DEFAULT_BUFFER_JETS
    open_files: int = DEFAULT_OPEN_FILES
    chunk_jets: int = DEFAULT_CHUNK_JETS
    data: list[str] = field(default_factory=list)  # the files trained on (recorded)
    val_data: list[str] = field(default_factory=list)  # separate validation files, if any

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in json.loads(path.read_text()).items() if k in known})


# ------------------------------------------------------------------------------- data


def forward(
    model: nn.Module, inputs: dict[str, torch.Tensor], device: torch.device
) -> torch.Tensor:
    return model(*(inputs[k].to(device, non_blocking=True) for k in INPUT_KEYS))


# ------------------------------------------------------------------------------- optimiser


class Lookahead(torch.optim.Optimizer):
    """Lookahead (Zhang et al. 2019) around an inner optimiser; with RAdam this is "Ranger"."""

    def __init__(self, inner: torch.optim.Optimizer, k: int = 6, alpha: float = 0.5) -> None:
        self.inner = inner
        self.k = k
        self.alpha = alpha
        self.steps = 0
        self.param_groups = inner.param_groups
        self.defaults = inner.defaults
        self.state = inner.state
        self.slow = [[p.detach().clone() for p in g["params"]] for g in inner.param_groups]

    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = self.inner.step(closure)
        self.steps += 1
        if self.steps % self.k == 0:
            with torch.no_grad():
                for group, slow in zip(self.inner.param_groups, self.slow, strict=True):
                    for p, s in zip(group["params"], slow, strict=True):
                        s.add_(p - s, alpha=self.alpha)
                        p.copy_(s)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.inner.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict(), "slow": self.slow, "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state["inner"])
        self.slow = state["slow"]
        self.steps = state["steps"]


def make_optimizer(model: nn.Module, cfg: TrainConfig, fine_tune: bool) -> torch.optim.Optimizer:
    if fine_tune:
        from hakutaku.hep.weights import param_groups

        groups = param_groups(model, cfg.body_lr_scale)
        for g in groups:
            g["lr"] = cfg.lr * g.pop("lr_scale", 1.0)
    else:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr": cfg.lr}]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "ranger":
        inner = torch.optim.RAdam(groups, lr=cfg.lr, betas=(0.95, 0.999), eps=1e-5)
        return Lookahead(inner)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}: choose ranger or adamw")


def make_schedule(opt: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int) -> Any:
    inner = opt.inner if isinstance(opt, Lookahead) else opt
    if cfg.schedule == "none":
        return torch.optim.lr_scheduler.LambdaLR(inner, lambda _: 1.0)
    if cfg.schedule == "flat+decay":
        flat = int(0.7 * total_steps)
        decay_steps = max(total_steps - flat, 1)
        # Down to 1 % of the learning rate at the last step, as weaver's flat+decay.
        rate = math.log(0.01) / decay_steps
        return torch.optim.lr_scheduler.LambdaLR(
            inner, lambda step: 1.0 if step < flat else math.exp(rate * (step - flat))
        )
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(inner, T_max=max(total_steps, 1))
    raise ValueError(f"unknown schedule {cfg.schedule!r}: choose flat+decay, cosine or none")


# ------------------------------------------------------------------------------- training


@dataclass
class EpochMetrics:
    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    val_auc: float
    lr: float
    seconds: float
    jets_per_second: float


def pick_device(name: str | None) -> torch.device:
    from hakutaku.hep.models.device import pick_device as pick

    return torch.device(name) if name else pick()


def build_model(cfg: TrainConfig, n_features: int) -> nn.Module:
    from hakutaku.hep.models import build

    return build(
        cfg.model, features=n_features, num_classes=len(cfg.label_names), **cfg.model_options
    )


def open_source(
    data: JetSource | Spec | Iterable[Spec],
    cfg: TrainConfig,
    max_jets: int | None = None,
    scan: bool = False,
) -> JetSource:
    """The files `data` names as a `JetSource` (cut into `cfg.chunk_jets` chunks); `scan`:
    with the classes present and each file's group known (see `JetSource.scan`)."""
    if isinstance(data, JetSource):
        if scan and data.groups is None:
            classes, groups = data.scan()
            data = data.with_groups(groups)
            return data if data.label_names is not None else data.with_classes(classes)
        return data
    return JetSource.open(data, max_jets=max_jets, chunk_jets=cfg.chunk_jets, scan=scan)


def train(
    cfg: TrainConfig,
    data: Data,
    out_dir: str | Path,
    *,
    val_data: Data | None = None,
    max_jets: int | None = None,
    resume: bool = False,
    progress: bool = True,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
) -> list[EpochMetrics]:
    """Train `cfg.model` on `data`, writing into `out_dir`; returns one row per epoch.

    `data`: files to stream (paths, folders, globs, ``LABEL:pattern``, a `JetSource`) or a
    `JetBatch` in memory. Validation: `val_data` if given, else `cfg.val_fraction` of `data`
    (per jet by a hash when streaming, a seeded permutation in memory). `max_jets` keeps the
    first jets of streamed files.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.device)
    feed = _feed(cfg, data, val_data, max_jets, device)
    cfg.label_names = feed.label_names

    model = build_model(cfg, cfg.n_features).to(device)
    fine_tune = cfg.init_weights is not None
    if cfg.init_weights is not None:
        from hakutaku.hep.weights import load_weaver_state_dict

        load_weaver_state_dict(model, cfg.init_weights, exclude_head=True)
    opt = make_optimizer(model, cfg, fine_tune)
    steps_per_epoch = feed.steps_per_epoch()
    sched = make_schedule(opt, cfg, cfg.epochs * steps_per_epoch)
    use_amp = cfg.amp if cfg.amp is not None else device.type == "cuda"
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)
    history: list[EpochMetrics] = []
    start_epoch = 0
    checkpoint = out / "checkpoint.pt"
    if resume and checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history = [EpochMetrics(**m) for m in state["history"]]
        start_epoch = state["epoch"] + 1
    cfg.save(out / "config.json")
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(start_epoch, cfg.epochs):
        started = time.perf_counter()
        model.train()
        total, seen = 0.0, 0
        bar = _progress(progress, steps_per_epoch, f"epoch {epoch + 1}/{cfg.epochs}")
        for x, y in feed.train_batches(epoch):
            y = y.to(device)
            with torch.autocast(device.type, enabled=use_amp):
                loss = loss_fn(forward(model, x, device), y)
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            total += loss.item() * len(y)
            seen += len(y)
            bar.update(1)
        bar.close()
        seconds = time.perf_counter() - started
        val = validate(model, feed.val_batches(), cfg, device, loss_fn)
        row = EpochMetrics(
            epoch=epoch,
            train_loss=total / max(seen, 1),
            val_loss=val["loss"],
            val_accuracy=val["accuracy"],
            val_auc=val["auc"],
            lr=float(opt.param_groups[-1]["lr"]),
            seconds=seconds,
            jets_per_second=seen / seconds if seconds > 0 else 0.0,
        )
        history.append(row)
        torch.save(model.state_dict(), out / "model.pt")
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "epoch": epoch,
                "history": [asdict(h) for h in history],
            },
            checkpoint,
        )
        _write_history(out, history)
        if on_epoch is not None:
            on_epoch(row)
    return history


def _feed(
    cfg: TrainConfig,
    data: Data,
    val_data: Data | None,
    max_jets: int | None,
    device: torch.device,
) -> Feed:
    """The batches to train on: in memory for a JetBatch, else streamed from the files."""
    if isinstance(data, JetBatch):
        if val_data is not None and not isinstance(val_data, JetBatch):
            raise ValueError("with data in memory, give val_data in memory too (a JetBatch)")
        if not cfg.label_names:
            # The classes present, in the data's order: top-vs-QCD jets read from a JetClass
            # file train a two-class tagger, not a ten-class one.
            cfg.label_names = present_classes(data)
        source_files = data.meta.get("source", [])
        cfg.data = [source_files] if isinstance(source_files, str) else list(source_files)
        memory = InMemoryFeed.build(
            data,
            cfg.label_names,
            cfg.features,
            cfg.length,
            cfg.batch_size,
            cfg.val_fraction,
            cfg.seed,
            val_data=val_data,
        )
        cfg.n_features = memory.n_features
        return memory
    from hakutaku.hep.features import n_features

    source = open_source(data, cfg, max_jets, scan=True)
    val_source = None
    if val_data is not None:
        if isinstance(val_data, JetBatch):
            raise ValueError("with streamed data, give val_data as files too")
        val_source = open_source(val_data, cfg)
    if not cfg.label_names:
        cfg.label_names = list(source.label_names or ())
    cfg.data = [str(f) for f in source.files]
    cfg.val_data = [str(f) for f in val_source.files] if val_source is not None else []
    cfg.n_features = n_features(cfg.features)
    return StreamedFeed.build(
        source,
        cfg.label_names,
        cfg.features,
        cfg.length,
        cfg.batch_size,
        cfg.val_fraction,
        cfg.seed,
        val_source=val_source,
        num_workers=cfg.num_workers,
        buffer_jets=cfg.shuffle_buffer,
        open_files=cfg.open_files,
        device=device.type,
    )


def validate(
    model: nn.Module,
    val_batches: Iterable[Batch],
    cfg: TrainConfig,
    device: torch.device,
    loss_fn: nn.Module,
) -> dict[str, float]:
    """Loss, accuracy and (two classes) AUC of the model on the validation batches."""
    probs, y, loss = _predict_batches(model, val_batches, device, loss_fn)
    if len(y) == 0:
        return {"loss": float("nan"), "accuracy": float("nan"), "auc": float("nan")}
    result = {"loss": loss, "accuracy": metrics.accuracy(probs, y), "auc": float("nan")}
    if len(cfg.label_names) == 2 and 0 < y.sum() < len(y):
        result["auc"] = metrics.auc(probs[:, 1], y == 1)
    return result


@torch.no_grad()
def _predict_batches(
    model: nn.Module,
    items: Iterable[Batch],
    device: torch.device,
    loss_fn: nn.Module | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """(softmax probabilities, labels, mean loss) over (inputs, labels) batches."""
    model.eval()
    probs, labels, total, n = [], [], 0.0, 0
    for x, y in items:
        logits = forward(model, x, device).float()
        if loss_fn is not None:
            total += loss_fn(logits, y.to(device)).item() * len(y)
        probs.append(torch.softmax(logits, dim=1).cpu().numpy())
        labels.append(y.numpy())
        n += len(y)
    if not probs:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64), float("nan")
    return np.concatenate(probs), np.concatenate(labels), total / max(n, 1)


@torch.no_grad()
def predict(
    model: nn.Module,
    inputs: dict[str, torch.Tensor],
    batch_size: int,
    device: torch.device,
    labels: torch.Tensor | None = None,
    loss_fn: nn.Module | None = None,
) -> tuple[np.ndarray, float]:
    """Softmax probabilities (n, classes), and the mean loss when labels are given."""
    n = len(inputs["pf_mask"])
    target = labels if labels is not None else torch.zeros(n, dtype=torch.long)
    use_loss = loss_fn if labels is not None else None
    probs, _, loss = _predict_batches(
        model, batches(inputs, target, batch_size, False), device, use_loss
    )
    return probs, loss if n else 0.0


def predict_stream(
    model: nn.Module,
    source: JetSource,
    features: str,
    length: int,
    batch_size: int,
    device: torch.device,
    num_workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probabilities, labels, ids) for every jet of `source`, streamed, in file order; `ids`
    is (n, 2): each jet's file (index into ``source.files``) and entry in it."""
    stream = JetStream(source, features, length, batch_size, shuffle=False)
    workers = default_workers(device.type) if num_workers is None else num_workers
    ids: list[np.ndarray] = []

    def keep_ids() -> Iterable[Batch]:
        for x, y, where in iterate(loader(stream, workers, pin_memory=device.type == "cuda")):
            ids.append(where.numpy())
            yield x, y

    probs, labels, _ = _predict_batches(model, keep_ids(), device)
    where = np.concatenate(ids) if ids else np.zeros((0, 2), np.int64)
    # Workers hand their batches in turn: put the jets back in file order.
    order = np.lexsort((where[:, 1], where[:, 0]))
    return probs[order], labels[order], where[order]


# ------------------------------------------------------------------------------- evaluation


def load_trained(model_dir: str | Path, device: str | None = None) -> tuple[nn.Module, TrainConfig]:
    directory = Path(model_dir)
    cfg = TrainConfig.load(directory / "config.json")
    state = torch.load(directory / "model.pt", map_location="cpu", weights_only=True)
    model = build_model(cfg, cfg.n_features)
    model.load_state_dict(state)
    return model.to(pick_device(device)).eval(), cfg


def evaluate(
    model_dir: str | Path,
    data: Data,
    out_dir: str | Path | None = None,
    device: str | None = None,
    *,
    max_jets: int | None = None,
    num_workers: int | None = None,
) -> dict[str, Any]:
    """Metrics of a trained model on `data`: accuracy, AUC, rejections, ROC plot, scores.

    Files are streamed (scores.npz then also says which file and entry each score is for);
    a `JetBatch` is evaluated in memory. Either way only the scores are kept in memory.
    """
    model, cfg = load_trained(model_dir, device)
    out = Path(out_dir) if out_dir is not None else Path(model_dir) / "evaluation"
    out.mkdir(parents=True, exist_ok=True)
    dev = next(model.parameters()).device
    started = time.perf_counter()
    extra: dict[str, Any] = {}
    if isinstance(data, JetBatch):
        labels = labels_for(data, cfg.label_names).numpy()
        inputs = to_tensors(data, cfg.features, cfg.length)
        started = time.perf_counter()  # in memory: the forward passes only
        probs, _ = predict(model, inputs, cfg.batch_size, dev)
    else:
        source = open_source(data, cfg, max_jets).with_classes(cfg.label_names)
        probs, labels, ids = predict_stream(
            model, source, cfg.features, cfg.length, cfg.batch_size, dev, num_workers
        )
        extra = {
            "file_index": ids[:, 0],
            "entry": ids[:, 1],
            "files": np.array([str(f.path) for f in source.files]),
        }
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {
        "n_jets": len(labels),
        "accuracy": metrics.accuracy(probs, labels),
        "inference_jets_per_second": len(labels) / seconds if seconds > 0 else 0.0,
        "classes": cfg.label_names,
    }
    result.update(_separations(probs, labels, cfg.label_names, out))
    np.savez_compressed(out / "scores.npz", probabilities=probs, labels=labels, **extra)
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    return result


def _separations(
    probs: np.ndarray, labels: np.ndarray, names: list[str], out: Path
) -> dict[str, Any]:
    """Binary metrics: class 1 vs 0 for two classes; each class vs QCD for JetClass-like sets."""
    curves: dict[str, metrics.Roc] = {}
    if len(names) == 2:
        curves[f"{names[1]}_vs_{names[0]}"] = metrics.roc(probs[:, 1], labels == 1)
    elif "QCD" in names:
        bkg = names.index("QCD")
        for i, name in enumerate(names):
            keep = (labels == i) | (labels == bkg)
            if i == bkg or not (labels == i).any() or not (labels == bkg).any():
                continue
            score = metrics.signal_vs_background(probs[keep], i, bkg)
            curves[f"{name}_vs_QCD"] = metrics.roc(score, labels[keep] == i)
    summary = {
        key: {
            "auc": c.auc,
            "rejection_at_30": c.rejection_at(0.30),
            "rejection_at_50": c.rejection_at(0.50),
        }
        for key, c in curves.items()
    }
    if curves:
        _plot_roc(curves, out / "roc.png")
    first = next(iter(summary.values()), {})
    return {**first, "separations": summary}


def _plot_roc(curves: dict[str, metrics.Roc], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for key, c in curves.items():
        keep = c.background_eff > 0
        ax.plot(c.signal_eff[keep], 1 / c.background_eff[keep], label=f"{key} (AUC {c.auc:.4f})")
    ax.set_yscale("log")
    ax.set_xlabel("signal efficiency ε_S")
    ax.set_ylabel("background rejection 1/ε_B")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------------- helpers


def _write_history(out: Path, history: list[EpochMetrics]) -> None:
    rows = [asdict(h) for h in history]
    (out / "metrics.json").write_text(json.dumps(rows, indent=2))
    with open(out / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(enabled: bool, total: int, desc: str) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="batch", leave=False)
