"""`hai hep ...`: physics commands (jet generation).

Pythia, FastJet and numpy are imported inside the commands, so `hai --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hakutaku.cli.common import fail, print_json

hep = typer.Typer(
    help="Physics: generate labelled jets (Pythia 8 + FastJet).", no_args_is_help=True
)

PROCESS_HELP = (
    "ttbar (top jets, 'Tbqq') | qcd (QCD jets) — anti-kT R=0.8, 550-650 GeV, |eta|<2; "
    "zq (quark jets, 'Zq') | zg (gluon jets, 'Zg') — Z(->nunu)+jet, R=0.4, 500-550 GeV, |y|<1.7."
)


@hep.command("generate")
def generate(
    process: Annotated[str, typer.Option("--process", "-p", help=PROCESS_HELP)],
    njets: Annotated[int, typer.Option("--njets", "-n", min=1, help="Jets to make in all.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    seed: Annotated[int, typer.Option(min=0, help="Run seed (chunk k is always the same).")] = 1,
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help="root (JetClass) | parquet | h5 | npz (EnergyFlow)."),
    ] = "root",
    chunk_size: Annotated[int, typer.Option(min=1, help="Jets per chunk file.")] = 1000,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Processes (default: one per core).")
    ] = None,
    mpi: Annotated[
        bool, typer.Option("--mpi/--no-mpi", help="Multiparton interactions (underlying event).")
    ] = True,
    setting: Annotated[
        list[str] | None,
        typer.Option("--set", help="Extra Pythia setting, e.g. 'Tune:pp = 14'. Repeatable."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Generate jets into chunk files with a provenance record beside each (resumable)."""
    from hakutaku.hep.generation import GenerationConflict
    from hakutaku.hep.generation import generate as run_generation
    from hakutaku.hep.generation.pythia import PythiaSettingsError

    try:
        report = run_generation(
            process,
            njets,
            seed,
            out,
            fmt,
            chunk_size=chunk_size,
            workers=workers,
            mpi=mpi,
            extra_settings=tuple(setting or ()),
            progress=not quiet,
        )
    except (ValueError, GenerationConflict, PythiaSettingsError) as exc:
        fail(str(exc), 2)
    except KeyboardInterrupt:
        fail("interrupted: finished chunks are kept; run the same command again to resume", 130)
    summary = {
        "process": process,
        "njets": njets,
        "seed": seed,
        "format": fmt,
        "mpi": mpi,
        "out": str(out),
        "files": [str(p) for p in report.files],
        "generated_chunks": report.generated,
        "skipped_chunks": report.skipped,
        "seconds": round(report.seconds, 2),
        "jets_per_second": round(report.jets_per_second, 2),
    }
    if as_json:
        print_json(summary)
        return
    typer.echo(
        f"{process}: {njets} jets in {len(report.files)} chunk(s) under {out} "
        f"({len(report.generated)} made, {len(report.skipped)} already complete)"
    )
    if report.generated:
        typer.echo(
            f"{report.njets} jets in {report.seconds:.1f} s ({report.jets_per_second:.1f}/s)"
        )
