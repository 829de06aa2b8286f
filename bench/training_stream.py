"""Streaming training benchmark: memory stays flat as the data grows, and streaming is as fast.

One run:

1. makes (or reuses) generated top and QCD jets with `hakutaku.hep.generation.generate`
   (Pythia 8 + FastJet, no multiparton interactions, JetClass-layout ROOT chunk files of
   `--chunk-size` jets) under `--data-dir`: enough for `--factor` x `--jets`;
2. trains the same short run (`--model`, `--epochs`, `--batch-size`, `--lr`, the default
   recipe otherwise: Ranger, flat + decay) in a fresh child process each time:
   - **memory N**: the in-memory path on `--jets` jets (N, half of each class):
     ``formats.read(files)`` then ``train(cfg, batch)`` — the reference;
   - **stream N Kw**: ``train(cfg, files)`` streaming the same files with K DataLoader
     workers (each of `--workers`: by default the library's default for CPU training, none
     on this 2-core machine, and one) and a `--buffer`-jet shuffle buffer each;
   - **stream 10N Kw**: the same on `--factor` x N jets;
   - **memory 10N** (unless ``--no-memory-10x``): the in-memory path on those, to show what
     the stream saves;
3. while each child runs, samples every 50 ms the resident memory of its whole process tree
   (the child and its DataLoader workers): the sum of RSS (shared pages count in every
   process, as `ps` shows them) and, every 0.5 s, the sum of PSS (shared pages divided among
   the processes sharing them);
4. prints per run: peak RSS and PSS, wall time, throughput and the CPU others used meanwhile,
   then the ratios against the targets:
   - peak RSS(stream 10N Kw) / peak RSS(stream N Kw) <= 1.2;
   - throughput(stream N Kw) / throughput(memory N) >= 1.
   With ``--repeat R`` every run is made R times, interleaved, and the ratios use medians.

Throughput is end to end: training jets (training split x epochs) per second of wall clock
from the files on disk to the trained model — reading, building inputs, training steps and the
validation pass of every epoch — since that is what a user waits for. The per-epoch figure of
the training steps alone (``jets_per_second`` in metrics.csv) is printed beside it.

This is a benchmark, not a test: it prints numbers and exits 0 unless a run failed.

    .venv/bin/python bench/training_stream.py                      # N = 2000, 10N = 20000
    .venv/bin/python bench/training_stream.py --jets 1000 --epochs 1 --no-memory-10x
    .venv/bin/python bench/training_stream.py --repeat 3 --wait-idle 120 --json out.json

Results and how they were obtained: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

RSS_TARGET = 1.2
THROUGHPUT_TARGET = 1.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- data


def ensure_jets(args: argparse.Namespace) -> dict[str, list[Path]]:
    """Chunk files of each process, enough for factor x jets (generated once, then reused)."""
    from hakutaku.hep.generation import generate

    per_class = math.ceil(args.jets * args.factor / 2)
    n_chunks = math.ceil(per_class / args.chunk_size)
    folder = args.data_dir / f"nompi-chunk{args.chunk_size}-seed{args.seed}"
    files: dict[str, list[Path]] = {}
    for process in ("qcd", "ttbar"):
        started = time.perf_counter()
        report = generate(
            process,
            n_chunks * args.chunk_size,
            args.seed,
            folder / process,
            "root",
            chunk_size=args.chunk_size,
            workers=args.gen_workers,
            mpi=False,
            progress=sys.stderr.isatty(),
        )
        seconds = time.perf_counter() - started
        made = f"{report.njets} made in {seconds:.0f} s" if report.generated else "all reused"
        log(f"{process}: {len(report.files)} chunk file(s) in {folder / process} ({made})")
        files[process] = sorted(report.files)
    return files


def pick(files: dict[str, list[Path]], jets: int, chunk_size: int) -> list[str]:
    """The first files of each class holding jets/2 jets each (whole chunk files)."""
    per_class, rest = divmod(jets // 2, chunk_size)
    if rest or jets % 2:
        raise SystemExit(f"--jets {jets}: use 2 x a multiple of --chunk-size ({chunk_size})")
    return [str(p) for process in ("qcd", "ttbar") for p in files[process][:per_class]]


# ------------------------------------------------------------------------------- child


def child(spec: dict[str, Any]) -> None:
    """One training run, as told by the parent; prints its result as one JSON line."""
    import torch

    from hakutaku.hep.formats import read
    from hakutaku.hep.training import TrainConfig, train

    torch.set_num_threads(spec["threads"])
    cfg = TrainConfig(
        model=spec["model"],
        epochs=spec["epochs"],
        batch_size=spec["batch_size"],
        lr=spec["lr"],
        seed=spec["seed"],
        num_workers=spec["workers"],
        shuffle_buffer=spec["buffer"],
        open_files=spec["open_files"],
    )
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        data = read(spec["files"]) if spec["mode"] == "memory" else spec["files"]
        loaded = time.perf_counter()
        history = train(cfg, data, out, progress=False)
        seconds = time.perf_counter() - started
    rows = [asdict(h) for h in history]
    trained = sum(r["jets_per_second"] * r["seconds"] for r in rows)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "read_seconds": loaded - started,
                "trained_jets": round(trained),
                "epochs": rows,
            }
        ),
        flush=True,
    )


# ------------------------------------------------------------------------------- sampling


@dataclass
class Sampled:
    peak_rss: int = 0
    peak_pss: int = 0
    peak_processes: int = 0
    tree_cpu: float = 0.0  # CPU seconds of the tree
    system_busy: float = 0.0  # CPU seconds of the whole machine


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def sample(root: psutil.Process, stop: threading.Event, into: Sampled) -> None:
    """Peak RSS and PSS sums of the process tree until `stop`; CPU of the tree and of others."""
    cpu_seen: dict[int, float] = {}
    system_start = psutil.cpu_times()
    last_pss = 0.0
    while not stop.is_set():
        procs = _tree(root)
        rss, pss = 0, 0
        want_pss = time.monotonic() - last_pss > 0.5
        for proc in procs:
            try:
                if want_pss:
                    info = proc.memory_full_info()
                    rss += info.rss
                    pss += info.pss
                else:
                    rss += proc.memory_info().rss
                times = proc.cpu_times()
                cpu_seen[proc.pid] = times.user + times.system
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        into.peak_rss = max(into.peak_rss, rss)
        into.peak_processes = max(into.peak_processes, len(procs))
        if want_pss:
            into.peak_pss = max(into.peak_pss, pss)
            last_pss = time.monotonic()
        stop.wait(0.05)
    system_end = psutil.cpu_times()
    busy = sum(
        getattr(system_end, f) - getattr(system_start, f)
        for f in ("user", "system", "nice", "irq", "softirq")
        if hasattr(system_end, f)
    )
    into.tree_cpu = sum(cpu_seen.values())
    into.system_busy = busy


@dataclass
class Run:
    name: str
    mode: str
    n_jets: int
    files: int
    peak_rss: int = 0
    peak_pss: int = 0
    processes: int = 0
    seconds: float = 0.0
    trained_jets: int = 0
    throughput: float = 0.0
    step_throughput: float = 0.0
    tree_cpu: float = 0.0
    other_cpus: float = 0.0
    val_auc: float = float("nan")
    epochs: list[dict[str, Any]] = field(default_factory=list)


def wait_idle(limit: float, threshold: float = 0.25) -> float:
    """Wait (up to `limit` seconds) until other processes keep less than `threshold` CPUs
    busy; returns the load last seen."""
    deadline = time.monotonic() + limit
    while True:
        busy = psutil.cpu_percent(interval=2.0) / 100 * psutil.cpu_count()
        if busy < threshold or time.monotonic() >= deadline:
            return busy
        log(f"  waiting: other processes keep {busy:.2f} CPUs busy")


def run_child(name: str, spec: dict[str, Any]) -> Run:
    command = [sys.executable, __file__, "--child", json.dumps(spec)]
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    sampled = Sampled()
    stop = threading.Event()
    watcher = threading.Thread(target=sample, args=(psutil.Process(proc.pid), stop, sampled))
    watcher.start()
    stdout, _ = proc.communicate()
    stop.set()
    watcher.join()
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{name}: the training run failed (exit status {proc.returncode})")
    result = json.loads(stdout.strip().splitlines()[-1])
    busy = sampled.system_busy
    rows = result["epochs"]
    run = Run(
        name=name,
        mode=spec["mode"],
        n_jets=spec["n_jets"],
        files=len(spec["files"]),
        peak_rss=sampled.peak_rss,
        peak_pss=sampled.peak_pss,
        processes=sampled.peak_processes,
        seconds=result["seconds"],
        trained_jets=result["trained_jets"],
        tree_cpu=sampled.tree_cpu,
        other_cpus=max(busy - sampled.tree_cpu, 0.0) / wall if wall > 0 else 0.0,
        val_auc=rows[-1]["val_auc"] if rows else float("nan"),
        epochs=rows,
    )
    run.throughput = run.trained_jets / run.seconds if run.seconds > 0 else 0.0
    run.step_throughput = statistics.mean(r["jets_per_second"] for r in rows) if rows else 0.0
    return run


# ------------------------------------------------------------------------------- report


def mib(n: int) -> str:
    return f"{n / 2**20:.0f}"


def report(runs: list[Run], args: argparse.Namespace) -> dict[str, Any]:
    by_name: dict[str, list[Run]] = {}
    for r in runs:
        by_name.setdefault(r.name, []).append(r)

    def median(name: str, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in by_name[name])

    print()
    print(
        f"{'run':<16}{'jets':>7}{'files':>6}{'procs':>6}{'peak RSS':>10}{'peak PSS':>10}"
        f"{'seconds':>9}{'jets/s':>8}{'steps j/s':>10}{'val AUC':>9}{'others':>8}"
    )
    for r in runs:
        print(
            f"{r.name:<16}{r.n_jets:>7}{r.files:>6}{r.processes:>6}{mib(r.peak_rss):>8} M"
            f"{mib(r.peak_pss):>8} M{r.seconds:>9.1f}{r.throughput:>8.0f}"
            f"{r.step_throughput:>10.0f}{r.val_auc:>9.4f}{r.other_cpus:>8.2f}"
        )
    print(
        "jets/s: training jets x epochs per second, end to end (reading, inputs, steps, "
        "validation); steps j/s: the training steps alone (mean over epochs); others: CPUs "
        "that other processes kept busy meanwhile (0 = a quiet machine)."
    )
    summary: dict[str, Any] = {}
    print()
    for workers in args.workers:
        small, big = stream_name("N", workers), stream_name(f"{args.factor}N", workers)
        rss_ratio = median(big, "peak_rss") / median(small, "peak_rss")
        pss_ratio = median(big, "peak_pss") / median(small, "peak_pss")
        speed = median(small, "throughput") / median("memory N", "throughput")
        speed_big = median(big, "throughput") / median("memory N", "throughput")
        print(
            f"peak RSS   {big} / {small}: {rss_ratio:.3f}  (target <= {RSS_TARGET}) "
            f"{'PASS' if rss_ratio <= RSS_TARGET else 'MISS'}"
        )
        print(f"peak PSS   {big} / {small}: {pss_ratio:.3f}")
        print(
            f"throughput {small} / memory N: {speed:.3f}  (target >= {THROUGHPUT_TARGET}) "
            f"{'PASS' if speed >= THROUGHPUT_TARGET else 'MISS'}"
        )
        print(f"throughput {big} / memory N: {speed_big:.3f}")
        summary[f"workers={workers}"] = {
            "rss_ratio": rss_ratio,
            "pss_ratio": pss_ratio,
            "throughput_ratio": speed,
            "throughput_ratio_big": speed_big,
        }
    big_memory = f"memory {args.factor}N"
    if big_memory in by_name:
        memory_ratio = median(big_memory, "peak_rss") / median("memory N", "peak_rss")
        memory_pss = median(big_memory, "peak_pss") / median("memory N", "peak_pss")
        print(f"peak RSS   {big_memory} / memory N: {memory_ratio:.3f} (PSS {memory_pss:.3f})")
        summary["memory"] = {"rss_ratio": memory_ratio, "pss_ratio": memory_pss}
    return summary


def stream_name(size: str, workers: int) -> str:
    return f"stream {size} {workers}w"


# ------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from hakutaku.hep.stream import default_workers

    home = Path(os.environ.get("HAI_HOME") or Path.home() / ".hakutaku")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--jets", type=int, default=2000, help="N: jets of the small runs (half each class)"
    )
    ap.add_argument("--factor", type=int, default=10, help="the big runs have factor x N jets")
    ap.add_argument("--model", default="pfn")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument(
        "--lr", type=float, default=2e-2, help="ParT's PFN TopLandscape rate (%(default)s)"
    )
    ap.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=sorted({default_workers("cpu"), 1}),
        help="DataLoader workers of the streaming runs, one pair of runs each (default: "
        "%(default)s: the library's default for CPU training, and one worker)",
    )
    ap.add_argument(
        "--buffer",
        type=int,
        default=2000,
        help="shuffle buffer per reader, jets (%(default)s)",
    )
    ap.add_argument(
        "--open-files",
        type=int,
        default=2,
        help="files each reader mixes at once (%(default)s: with the buffer, reads of 500 jets)",
    )
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of all runs, interleaved")
    ap.add_argument("--no-memory-10x", dest="memory_big", action="store_false")
    ap.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each run, wait up to this long until other processes use less than a "
        "quarter of a CPU (on a shared machine)",
    )
    ap.add_argument("--data-dir", type=Path, default=home / "bench" / "stream-jets")
    ap.add_argument("--chunk-size", type=int, default=1000, help="jets per generated file")
    ap.add_argument("--seed", type=int, default=7, help="generation and training seed")
    ap.add_argument("--gen-workers", type=int, default=None, help="generation processes")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(json.loads(sys.argv[2]))
        return 0
    args = parse_args(argv)
    import torch

    files = ensure_jets(args)
    small = pick(files, args.jets, args.chunk_size)
    big_n = args.jets * args.factor
    large = pick(files, big_n, args.chunk_size)
    base = {
        "model": args.model,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "buffer": args.buffer,
        "open_files": args.open_files,
        "threads": args.threads or torch.get_num_threads(),
    }
    plan: list[tuple[str, dict[str, Any]]] = [
        ("memory N", {"mode": "memory", "files": small, "n_jets": args.jets, "workers": 0})
    ]
    # The small runs together, then the big ones: what is compared ran in the same minutes.
    for size, chosen, n in (("N", small, args.jets), (f"{args.factor}N", large, big_n)):
        for workers in args.workers:
            spec = {"mode": "stream", "files": chosen, "n_jets": n, "workers": workers}
            plan.append((stream_name(size, workers), spec))
    if args.memory_big:
        spec = {"mode": "memory", "files": large, "n_jets": big_n, "workers": 0}
        plan.append((f"memory {args.factor}N", spec))
    log(
        f"{args.model}, {args.epochs} epoch(s), batch {args.batch_size}, workers {args.workers}, "
        f"buffer {args.buffer} jets, {base['threads']} torch thread(s), "
        f"{len(os.sched_getaffinity(0))} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    runs: list[Run] = []
    for round_ in range(args.repeat):
        for name, spec in plan:
            log(f"round {round_ + 1}/{args.repeat}: {name} ({spec['n_jets']} jets)")
            if args.wait_idle:
                wait_idle(args.wait_idle)
            run = run_child(name, {**base, **spec})
            log(
                f"  {run.seconds:.1f} s, {run.throughput:.0f} jets/s, peak RSS "
                f"{mib(run.peak_rss)} MiB, others {run.other_cpus:.2f} CPUs"
            )
            runs.append(run)
    summary = report(runs, args)
    if args.json is not None:
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        payload = {"settings": settings, "runs": [asdict(r) for r in runs], "summary": summary}
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
