"""Jet-tagging benchmark: PFN, P-CNN, ParticleNet and ParT on generated top-vs-QCD jets.

One run:

1. makes (or reuses) `--jets-per-class` top and QCD jets with `hakutaku.hep.generation.generate`
   (Pythia 8 + FastJet, TopLandscape-like cuts: anti-kT R = 0.8, 550 <= pT < 650 GeV,
   |eta| < 2; multiparton interactions off by default, as in the TopLandscape sample), in
   chunk files under `--data-dir` that a later run reuses, resumes or extends;
2. splits each class 60/20/20 into train/validation/test (the same split for every model);
3. trains each model with `hakutaku.hep.training.train` and the same recipe and budget
   (`--epochs N`, or `--minutes-per-model M`: the epochs, or for a short budget the number of
   training jets, that fit in M minutes at the throughput measured just before) and evaluates
   it on the test jets with `hakutaku.hep.training.evaluate`;
4. prints the results beside the published TopLandscape table of the ParT paper, with the
   training and inference jets/s on this machine;
5. times training steps of ParticleNet and ParT here against the reference implementation,
   weaver-core (`pip install --no-deps weaver-core`), built with the same configuration (the
   same parameter count), on the same input batches, alternately in this process.

This is a benchmark, not a test: it prints numbers and exits 0 unless something failed.

    .venv/bin/python bench/jet_tagging.py --quick                 # smoke run, a few minutes
    .venv/bin/python bench/jet_tagging.py --minutes-per-model 60  # the full run
    .venv/bin/python bench/jet_tagging.py --epochs 20 --device cuda --json out.json
    .venv/bin/python bench/jet_tagging.py --compare-only --compare-steps 5 --compare-batch-size 64

Generator-level jets (no detector simulation, no pile-up) are easier to tell apart than the
Delphes-simulated jets of the published TopLandscape dataset, which the published models
trained on 1.2 M of: compare the models' order, not the values. Results and how they were
obtained: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hakutaku.hep.formats import read
from hakutaku.hep.generation import generate
from hakutaku.hep.jets import JetBatch
from hakutaku.hep.models import build, count_parameters, describe_device, pick_device
from hakutaku.hep.training import (
    INPUT_KEYS,
    TrainConfig,
    evaluate,
    make_optimizer,
    to_tensors,
    train,
)

MODELS = ("pfn", "pcnn", "particlenet", "part")
TITLES = {"pfn": "PFN", "pcnn": "P-CNN", "particlenet": "ParticleNet", "part": "ParT"}
QUICK_MODELS = ("pfn", "part")
COMPARED = ("particlenet", "part")
FEATURES = "kin"  # TopLandscape has no particle identification: ParT's top_kin inputs
LENGTH = 128

# The Top Quark Tagging Landscape dataset (Kasieczka et al., arXiv:1902.09914; Delphes ATLAS
# card), as reported in "Particle Transformer for Jet Tagging" (Qu, Li, Qian, ICML 2022,
# arXiv:2202.03772), Table 4, models trained from scratch on that dataset:
# (accuracy, AUC, 1/eps_B at eps_S = 50 %, 1/eps_B at eps_S = 30 %).
PUBLISHED = {
    "part": (0.940, 0.9858, "413 ± 16", "1602 ± 81"),
    "particlenet": (0.940, 0.9858, "397 ± 7", "1615 ± 93"),
    "pfn": (0.932, 0.9819, "247 ± 3", "888 ± 17"),
    "pcnn": (0.930, 0.9803, "201 ± 4", "759 ± 24"),
}
PUBLISHED_SOURCE = (
    "ParT paper (arXiv:2202.03772) Table 4, TopLandscape test set (Delphes-simulated jets)"
)
EASIER_NOTE = (
    "These jets are generator-level (Pythia 8 hadrons, no detector simulation, no pile-up); the "
    "published ones went through Delphes (calorimeter and tracker smearing, particle-flow "
    "objects). Generator-level jets are easier to separate, so with as much training the "
    "values here would be higher than published; the published models trained on 1.2 M jets, "
    "far more than here. Compare the order of the models, not the numbers."
)

# Starting learning rates of ParT's train_TopLandscape.sh (Ranger, flat + decay), per model.
# Its batch sizes (512; 4096 for PFN and P-CNN) suit its 1.2 M training jets, not a few ten
# thousand, so one batch size (--batch-size) is used for every model here.
PUBLISHED_LR = {"pfn": 2e-2, "pcnn": 2e-2, "particlenet": 1e-2, "part": 1e-3}

WEAVER_INSTALL = ".venv/bin/pip install --no-deps weaver-core"
# weaver's SequenceTrimmer does not trim during its first 5 forward calls: warm up past them.
DEFAULT_WARMUP = 6


# ------------------------------------------------------------------------------- helpers


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return {
        "cpu": cpu,
        "cores": cores,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": _loadavg(),
    }


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


def fmt_rejection(value: float | None, n_background: int) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return f"> {n_background}"  # no background jet passed: only a lower bound
    return f"{value:.0f}"


# ------------------------------------------------------------------------------- data


def ensure_jets(args: argparse.Namespace) -> dict[str, list[Path]]:
    """Generate (or reuse) whole chunks of top and QCD jets; returns the files per process."""
    chunk = args.chunk_size
    n_chunks = math.ceil(args.jets_per_class / chunk)
    # Chunk files are reusable only with the same physics settings and chunk size; keep each
    # combination in its own folder so that runs never collide.
    folder = args.data_dir / f"{'mpi' if args.mpi else 'nompi'}-chunk{chunk}-seed{args.seed}"
    files = {}
    for process in ("ttbar", "qcd"):
        started = time.perf_counter()
        report = generate(
            process,
            n_chunks * chunk,
            args.seed,
            folder,
            "root",
            chunk_size=chunk,
            workers=args.workers,
            mpi=args.mpi,
            progress=sys.stderr.isatty(),
        )
        seconds = time.perf_counter() - started
        made = f"{report.njets} made in {seconds:.0f} s" if report.generated else "all reused"
        log(f"{process}: {len(report.files)} chunk(s) in {folder} ({made})")
        files[process] = report.files
    return files


def split_jets(
    files: dict[str, list[Path]], per_class: int, seed: int
) -> tuple[JetBatch, JetBatch, dict[str, int]]:
    """(train + validation, test) with 60/20/20 per class; train() splits off validation."""
    rng = np.random.default_rng(seed)
    develop, test = [], []
    for process in ("ttbar", "qcd"):
        batch = read([str(p) for p in files[process]], max_jets=per_class)
        order = rng.permutation(len(batch))
        n_test = round(0.2 * len(batch))
        test.append(batch.select(np.sort(order[:n_test])))
        develop.append(batch.select(np.sort(order[n_test:])))
    dev, held_out = JetBatch.concat(develop), JetBatch.concat(test)
    counts = {
        "train": round(0.75 * len(dev)),
        "validation": len(dev) - round(0.75 * len(dev)),
        "test": len(held_out),
        "test_background": int((held_out.labels == held_out.label_names.index("QCD")).sum()),
    }
    return dev, held_out, counts


# ------------------------------------------------------------------------------- training


@dataclass
class ModelResult:
    model: str
    parameters: int
    lr: float = 0.0
    epochs: int = 0
    train_jets: int = 0  # jets per epoch
    train_seconds: float = 0.0  # wall time of train(), validation included
    train_jets_per_second: float = 0.0  # training steps only
    inference_jets_per_second: float = 0.0
    accuracy: float | None = None
    auc: float | None = None
    rejection_at_50: float | None = None
    rejection_at_30: float | None = None
    val_auc: list[float] = field(default_factory=list)
    note: str = ""


def train_step_rate(
    name: str, cfg: TrainConfig, dev: JetBatch, device: torch.device, steps: int = 3
) -> float:
    """Training jets/s of the library's model and optimiser, from a few steps after a warm-up."""
    n = min(len(dev), cfg.batch_size * (steps + 1))
    sample = dev.select(np.arange(len(dev))[:: max(1, len(dev) // n)][:n])
    inputs = {k: v.to(device) for k, v in to_tensors(sample, cfg.features, cfg.length).items()}
    is_top = sample.labels == sample.label_names.index("Tbqq")
    labels = torch.from_numpy(is_top).long().to(device)
    model = build(name, features=cfg.features, num_classes=2).to(device).train()
    opt = make_optimizer(model, cfg, fine_tune=False)
    loss_fn = nn.CrossEntropyLoss()
    batches = [
        (
            {k: v[i : i + cfg.batch_size] for k, v in inputs.items()},
            labels[i : i + cfg.batch_size],
        )
        for i in range(0, n, cfg.batch_size)
    ]

    def step(x: dict[str, torch.Tensor], y: torch.Tensor) -> None:
        loss = loss_fn(model(*(x[k] for k in INPUT_KEYS)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step(*batches[0])
    synchronize(device)
    started = time.perf_counter()
    jets = 0
    for x, y in batches[1:] or batches:
        step(x, y)
        jets += len(y)
    synchronize(device)
    return jets / (time.perf_counter() - started)


def plan_budget(
    rate: float, minutes: float, n_train: int, max_epochs: int, batch_size: int
) -> tuple[int, int]:
    """(epochs, training jets per epoch) that fit in `minutes` at `rate` training jets/s.

    Validation costs about a ninth of an epoch (a third of the jets, forward only), so 85 % of
    the budget goes to training steps. A budget shorter than one epoch trains one epoch on the
    jets that fit (at least two batches).
    """
    fit = rate * minutes * 60 * 0.85
    if fit >= n_train:
        return max(1, min(max_epochs, int(fit // n_train))), n_train
    return 1, max(2 * batch_size, int(fit))


def run_model(
    name: str,
    dev: JetBatch,
    test: JetBatch,
    args: argparse.Namespace,
    device: torch.device,
    out: Path,
) -> ModelResult:
    cfg = TrainConfig(
        model=name,
        features=FEATURES,
        batch_size=args.batch_size,
        lr=args.lr or PUBLISHED_LR[name],
        optimizer=args.optimizer,
        val_fraction=0.25,
        length=LENGTH,
        device=str(device),
        seed=args.seed,
    )
    result = ModelResult(
        name, count_parameters(build(name, features=FEATURES, num_classes=2)), lr=cfg.lr
    )
    n_train = round(0.75 * len(dev))
    data = dev
    if args.epochs:
        cfg.epochs = args.epochs
        result.train_jets = n_train
    else:
        rate = train_step_rate(name, cfg, dev, device)
        cfg.epochs, result.train_jets = plan_budget(
            rate, args.minutes_per_model, n_train, args.max_epochs, args.batch_size
        )
        if result.train_jets < n_train:
            # Keep train:validation at 3:1 on a random subset of the jets.
            keep = min(len(dev), math.ceil(result.train_jets / 0.75))
            pick = np.random.default_rng(args.seed).permutation(len(dev))[:keep]
            data = dev.select(np.sort(pick))
            result.train_jets = round(0.75 * keep)
            result.note = f"{result.train_jets} of {n_train} training jets fit the budget"
        log(
            f"{TITLES[name]}: {rate:.1f} training jets/s measured; {args.minutes_per_model:g} "
            f"min -> {cfg.epochs} epoch(s) of {result.train_jets} jets"
        )
    deadline = time.perf_counter() + 1.5 * 60 * (args.minutes_per_model or math.inf)

    class OverBudget(Exception):
        pass

    def on_epoch(row: Any) -> None:
        log(
            f"  {TITLES[name]} epoch {row.epoch + 1}/{cfg.epochs}: train loss "
            f"{row.train_loss:.4f}, val AUC {row.val_auc:.4f}, {row.jets_per_second:.1f} jets/s"
        )
        if time.perf_counter() > deadline and row.epoch + 1 < cfg.epochs:
            raise OverBudget

    run_dir = out / name
    started = time.perf_counter()
    try:
        train(cfg, data, run_dir, progress=sys.stderr.isatty(), on_epoch=on_epoch)
    except OverBudget:
        result.note = (result.note + "; " if result.note else "") + "stopped: over budget"
    result.train_seconds = time.perf_counter() - started
    history = json.loads((run_dir / "metrics.json").read_text())
    result.epochs = len(history)
    steps_seconds = sum(h["seconds"] for h in history)
    seen = sum(h["jets_per_second"] * h["seconds"] for h in history)
    result.train_jets_per_second = seen / steps_seconds if steps_seconds > 0 else 0.0
    result.val_auc = [round(h["val_auc"], 5) for h in history]
    metrics = evaluate(run_dir, test, run_dir / "test", device=str(device))
    result.accuracy = metrics.get("accuracy")
    result.auc = metrics.get("auc")
    result.rejection_at_50 = metrics.get("rejection_at_50")
    result.rejection_at_30 = metrics.get("rejection_at_30")
    result.inference_jets_per_second = metrics["inference_jets_per_second"]
    return result


def print_results(results: list[ModelResult], counts: dict[str, int], budget: str) -> None:
    nb = counts["test_background"]
    print()
    print(
        f"Top vs QCD, {counts['train']} train / {counts['validation']} validation / "
        f"{counts['test']} test jets ({nb} QCD in the test set); budget: {budget}"
    )
    head = (
        f"{'model':<12}{'params':>10}{'lr':>7}{'epochs':>7}{'train j/s':>11}{'infer j/s':>11}"
        f"{'acc':>8}{'AUC':>9}{'1/eB@50%':>10}{'1/eB@30%':>10}  |  published: "
        f"{'acc':>6}{'AUC':>8}{'1/eB@50%':>10}{'1/eB@30%':>11}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        pub = PUBLISHED[r.model]
        acc = f"{r.accuracy:.4f}" if r.accuracy is not None else "-"
        auc = f"{r.auc:.4f}" if r.auc is not None else "-"
        print(
            f"{TITLES[r.model]:<12}{r.parameters:>10,}{r.lr:>7.0e}{r.epochs:>7}"
            f"{r.train_jets_per_second:>11.1f}{r.inference_jets_per_second:>11.1f}"
            f"{acc:>8}{auc:>9}{fmt_rejection(r.rejection_at_50, nb):>10}"
            f"{fmt_rejection(r.rejection_at_30, nb):>10}  |  {'':>11}"
            f"{pub[0]:>6.3f}{pub[1]:>8.4f}{pub[2]:>10}{pub[3]:>11}"
        )
    print(f"published: {PUBLISHED_SOURCE}.")
    print(f"note: {EASIER_NOTE}")
    print(
        f"note: with {nb} QCD jets in the test set, a rejection above {nb} cannot be measured "
        "('> N'), and one of a few hundred has a statistical error of tens of percent."
    )
    for r in results:
        if r.note:
            print(f"note: {TITLES[r.model]}: {r.note}")


# ------------------------------------------------------------------------------- weaver-core


def weaver_factories(
    amp: bool = False,
) -> tuple[dict[str, Callable[[int, int], nn.Module]] | None, str]:
    """Builders of weaver-core's ParticleNet and ParT with the library's default (published)
    configuration, or None and the reason weaver-core cannot be used."""
    try:
        import weaver  # noqa: F401
        from weaver.nn.model.ParticleNet import ParticleNet
        from weaver.nn.model.ParticleTransformer import ParticleTransformer
    except Exception as exc:
        return None, f"weaver-core is not importable ({type(exc).__name__}: {exc})"
    logging.getLogger("weaver").setLevel(logging.WARNING)
    try:
        from importlib.metadata import version

        ver = version("weaver-core")
    except Exception:
        ver = "unknown"

    # The configurations of jet-universe/particle_transformer's networks/example_*.py.
    def particlenet(features: int, classes: int) -> nn.Module:
        return ParticleNet(
            features,
            classes,
            conv_params=[(16, (64, 64, 64)), (16, (128, 128, 128)), (16, (256, 256, 256))],
            fc_params=[(256, 0.1)],
            use_fusion=False,
            use_fts_bn=True,
            use_counts=True,
            for_inference=False,
            use_amp=amp,  # weaver moves padded points to 99 instead of 1e9 under AMP
        )

    def part(features: int, classes: int) -> nn.Module:
        return ParticleTransformer(
            features,
            classes,
            pair_input_dim=4,
            use_pre_activation_pair=False,
            embed_dims=[128, 512, 128],
            pair_embed_dims=[64, 64, 64],
            num_heads=8,
            num_layers=8,
            num_cls_layers=2,
            block_params=None,
            cls_block_params={"dropout": 0, "attn_dropout": 0, "activation_dropout": 0},
            fc_params=[],
            activation="gelu",
            trim=True,
            for_inference=False,
            use_amp=amp,
        )

    return {"particlenet": particlenet, "part": part}, ver


def _weaver_call(name: str, model: nn.Module, x: dict[str, torch.Tensor]) -> torch.Tensor:
    if name == "particlenet":
        return model(x["pf_points"], x["pf_features"], x["pf_mask"])
    return model(x["pf_features"], v=x["pf_vectors"], mask=x["pf_mask"])


@dataclass
class Comparison:
    model: str
    parameters_ours: int
    parameters_weaver: int
    ours_jets_per_second: list[float]
    weaver_jets_per_second: list[float]
    # jets per CPU-second of this process (all threads): less sensitive than wall time to
    # other work on a shared machine
    ours_jets_per_cpu_second: list[float] = field(default_factory=list)
    weaver_jets_per_cpu_second: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(self.ours_jets_per_second) / statistics.median(
            self.weaver_jets_per_second
        )

    @property
    def cpu_ratio(self) -> float:
        return statistics.median(self.ours_jets_per_cpu_second) / statistics.median(
            self.weaver_jets_per_cpu_second
        )


def compare_weaver(
    dev: JetBatch, args: argparse.Namespace, device: torch.device
) -> tuple[list[Comparison], str]:
    """Training steps/s of our ParticleNet and ParT against weaver-core's, alternately."""
    amp = args.amp if args.amp is not None else device.type == "cuda"
    factories, info = weaver_factories(amp)
    if factories is None:
        return [], info
    batch, steps = args.compare_batch_size, args.compare_steps
    g = torch.Generator().manual_seed(args.seed)
    need = batch * (steps + args.warmup)
    index = torch.randint(len(dev), (need,), generator=g).numpy()
    sample = dev.select(index)
    inputs = {k: v.to(device) for k, v in to_tensors(sample, FEATURES, LENGTH).items()}
    labels = torch.from_numpy(sample.labels == sample.label_names.index("Tbqq")).long().to(device)
    chunks = [
        ({k: v[i : i + batch] for k, v in inputs.items()}, labels[i : i + batch])
        for i in range(0, need, batch)
    ]
    warm, timed = chunks[: args.warmup], chunks[args.warmup :]
    loss_fn = nn.CrossEntropyLoss()
    results = []
    for name in COMPARED:
        if name not in args.compare_models:
            continue
        torch.manual_seed(args.seed)
        ours = build(name, features=FEATURES, num_classes=2).to(device).train()
        torch.manual_seed(args.seed)
        theirs = factories[name](7, 2).to(device).train()
        if args.weaver_trim_longest:
            # weaver trims a training batch to a random 90-100 % quantile of its jets' sizes
            # (dropping particles of its largest jets); (1, 1) keeps them all, as ours does.
            theirs.trimmer.target = (1.0, 1.0)
        runners = {}
        for label, model, call in (
            ("ours", ours, lambda m, x: m(*(x[k] for k in INPUT_KEYS))),
            ("weaver", theirs, lambda m, x, n=name: _weaver_call(n, m, x)),
        ):
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

            def run(batches, model=model, call=call, opt=opt) -> tuple[float, float]:
                synchronize(device)
                started, cpu = time.perf_counter(), time.process_time()
                for x, y in batches:
                    with torch.autocast(device.type, enabled=amp):
                        loss = loss_fn(call(model, x).float(), y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                synchronize(device)
                jets = sum(len(y) for _, y in batches)
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
                return jets / wall, jets / cpu

            runners[label] = run
        for run in runners.values():
            run(warm)
        rates: dict[str, list[float]] = {"ours": [], "weaver": []}
        per_cpu: dict[str, list[float]] = {"ours": [], "weaver": []}
        for repeat in range(args.compare_repeats):
            order = ("ours", "weaver") if repeat % 2 == 0 else ("weaver", "ours")
            for label in order:
                wall_rate, cpu_rate = runners[label](timed)
                rates[label].append(wall_rate)
                per_cpu[label].append(cpu_rate)
            log(
                f"{TITLES[name]} repeat {repeat + 1}: ours {rates['ours'][-1]:.1f} jets/s, "
                f"weaver-core {rates['weaver'][-1]:.1f} jets/s"
            )
        results.append(
            Comparison(
                name,
                count_parameters(ours),
                count_parameters(theirs),
                [round(r, 2) for r in rates["ours"]],
                [round(r, 2) for r in rates["weaver"]],
                [round(r, 3) for r in per_cpu["ours"]],
                [round(r, 3) for r in per_cpu["weaver"]],
            )
        )
        del ours, theirs, runners
    return results, info


def print_comparison(
    results: list[Comparison], info: str, args: argparse.Namespace, device: torch.device
) -> None:
    print()
    if not results:
        print(f"Training throughput vs weaver-core: not measured: {info}")
        print(f"  install it with: {WEAVER_INSTALL}")
        return
    amp = args.amp if args.amp is not None else device.type == "cuda"
    print(
        f"Training throughput vs weaver-core {info} (same configuration and parameter count, "
        f"same batches): {args.compare_steps} steps x batch {args.compare_batch_size} after "
        f"{args.warmup} warm-up steps, {args.compare_repeats} alternating repeats, AdamW, "
        f"{FEATURES} inputs ({LENGTH} slots), {'AMP' if amp else 'float32'}, "
        f"{describe_device(device)}, {torch.get_num_threads()} threads; weaver trims to "
        + ("the longest jet" if args.weaver_trim_longest else "its random 90-100 % quantile")
    )
    head = (
        f"{'model':<12}{'params':>11}{'ours j/s':>11}{'weaver j/s':>12}{'ours/weaver':>13}"
        f"{'per CPU-s':>11}"
    )
    print(head + "   jets/s per repeat (ours / weaver)")
    print("-" * (len(head) + 30))
    for c in results:
        params = f"{c.parameters_ours:,}" + (
            "" if c.parameters_ours == c.parameters_weaver else "*"
        )
        pairs = ", ".join(
            f"{a:.1f}/{b:.1f}"
            for a, b in zip(c.ours_jets_per_second, c.weaver_jets_per_second, strict=True)
        )
        print(
            f"{TITLES[c.model]:<12}{params:>11}{statistics.median(c.ours_jets_per_second):>11.1f}"
            f"{statistics.median(c.weaver_jets_per_second):>12.1f}{c.ratio:>13.2f}"
            f"{c.cpu_ratio:>11.2f}   {pairs}"
        )
    print(
        "jets/s are medians over the repeats and ours/weaver the ratio of the medians (wall "
        "clock); 'per CPU-s' is the same ratio of jets per CPU-second of this process."
    )
    if any(c.parameters_ours != c.parameters_weaver for c in results):
        print("* parameter counts differ: the comparison is not like for like")


# ------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    home = Path(os.environ.get("HAI_HOME") or Path.home() / ".hakutaku")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 300 jets per class, 1 epoch, "
        f"{' and '.join(QUICK_MODELS)}, 5 comparison steps x batch 64",
    )
    ap.add_argument("--jets-per-class", type=int, default=None, help="default 20000 (quick: 300)")
    ap.add_argument(
        "--mpi",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="multiparton interactions (default off, as the TopLandscape sample)",
    )
    ap.add_argument(
        "--data-dir",
        type=Path,
        default=home / "bench" / "jets",
        help="where generated jets are kept and reused (default: %(default)s)",
    )
    ap.add_argument("--seed", type=int, default=1, help="generation, split and training seed")
    ap.add_argument("--workers", type=int, default=None, help="generation processes")
    ap.add_argument("--chunk-size", type=int, default=None, help="jets per chunk (1000; quick 100)")
    budget = ap.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, default=None, help="epochs per model")
    budget.add_argument(
        "--minutes-per-model",
        type=float,
        default=None,
        help="training time per model (default 20 unless --epochs)",
    )
    ap.add_argument("--max-epochs", type=int, default=30, help="cap with --minutes-per-model")
    ap.add_argument("--models", default=None, help=f"comma list (default {','.join(MODELS)})")
    ap.add_argument("--batch-size", type=int, default=None, help="training batch (256; quick 64)")
    ap.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate for every model (default: ParT's TopLandscape recipe per model: "
        "PFN, P-CNN 2e-2, ParticleNet 1e-2, ParT 1e-3)",
    )
    ap.add_argument("--optimizer", default="ranger", choices=("ranger", "adamw"))
    ap.add_argument("--device", default=None, help="cpu, cuda, npu... (default: the best here)")
    ap.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mixed precision (default: on for CUDA)",
    )
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--out", type=Path, default=None, help="run directories (default: a temp dir)")
    ap.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    ap.add_argument(
        "--time-limit",
        type=float,
        default=24 * 60,
        help="minutes; models not started by then are skipped (default 1 day)",
    )
    comp = ap.add_argument_group("comparison with weaver-core")
    comp.add_argument("--no-compare", action="store_true", help="skip the weaver-core comparison")
    comp.add_argument("--compare-only", action="store_true", help="only the comparison")
    comp.add_argument("--compare-steps", type=int, default=None, help="timed steps (20; quick 5)")
    comp.add_argument("--compare-batch-size", type=int, default=None, help="128 (quick 64)")
    comp.add_argument("--compare-repeats", type=int, default=3)
    comp.add_argument(
        "--warmup",
        type=int,
        default=DEFAULT_WARMUP,
        help="untimed steps first (weaver's trimmer starts after 5)",
    )
    comp.add_argument("--compare-models", default=",".join(COMPARED))
    comp.add_argument(
        "--weaver-trim-longest",
        action="store_true",
        help="weaver keeps every particle of the longest jet, as ours (default: its own "
        "random 90-100 %% quantile)",
    )
    args = ap.parse_args(argv)
    q = args.quick
    args.jets_per_class = args.jets_per_class or (300 if q else 20000)
    args.chunk_size = args.chunk_size or (100 if q else 1000)
    args.batch_size = args.batch_size or (64 if q else 256)
    args.compare_steps = args.compare_steps or (5 if q else 20)
    args.compare_batch_size = args.compare_batch_size or (64 if q else 128)
    if args.epochs is None and args.minutes_per_model is None:
        if q:
            args.epochs = 1
        else:
            args.minutes_per_model = 20.0
    models = args.models.split(",") if args.models else list(QUICK_MODELS if q else MODELS)
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        ap.error(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    args.models = models
    args.compare_models = args.compare_models.split(",")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    device = pick_device(args.device)
    info = machine()
    info["device"] = describe_device(device)
    log(
        f"device: {info['device']}; CPU: {info['cpu']} x {info['cores']}, torch "
        f"{info['torch']} ({info['torch_threads']} threads), load average {info['load_average']}"
    )
    files = ensure_jets(args)
    dev, test, counts = split_jets(files, args.jets_per_class, args.seed)
    out_root = args.out or Path(tempfile.mkdtemp(prefix="hai-bench-jets-"))
    budget = (
        f"{args.epochs} epoch(s)" if args.epochs else f"{args.minutes_per_model:g} min per model"
    )
    lr = f"lr {args.lr:g}" if args.lr else "lr per model as published"
    budget += f", batch {args.batch_size}, {args.optimizer}, {lr}, {FEATURES} inputs"
    results: list[ModelResult] = []
    skipped: list[str] = []
    if not args.compare_only:
        for name in args.models:
            if time.perf_counter() - started > args.time_limit * 60:
                skipped.append(name)
                continue
            log(f"training {TITLES[name]} ...")
            results.append(run_model(name, dev, test, args, device, out_root))
        print_results(results, counts, budget)
        if skipped:
            print(f"skipped (over --time-limit): {', '.join(TITLES[n] for n in skipped)}")
    comparisons: list[Comparison] = []
    weaver_info = "not run"
    if not args.no_compare:
        comparisons, weaver_info = compare_weaver(dev, args, device)
        print_comparison(comparisons, weaver_info, args, device)
    info["load_average_end"] = _loadavg()
    print(
        f"\nrun directories: {out_root}; {time.perf_counter() - started:.0f} s in all; "
        f"load average {info['load_average']} -> {info['load_average_end']}"
    )
    if args.json:
        payload = {
            "machine": info,
            "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "counts": counts,
            "budget": budget,
            "results": [asdict(r) for r in results],
            "skipped": skipped,
            "published": {
                "source": PUBLISHED_SOURCE,
                "note": EASIER_NOTE,
                "rows": {
                    m: dict(zip(("accuracy", "auc", "rej50", "rej30"), v, strict=True))
                    for m, v in PUBLISHED.items()
                },
            },
            "weaver": {
                "info": weaver_info,
                "results": [
                    {**asdict(c), "ratio": c.ratio, "cpu_ratio": c.cpu_ratio} for c in comparisons
                ],
            },
            "seconds": time.perf_counter() - started,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
