"""`hai hep train` and `hai hep evaluate`: jet taggers on files in any supported layout.

Data arguments, as a shell user types them: ``--data`` takes one spec and may be repeated,
and every argument that is not an option is data too — so a shell glob after one ``--data``
(``--data data/top/*.root``, which the shell turns into several files) works, as do
``--data a.root b.root c.root``, folders (``--data data/top``: the data files in it), quoted
globs that the program expands (``--data 'data/top/*.root'``) and labelled groups as in
weaver-core (``--data qcd:'data/qcd/*.root' --data top:'data/top/*.root'``: every jet of
those files has that class). See `hakutaku.hep.stream.specs`.

(Click, under Typer, gives an option one value per flag; options cannot take a variable
number of values. Taking the rest as positional arguments needs no parsing of our own and
keeps every other option where the user puts it.)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from hakutaku.hep.jets import JetBatch
    from hakutaku.hep.stream.specs import DataFile

DATA_HELP = (
    "Data: a file (JetClass ROOT, parquet, h5, npz), a folder (its data files), a glob "
    "(quoted, expanded here) or LABEL:PATTERN (a labelled group: LABEL is the class of all "
    "its jets). Repeatable; arguments after it that are not options are data too."
)
DataOpt = Annotated[list[str] | None, typer.Option("--data", help=DATA_HELP, show_default=False)]
MoreData = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="DATA",
        help="More data, as --data (what a shell glob after --data expands to).",
        show_default=False,
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=0,
        help="Processes that read and prepare the data (0: this one). Default: on a GPU one "
        "per core beyond the first, at most 4; on the CPU none (torch's threads use the cores).",
    ),
]
InMemoryOpt = Annotated[
    bool,
    typer.Option(
        "--in-memory/--stream",
        help="Read all the data into memory first (small samples), or stream it from the "
        "files chunk by chunk (the default: memory stays flat however big the data).",
    ),
]


def _error(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _files(data: list[str] | None, more: list[str] | None, what: str = "--data") -> list[DataFile]:
    """The data files the specs name; a clear error (exit 2) when they name none."""
    from hakutaku.hep.stream.specs import DataSpecError, resolve

    specs = [*(data or []), *(more or [])]
    if not specs:
        _error(f"no data given: {what} FILE|FOLDER|'GLOB'|LABEL:'GLOB' (see --help)")
    try:
        return resolve(specs)
    except DataSpecError as exc:
        _error(f"{what}: {exc}")


def _in_memory(
    files: list[DataFile], max_jets: int | None, label_names: Sequence[str] | None = None
) -> JetBatch:
    """All the jets of `files` in one JetBatch (labelled groups keep their labels)."""
    from hakutaku.hep.stream import JetSource

    source = JetSource.open(files, max_jets=max_jets, label_names=label_names, scan=True)
    return source.read_all()


SUBMIT_HELP = (
    "Submit the training as your job on the platform (HAI_URL) with its live dashboard, "
    "print the dashboard's URL and return; OUT and relative paths are then your home's "
    "(paths that exist here are made absolute)."
)
# the options of a submitted training's job, not of the training
_JOB_OPTIONS = ("ctx", "out", "submit", "cpus", "mem", "gpus", "time", "partition")


def train(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="pfn, pcnn, particlenet or part.")],
    out: Annotated[Path, typer.Option(help="Run directory: weights, config, metrics.")],
    data: DataOpt = None,
    more_data: MoreData = None,
    val_data: Annotated[
        list[str] | None,
        typer.Option(
            "--val-data",
            help="Separate validation data (specs as --data; repeat the flag for each, or "
            "quote a glob). Default: --val-fraction of the training data.",
            show_default=False,
        ),
    ] = None,
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
    in_memory: InMemoryOpt = False,
    workers: WorkersOpt = None,
    shuffle_buffer: Annotated[
        int, typer.Option(min=1, help="Jets each reader mixes before batches are drawn.")
    ] = 20_000,
    submit: Annotated[bool, typer.Option("--submit", help=SUBMIT_HELP)] = False,
    cpus: Annotated[int | None, typer.Option(help="With --submit: the job's CPUs.")] = None,
    mem: Annotated[str | None, typer.Option(help="With --submit: memory, e.g. 8G.")] = None,
    gpus: Annotated[str | None, typer.Option(help="With --submit: N or TYPE:N.")] = None,
    time: Annotated[str | None, typer.Option(help="With --submit: e.g. 4:00:00.")] = None,
    partition: Annotated[str | None, typer.Option(help="With --submit.")] = None,
) -> None:
    """Train a tagger; OUT receives model.pt, config.json, metrics.csv/json, checkpoint.pt."""
    from hakutaku.hep.training import TrainConfig
    from hakutaku.hep.training import train as run

    if submit:
        _submit(ctx, str(out), cpus=cpus, mem=mem, gpus=gpus, time=time, partition=partition)
        return
    if any(v is not None for v in (cpus, mem, gpus, time, partition)):
        _error("--cpus, --mem, --gpus, --time and --partition are for --submit")

    if init_weights is not None and not init_weights.exists():
        _error(f"--init-weights {init_weights} does not exist")
    files = _files(data, more_data)
    validation = _files(val_data, None, "--val-data") if val_data else None
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
        num_workers=workers,
        shuffle_buffer=shuffle_buffer,
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
        if in_memory:
            batch = _in_memory(files, max_jets)
            held_out = _in_memory(validation, None, batch.label_names) if validation else None
            run(
                cfg,
                batch,
                out,
                val_data=held_out,
                resume=resume,
                progress=sys.stderr.isatty(),
                on_epoch=report,
            )
        else:
            run(
                cfg,
                files,
                out,
                val_data=validation,
                max_jets=max_jets,
                resume=resume,
                progress=sys.stderr.isatty(),
                on_epoch=report,
            )
    except (ValueError, LookupError) as exc:
        _error(str(exc))
    typer.echo(str(out))


def _submit(ctx: typer.Context, out: str, **resources: str | int | None) -> None:
    """The training's own options as typed, sent as a job with its dashboard."""
    from hakutaku.cli.common import client, platform_errors
    from hakutaku.hep.submit import local_path

    # Typer's parameters (its own copy of Click's): by what they are, not by their class
    args: list[str] = []
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if param.name in _JOB_OPTIONS or value is None or value == param.default:
            continue
        if param.param_type_name == "argument":  # more data, as --data
            for item in value:
                args += ["--data", local_path(item)]
        elif getattr(param, "is_flag", False):
            args.append(param.opts[0] if value else param.secondary_opts[0])
        elif param.multiple:
            for item in value:
                args += [param.opts[0], local_path(item)]
        else:
            args += [param.opts[0], local_path(value)]
    with platform_errors():
        found = client().apps.submit_training(args, out=out, **resources)  # type: ignore[arg-type]
    typer.echo(f"job {found['job']['id']}: training into {out}", err=True)
    typer.echo(found["url"])


def evaluate(
    model_dir: Annotated[Path, typer.Option(help="A `hai hep train` output directory.")],
    data: DataOpt = None,
    more_data: MoreData = None,
    out: Annotated[Path | None, typer.Option(help="Default: MODEL_DIR/evaluation.")] = None,
    max_jets: Annotated[int | None, typer.Option()] = None,
    device: Annotated[str | None, typer.Option()] = None,
    in_memory: InMemoryOpt = False,
    workers: WorkersOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Accuracy, AUC, background rejection at ε_S = 30 % / 50 %, ROC plot and score files."""
    from hakutaku.hep.training import TrainConfig
    from hakutaku.hep.training import evaluate as run

    if not (model_dir / "config.json").is_file():
        _error(f"{model_dir} has no config.json; give a `hai hep train` output")
    files = _files(data, more_data)
    try:
        if in_memory:
            classes = TrainConfig.load(model_dir / "config.json").label_names
            result = run(model_dir, _in_memory(files, max_jets, classes), out, device=device)
        else:
            result = run(
                model_dir, files, out, device=device, max_jets=max_jets, num_workers=workers
            )
    except (ValueError, LookupError) as exc:
        _error(str(exc))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    for key in ("n_jets", "accuracy", "auc", "rejection_at_30", "rejection_at_50"):
        if key in result:
            typer.echo(f"{key:>18}: {result[key]}")
