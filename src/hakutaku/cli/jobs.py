"""`hai jobs` and `hai compute`: batch jobs, partitions and QOS."""

from __future__ import annotations

import typer

jobs = typer.Typer(help="Batch jobs on the local executor or Slurm.", no_args_is_help=True)
compute = typer.Typer(help="Partitions, QOS and accelerators.", no_args_is_help=True)
