"""`hakutaku.hep.submit_training`: a training as a platform job, with its live dashboard.

    from hakutaku import hep
    url = hep.submit_training("particlenet", data="jets/", epochs=20, gpus="1")
    # open url in the portal: loss, accuracy and AUC per epoch as they finish

Why not `model.train(...)`: `hub.load()` gives a plain `torch.nn.Module`, and
`Module.train(mode=True)` is PyTorch's own (it switches dropout and batch norm on; torch
calls it everywhere). A submission is a different thing, so it has its own name.

This is an HTTP call to the platform (`hakutaku.sdk`), never the server's code: the training
runs as `hai hep train` in a job of yours, with the same policy, limits and accounting.
"""

from __future__ import annotations

import time as clock
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hakutaku.sdk.client import Client

DataArg = str | Path | Sequence[str | Path]


def training_args(model: str, data: DataArg, epochs: int, **options: object) -> list[str]:
    """`hai hep train` arguments: `batch_size=64` is `--batch-size 64`, `in_memory=True` is
    `--in-memory`, a list repeats its flag (`val_data=[...]`). Paths that exist here are made
    absolute, since the job starts in your home, not in this directory."""
    args = ["--model", model, "--epochs", str(epochs)]
    for spec in _many(data):
        args += ["--data", local_path(spec)]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            args.append(flag)
        elif isinstance(value, list | tuple):
            for item in value:
                args += [flag, local_path(item)]
        else:
            args += [flag, local_path(value)]
    return args


def _many(data: DataArg) -> list[str | Path]:
    return [data] if isinstance(data, str | Path) else list(data)


def local_path(value: object) -> str:
    text = str(value)
    return str(Path(text).absolute()) if Path(text).exists() else text


def submit_training(
    model: str,
    data: DataArg,
    *,
    epochs: int = 10,
    out: str | None = None,
    cpus: int | None = None,
    mem: str | None = None,
    gpus: str | None = None,
    time: str | None = None,
    partition: str | None = None,
    client: Client | None = None,
    **options: object,
) -> str:
    """Submit `hai hep train` as your job with its dashboard; return the dashboard's URL.

    `model`: pfn, pcnn, particlenet or part. `data`: what `--data` takes (files, folders,
    globs, ``LABEL:pattern``), one or a list. `out`: the run folder (default
    ``runs/<model>-<time>``, in your home). Other keywords are `hai hep train` options
    (`batch_size=64`, `max_jets=10_000`, `init_weights="ckpt.pt"`, `in_memory=True`).
    """
    from hakutaku.sdk.client import Client

    run = out or f"runs/{model}-{clock.strftime('%Y%m%d-%H%M%S')}"
    args = training_args(model, data, epochs, **options)
    own = client is None
    http = client or Client()
    try:
        found = http.apps.submit_training(
            args, out=run, cpus=cpus, mem=mem, gpus=gpus, time=time, partition=partition
        )
    finally:
        if own:
            http.close()
    return str(found["url"])
