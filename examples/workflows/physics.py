"""The physics the workflow examples run as tasks: real Pythia 8 jets (hakutaku.hep).

Each function is a task: it runs in a campaign's worker (examples/workflows is on its import
path, see hakutaku.workflows.profiles.worker_init) and returns plain data or file paths.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hakutaku.hep.formats import write
from hakutaku.hep.generation import generate_chunk
from hakutaku.hep.jets import JetBatch

# Pythia's final-state shower coupling: the parameter the tuning examples move.
ALPHA_S = "TimeShower:alphaSvalue"
ALPHA_RANGE = (0.09, 0.15)
DEFAULT_ALPHA_S = 0.1365  # Pythia 8's default (Monash tune)


def shower(alpha: float, njets: int, seed: int, chunk: int = 0) -> JetBatch:
    """QCD jets (550-650 GeV, R = 0.8, no MPI) with the final-state shower at `alpha`."""
    return generate_chunk(
        "qcd", njets, seed=seed, chunk=chunk, mpi=False, extra_settings=[f"{ALPHA_S} = {alpha}"]
    )


def generate_file(process: str, njets: int, seed: int, chunk: int, out_dir: str) -> str:
    """Chunk `chunk` of (process, seed) as a JetClass ROOT file; returns its path."""
    batch = generate_chunk(process, njets, seed=seed, chunk=chunk, mpi=False)
    path = Path(out_dir) / f"{process}_seed{seed}_chunk{chunk:05d}.root"
    path.parent.mkdir(parents=True, exist_ok=True)
    write(batch, path)
    return str(path)


@dataclass(frozen=True)
class MeanMultiplicity:
    """One simulation as a function of alpha alone (what a Surrogate wraps): the mean
    constituent multiplicity of `njets` QCD jets showered at `alpha`."""

    njets: int
    seed: int

    def __call__(self, alpha: float) -> float:
        return float(np.mean(shower(alpha, self.njets, self.seed).jets["jet_nparticles"]))


def streamed_observables(alpha: float, chunks: int, per_chunk: int, seed: int) -> dict[str, float]:
    """A long simulation: `chunks` chunks of QCD jets at `alpha`. After each chunk its running
    means (jet mass, constituent multiplicity) and their standard errors are written to
    progress.json in the task's folder, so that a steering model can judge it while it runs
    (and kill it)."""
    folder = Path(os.environ.get("HAI_TASK_DIR", "."))
    columns: dict[str, list[float]] = {"mass": [], "multiplicity": []}
    for chunk in range(chunks):
        jets = shower(alpha, per_chunk, seed, chunk).jets
        columns["mass"].extend(jets["jet_mass"].tolist())
        columns["multiplicity"].extend(jets["jet_nparticles"].tolist())
        summary = summarize(alpha, columns, chunk + 1, chunks)
        partial = folder / "progress.json.part"
        partial.write_text(json.dumps(summary))
        partial.replace(folder / "progress.json")
    return summarize(alpha, columns, chunks, chunks)


def summarize(
    alpha: float, columns: dict[str, list[float]], done: int, chunks: int
) -> dict[str, float]:
    out = {"alpha": alpha, "chunks_done": done, "chunks": chunks}
    for name, values in columns.items():
        v = np.asarray(values, dtype=float)
        out["jets"] = len(v)
        out[name] = float(v.mean())
        out[f"{name}_error"] = float(v.std(ddof=1) / np.sqrt(len(v)))
    return out


def read_progress(task_dir: Path) -> dict[str, float] | None:
    try:
        return dict(json.loads((task_dir / "progress.json").read_text()))
    except (OSError, ValueError):
        return None


def train_tagger(files: list[str], out_dir: str, model: str, epochs: int) -> dict[str, float]:
    """A short tagger training on `files` (top against QCD); returns the last epoch's metrics."""
    from dataclasses import asdict

    from hakutaku.hep.training import TrainConfig, train

    cfg = TrainConfig(
        model=model,
        epochs=epochs,
        batch_size=32,
        lr=1e-2,
        optimizer="adamw",
        schedule="none",
        device="cpu",
        num_workers=0,
    )
    history = train(cfg, files, out_dir, progress=False)
    return asdict(history[-1])


def evaluate_tagger(model_dir: str, files: list[str]) -> dict[str, float]:
    """Accuracy, AUC and background rejections of the trained tagger on held-out `files`."""
    from hakutaku.hep.training import evaluate

    metrics = evaluate(model_dir, files, device="cpu", num_workers=0)
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}


def observables(alpha: float, njets: int, seed: int) -> dict[str, float]:
    """One simulation for tuning: the mean jet mass (GeV) and mean constituent multiplicity
    of `njets` QCD jets showered at `alpha`, with their standard errors."""
    jets = shower(alpha, njets, seed).jets
    out = {"alpha": alpha}
    for name, column in (("mass", "jet_mass"), ("multiplicity", "jet_nparticles")):
        values = np.asarray(jets[column], dtype=float)
        out[name] = float(values.mean())
        out[f"{name}_error"] = float(values.std(ddof=1) / np.sqrt(len(values)))
    return out
