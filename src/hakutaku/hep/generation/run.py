"""Generate labelled jets: one chunk in memory, or many chunks to files in parallel.

- `generate_chunk(process, njets, seed, chunk)` makes chunk `chunk` of a run in this process
  and returns a `JetBatch`. Pythia is seeded with `chunk_seed(seed, process, chunk)`, so the
  chunk is the same jets wherever and whenever it is made (its first n jets do not depend on
  how many are asked for).
- `generate(process, njets, seed, out_dir, fmt)` splits `njets` into chunks of `chunk_size`,
  makes the missing ones over `workers` processes, writes each through `writer` (default:
  `hakutaku.hep.formats.write`) to `<process>_seed<seed>_chunk<k>.<ext>` with
  `<that file name>.provenance.json` beside it. A chunk whose file and provenance exist with
  the right number of jets is skipped, so an interrupted run resumes where it stopped; a chunk
  made with different settings (process card, MPI, extra settings, chunk size) is an error
  rather than silently mixed in. Files are written under a temporary name and renamed, the
  provenance last, so a chunk is either complete or made again.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hakutaku.hep.generation.clustering import (
    Jets,
    cluster_antikt,
    fastjet_version,
    hadronic_tops,
    kinematic_mask,
    leading_mask,
    match_tops,
    outgoing_partons_ok,
    pt_of,
)
from hakutaku.hep.generation.pythia import EventRecord, EventSource, pythia_version
from hakutaku.hep.generation.settings import (
    ProcessCard,
    RunOptions,
    chunk_seed,
    get_card,
    pythia_settings,
)
from hakutaku.hep.generation.substructure import substructure
from hakutaku.hep.jets import JetBatch

Writer = Callable[[JetBatch, Path, str], Any]
Progress = Callable[[int], None]

# File extension of each format name `hakutaku.hep.formats.write` knows (names and aliases).
EXTENSIONS = {
    "root": ".root",
    "jetclass": ".root",
    "parquet": ".parquet",
    "toplandscape-parquet": ".parquet",
    "qg-parquet": ".parquet",
    "h5": ".h5",
    "hdf5": ".h5",
    "toplandscape-h5": ".h5",
    "npz": ".npz",
    "qg-npz": ".npz",
}
DEFAULT_CHUNK_SIZE = 1000
SUBSTRUCTURE = {
    "soft_drop": "C/A reclustering, decluster along the harder branch until "
    "min(pT1,pT2)/(pT1+pT2) > z_cut (dR12/R0)^beta; R0 = jet radius",
    "nsubjettiness": "normalised measure sum pT_i min_k dR_ik^beta / sum pT_i R0^beta, "
    "R0 = jet radius, axes: exclusive kT subjets (E-scheme), no minimisation (contrib KT_Axes)",
}


class GenerationConflict(RuntimeError):
    """An output directory already holds a chunk made with different settings."""


def hakutaku_version() -> str:
    from hakutaku import __version__

    return __version__


# -- events -> jets ---------------------------------------------------------------------------


def jets_from_events(record: EventRecord, card: ProcessCard, source: EventSource) -> JetBatch:
    """The jets of a batch of events that pass `card`'s selection, in event order (within an
    event: decreasing pT), constituents sorted by decreasing pT."""
    sel = card.selection
    particles = record.visible_final()
    if card.outgoing_partons is not None:
        events_ok = outgoing_partons_ok(record, card.outgoing_partons)
        particles &= events_ok[record.event_index]
    jets = cluster_antikt(record, particles, sel.radius, sel.pt_min)
    keep = kinematic_mask(jets, sel.pt_min, sel.pt_max, sel.abs_max, sel.rapidity)
    if sel.jets == "leading":
        keep &= leading_mask(jets)
    jets = jets.select(keep)
    if card.matching == "top":
        jets = jets.select(match_tops(jets, hadronic_tops(record), card.match_radius))
    return _batch(record, jets.select(np.lexsort((-jets.pt, jets.event))), card, source)


def _batch(record: EventRecord, jets: Jets, card: ProcessCard, source: EventSource) -> JetBatch:
    cons = jets.constituents
    owner = np.repeat(np.arange(len(jets)), jets.counts)
    order = np.lexsort((-pt_of(record.px[cons], record.py[cons]), owner))
    cons = cons[order]
    px, py, pz, e = record.px[cons], record.py[cons], record.pz[cons], record.e[cons]
    pid = record.id[cons]
    shapes = substructure(
        px,
        py,
        pz,
        e,
        jets.counts,
        radius=card.selection.radius,
        soft_drop_beta=card.soft_drop_beta,
        soft_drop_zcut=card.soft_drop_zcut,
        nsub_beta=card.nsub_beta,
    )
    columns = {
        "jet_pt": jets.pt,
        "jet_eta": jets.eta,
        "jet_phi": jets.phi,
        "jet_energy": jets.e,
        "jet_mass": jets.mass,
        **shapes,
        "jet_nparticles": jets.counts.astype(np.int64),
    }
    return JetBatch(
        jets=columns,
        particles={
            "part_px": px,
            "part_py": py,
            "part_pz": pz,
            "part_energy": e,
            "part_pid": pid.astype(np.int32),
            "part_charge": source.charges(pid).astype(np.float32),
        },
        counts=jets.counts,
        labels=np.full(len(jets), card.label_index, dtype=np.int64),
        label_names=card.label_names,
    )


def generate_chunk(
    process: str | ProcessCard,
    njets: int,
    seed: int,
    chunk: int = 0,
    *,
    mpi: bool = True,
    extra_settings: Sequence[str] = (),
    progress: Progress | None = None,
    max_events_per_jet: float = 1000.0,
) -> JetBatch:
    """Chunk `chunk` of the run (`process`, `seed`): its first `njets` jets, made here.

    `progress(n)` is called with the number of new jets after each batch of events. The batch's
    `meta` is the chunk's provenance (generator versions, Pythia settings, cuts, seeds, timing).
    """
    card = get_card(process)
    if njets < 0:
        raise ValueError("njets must be >= 0")
    options = RunOptions(mpi=mpi, extra_settings=tuple(extra_settings))
    pythia_seed = chunk_seed(seed, card.name, chunk)
    started = time.perf_counter()
    source = EventSource(pythia_settings(card, pythia_seed, options))
    pieces: list[JetBatch] = []
    have = 0
    batch_events = 20
    while have < njets:
        record = source.next_batch(batch_events)
        piece = jets_from_events(record, card, source)
        piece = piece.select(np.arange(min(len(piece), njets - have)))
        pieces.append(piece)
        have += len(piece)
        if progress is not None and len(piece):
            progress(len(piece))
        if have == 0 and source.n_events >= 100 * max_events_per_jet:
            raise RuntimeError(
                f"no jet passed the {card.name!r} selection in {source.n_events} events"
            )
        if have < njets and source.n_events > max_events_per_jet * max(have, 1) + 10_000:
            raise RuntimeError(
                f"only {have} jets in {source.n_events} events for {card.name!r}: "
                "the selection keeps almost nothing"
            )
        # Aim at what is missing with a margin; bounded so progress stays fluid.
        per_event = max(have, 1) / source.n_events
        batch_events = int(min(200, max(5, math.ceil(1.1 * (njets - have) / per_event) + 1)))
    batch = JetBatch.concat(pieces) if pieces else _empty(card)
    batch.label_names = card.label_names  # concat of one label set keeps it; be explicit
    elapsed = time.perf_counter() - started
    batch.meta = {
        "hakutaku": hakutaku_version(),
        "generator": {
            "pythia8mc": pythia_version(),
            "fastjet": fastjet_version(),
        },
        "process": card.to_dict(),
        "cuts": card.selection.describe(),
        "substructure": SUBSTRUCTURE,
        "mpi": mpi,
        "extra_settings": list(extra_settings),
        "seed": seed,
        "chunk": chunk,
        "pythia_seed": pythia_seed,
        "njets": len(batch),
        "pythia": source.record(),
        "seconds": round(elapsed, 3),
        "jets_per_second": round(len(batch) / elapsed, 3) if elapsed > 0 else None,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    return batch


def _empty(card: ProcessCard) -> JetBatch:
    from hakutaku.hep.jets import JET_COLUMNS, PARTICLE_COLUMNS

    return JetBatch(
        jets={k: np.zeros(0) for k in JET_COLUMNS},
        particles={k: np.zeros(0) for k in PARTICLE_COLUMNS},
        counts=np.zeros(0, np.int64),
        labels=np.zeros(0, np.int64),
        label_names=card.label_names,
    )


# -- files ------------------------------------------------------------------------------------


def chunk_sizes(njets: int, chunk_size: int) -> list[int]:
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    full, rest = divmod(int(njets), int(chunk_size))
    return [chunk_size] * full + ([rest] if rest else [])


def chunk_path(out_dir: str | Path, process: str, seed: int, chunk: int, fmt: str) -> Path:
    ext = EXTENSIONS.get(fmt, f".{fmt}")
    return Path(out_dir) / f"{process}_seed{seed}_chunk{chunk:05d}{ext}"


def provenance_path(path: str | Path) -> Path:
    """`<chunk file>.provenance.json`, e.g. qcd_seed1_chunk00000.root.provenance.json."""
    path = Path(path)
    return path.with_name(f"{path.name}.provenance.json")


def _identity(card: ProcessCard, options: RunOptions, chunk_size: int) -> dict:
    """What a chunk on disk must share with the run that would reuse it (what decides its
    jets; the format is in the file name)."""
    process = card.to_dict()
    process.pop("description")
    return {
        "process": process,
        "mpi": options.mpi,
        "extra_settings": list(options.extra_settings),
        "chunk_size": chunk_size,
    }


def _complete(path: Path, njets: int, identity: dict) -> bool:
    prov = provenance_path(path)
    if not (path.exists() and prov.exists()):
        return False
    try:
        record = json.loads(prov.read_text())
    except (OSError, ValueError):
        return False
    if record.get("run") != identity:
        raise GenerationConflict(
            f"{path} was made with different settings ({prov.name}); remove it or write to "
            "another directory"
        )
    return record.get("njets") == njets


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(data, indent=1, default=_json_default) + "\n")
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _default_writer(batch: JetBatch, path: Path, fmt: str) -> Any:
    from hakutaku.hep.formats import write

    return write(batch, path, fmt)


def _store(batch: JetBatch, path: Path, fmt: str, writer: Writer, identity: dict) -> None:
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        writer(batch, tmp, fmt)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _write_json(
        provenance_path(path),
        {**batch.meta, "file": path.name, "format": fmt, "run": identity},
    )


def write_columns_npz(batch: JetBatch, path: str | Path, fmt: str = "npz") -> Path:
    """Every column of `batch` as-is in a numpy .npz (lossless; not a public layout)."""
    path = Path(path)
    arrays: dict[str, Any] = {f"jets/{k}": v for k, v in batch.jets.items()}
    arrays.update({f"particles/{k}": v for k, v in batch.particles.items()})
    with open(path, "wb") as fh:  # a file object: numpy would append .npz to a path
        np.savez(
            fh,
            counts=batch.counts,
            labels=batch.labels,
            label_names=np.array(batch.label_names),
            **arrays,
        )
    return path


def read_columns_npz(path: str | Path) -> JetBatch:
    with np.load(path) as data:
        return JetBatch(
            jets={k[5:]: data[k] for k in data.files if k.startswith("jets/")},
            particles={k[10:]: data[k] for k in data.files if k.startswith("particles/")},
            counts=data["counts"],
            labels=data["labels"],
            label_names=tuple(str(n) for n in data["label_names"]),
        )


def _preflight(card: ProcessCard, fmt: str, writer: Writer, out_dir: Path) -> None:
    """Write a one-jet batch with this process's label to catch a format that cannot hold it
    before any time is spent generating."""
    from hakutaku.hep.jets import JET_COLUMNS

    jets = {k: np.array([1.0]) for k in JET_COLUMNS}
    jets.update(jet_pt=np.array([600.0]), jet_energy=np.array([600.0]))
    jets["jet_nparticles"] = np.array([1], dtype=np.int64)
    batch = JetBatch(
        jets=jets,
        particles={
            "part_px": np.array([600.0]),
            "part_py": np.array([0.0]),
            "part_pz": np.array([0.0]),
            "part_energy": np.array([600.0]),
            "part_pid": np.array([211], dtype=np.int32),
            "part_charge": np.array([1.0], dtype=np.float32),
        },
        counts=np.array([1]),
        labels=np.array([card.label_index]),
        label_names=card.label_names,
    )
    path = out_dir / f".preflight-{os.getpid()}{EXTENSIONS.get(fmt, '.' + fmt)}"
    try:
        writer(batch, path, fmt)
    finally:
        path.unlink(missing_ok=True)


# -- the parallel driver ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    card: ProcessCard
    njets: int
    seed: int
    chunk: int
    mpi: bool
    extra_settings: tuple[str, ...]


_progress_queue: Any = None


def _init_worker(queue: Any) -> None:
    global _progress_queue
    _progress_queue = queue


def _run_job(job: _Job) -> JetBatch:
    queue = _progress_queue
    return generate_chunk(
        job.card,
        job.njets,
        job.seed,
        job.chunk,
        mpi=job.mpi,
        extra_settings=job.extra_settings,
        progress=queue.put if queue is not None else None,
    )


@dataclass
class RunReport:
    """What `generate` did."""

    files: list[Path]  # every chunk file of the run, in chunk order
    generated: list[int] = field(default_factory=list)  # chunks made now
    skipped: list[int] = field(default_factory=list)  # chunks already complete
    njets: int = 0
    seconds: float = 0.0

    @property
    def jets_per_second(self) -> float:
        made = self.njets
        return made / self.seconds if self.seconds > 0 else 0.0


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def generate(
    process: str | ProcessCard,
    njets: int,
    seed: int,
    out_dir: str | Path,
    fmt: str = "root",
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    workers: int | None = None,
    mpi: bool = True,
    extra_settings: Sequence[str] = (),
    writer: Writer | None = None,
    progress: bool = True,
) -> RunReport:
    """Make `njets` jets of `process` in chunks under `out_dir` (see the module docstring).

    `writer(batch, path, fmt)` stores a chunk (None: `hakutaku.hep.formats.write`); it runs in
    this process, so it may be any callable. `workers` processes generate (None: one per
    available core; 1: everything in this process). Returns a `RunReport`.
    """
    card = get_card(process)
    if njets < 0:
        raise ValueError("njets must be >= 0")
    writer = writer or _default_writer
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    options = RunOptions(mpi=mpi, extra_settings=tuple(extra_settings))
    identity = _identity(card, options, chunk_size)
    sizes = chunk_sizes(njets, chunk_size)
    paths = [chunk_path(out, card.name, seed, k, fmt) for k in range(len(sizes))]
    todo = [k for k, path in enumerate(paths) if not _complete(path, sizes[k], identity)]
    report = RunReport(files=paths, skipped=[k for k in range(len(sizes)) if k not in todo])
    if not todo:
        return report
    _preflight(card, fmt, writer, out)
    jobs = [
        _Job(card, sizes[k], seed, k, mpi, tuple(extra_settings))
        for k in sorted(todo, key=lambda k: -sizes[k])  # big chunks first
    ]
    n_workers = max(1, min(workers or default_workers(), len(jobs)))
    from tqdm.auto import tqdm

    started = time.perf_counter()
    with tqdm(
        total=njets,
        initial=njets - sum(sizes[k] for k in todo),
        unit="jet",
        desc=f"{card.name} seed {seed}",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    ) as bar:

        def finish(job: _Job, batch: JetBatch) -> None:
            _store(batch, paths[job.chunk], fmt, writer, identity)
            report.generated.append(job.chunk)
            report.njets += len(batch)

        if n_workers == 1:
            for job in jobs:
                finish(job, _run_in_process(job, bar.update))
        else:
            _run_pool(jobs, n_workers, finish, bar.update)
    report.generated.sort()
    report.seconds = time.perf_counter() - started
    return report


def _run_in_process(job: _Job, update: Progress) -> JetBatch:
    return generate_chunk(
        job.card,
        job.njets,
        job.seed,
        job.chunk,
        mpi=job.mpi,
        extra_settings=job.extra_settings,
        progress=update,
    )


@contextmanager
def _workers_skip_main() -> Iterator[None]:
    """Hide `__main__` from spawned workers while they start.

    A spawned worker re-imports the parent's main module (by path or by module name) unless it
    has neither; the workers need nothing from it (the work lives in this module), and a
    script without an `if __name__ == "__main__":` guard, or `python -m` of a module that runs
    its command at import, would otherwise run again inside every worker.
    """
    main = sys.modules.get("__main__")
    saved = {k: getattr(main, k) for k in ("__spec__", "__file__") if hasattr(main, k)}
    try:
        if main is not None:
            main.__spec__ = None
            if "__file__" in saved:
                del main.__file__
        yield
    finally:
        for key, value in saved.items():
            setattr(main, key, value)


def _run_pool(
    jobs: list[_Job],
    n_workers: int,
    finish: Callable[[_Job, JetBatch], None],
    update: Progress,
) -> None:
    import multiprocessing as mp
    import queue as queue_module

    # spawn: workers start clean (no inherited threads or open generators); each pays the
    # imports once and then makes chunks one after another.
    context = mp.get_context("spawn")
    progress_queue = context.Queue()

    def drain() -> None:
        while True:
            try:
                update(progress_queue.get_nowait())
            except queue_module.Empty:
                return

    with ProcessPoolExecutor(
        max_workers=n_workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(progress_queue,),
    ) as pool:
        with _workers_skip_main():  # the workers start on the first submissions
            pending: dict[Future, _Job] = {pool.submit(_run_job, job): job for job in jobs}
        try:
            while pending:
                done, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                drain()
                for future in done:
                    job = pending.pop(future)
                    finish(job, future.result())
        except BaseException:
            for future in pending:
                future.cancel()
            raise
        finally:
            drain()
