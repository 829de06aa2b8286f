"""`hai hep train` and `hai hep evaluate`: jet taggers on files in any supported layout."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

DataOpt = Annotated[
    list[Path], typer.Option("--data", help="Input files (repeatable): JetClass ROOT, h5, npz…")
]


def _read(paths: list[Path], max_jets: int | None) -> object:
    from hakutaku.hep.formats import read

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        typer.echo(f"error: no such data file: {', '.join(missing)}", err=True)
        raise typer.Exit(2)
    return read([str(p) for p in paths], max_jets=max_jets)


def train(
    model: Annotated[str, typer.Option(help="pfn, pcnn, particlenet or part.")],
    data: DataOpt,
    out: Annotated[Path, typer.Option(help="Run directory: weights, config, metrics.")],
    epochs: Annotated[int, typer.Option()] = 10,
    features: Annotated[str, typer.Option(help="kin, kinpid, full, top_kin, qg_kinpid…")] = "kin",
    batch_size: Annotated[int, typer.Option()] = 256,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-3,
    optimizer: Annotated[str, typer.Option(help="ranger or adamw.")] = "ranger",
    schedule: Annotated[str, typer.Option(help="flat+decay, cosine or none.")] = "flat+decay",
    init_weights: Annotated[
        Path | None, typer.Option(help="Fine-tune from these weights (new head).")
    ] = None,
    body_lr_scale: Annotated[float, typer.Option(help="Body LR / head LR when fine-tuning.")] = 0.1,
    val_fraction: Annotated[float, typer.Option()] = 0.2,
    max_jets: Annotated[int | None, typer.Option(help="Use at most this many jets.")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, … (default: best found).")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.pt.")] = False,
) -> None:
    """Train a tagger; OUT receives model.pt, config.json, metrics.csv/json, checkpoint.pt."""
    from hakutaku.hep.training import TrainConfig
    from hakutaku.hep.training import train as run

    if init_weights is not None and not init_weights.exists():
        typer.echo(f"error: --init-weights {init_weights} does not exist", err=True)
        raise typer.Exit(2)
    batch = _read(data, max_jets)
    cfg = TrainConfig(
        model=model,
        features=features,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        schedule=schedule,
        init_weights=str(init_weights) if init_weights else None,
        body_lr_scale=body_lr_scale,
        val_fraction=val_fraction,
        device=device,
        seed=seed,
    )

    def report(row: object) -> None:
        r = row.__dict__
        typer.echo(
            f"epoch {r['epoch'] + 1}: train loss {r['train_loss']:.4f}  val loss "
            f"{r['val_loss']:.4f}  acc {r['val_accuracy']:.4f}  auc {r['val_auc']:.4f}  "
            f"{r['jets_per_second']:.0f} jets/s",
            err=True,
        )

    try:
        run(cfg, batch, out, resume=resume, progress=sys.stderr.isatty(), on_epoch=report)
    except (ValueError, LookupError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(str(out))


def evaluate(
    model_dir: Annotated[Path, typer.Option(help="A `hai hep train` output directory.")],
    data: DataOpt,
    out: Annotated[Path | None, typer.Option(help="Default: MODEL_DIR/evaluation.")] = None,
    max_jets: Annotated[int | None, typer.Option()] = None,
    device: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Accuracy, AUC, background rejection at ε_S = 30 % / 50 %, ROC plot and score files."""
    from hakutaku.hep.training import evaluate as run

    if not (model_dir / "config.json").is_file():
        typer.echo(
            f"error: {model_dir} has no config.json; give a `hai hep train` output", err=True
        )
        raise typer.Exit(2)
    result = run(model_dir, _read(data, max_jets), out, device=device)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    for key in ("n_jets", "accuracy", "auc", "rejection_at_30", "rejection_at_50"):
        if key in result:
            typer.echo(f"{key:>18}: {result[key]}")
