"""Workflows benchmark: what hakutaku.workflows adds on top of plain Parsl, measured in one run.

Three executors get the same no-op Python tasks, one after another in this process, each with
`--workers` worker processes on this machine:

- plain Parsl: a HighThroughputExecutor on a LocalProvider, the executor configuration a
  campaign uses (`hakutaku.workflows.profiles.parsl_config("local", ...)`), apps submitted
  straight to its DataFlowKernel — the reference;
- hakutaku.workflows: a `Campaign` (journal in SQLite, a folder per task, the task run in
  its worker's resident runner so that it can be cancelled, its result written to a file and,
  small, also returned inline);
- Colmena on Parsl (if `colmena` is installed: `pip install -e '.[bench]'`): a
  `ParslTaskServer` with `PipeQueues`, the same executor configuration.

Reported per executor: throughput (`--tasks` no-op tasks submitted at once, tasks/s from the
first submission to the last result) and round-trip latency (`--rounds` tasks one after
another, submit to result, p50/p99), each with its ratio to plain Parsl of the same run.
Then cancel latency of a running task in a one-slot campaign (`--cancel-repeats` times each, a
Python task sleeping and an executable `sleep`): from `cancel()` to every process of the
task's tree gone, and to the next queued task having run in the freed slot.
`--design` also runs example (b)'s comparison of simulations needed (surrogate-steered against
random search and a grid; examples/workflows/inverse_design.py).

This is a benchmark, not a test: it prints numbers, ratios and PASS/MISS against issue 11's
targets, and exits 0 unless a task failed.

    .venv/bin/python bench/workflows.py                       # ~1-2 minutes on 2 cores
    .venv/bin/python bench/workflows.py --tasks 500 --rounds 100 --cancel-repeats 5
    .venv/bin/python bench/workflows.py --design --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # workflow_tasks, for the workers
sys.path.insert(0, str(ROOT / "examples" / "workflows"))  # example (b), for --design

import workflow_tasks  # noqa: E402

from hakutaku.workflows import Campaign, TaskCancelled, TaskFuture  # noqa: E402
from hakutaku.workflows.proctree import tree_pids  # noqa: E402

THROUGHPUT_WITHIN = 0.10  # of plain Parsl (issue 11)
ADDED_LATENCY_MS = 1.0
CANCEL_P50_S = 1.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def measure(
    submit: Callable[[], Any], result: Callable[[Any], Any], tasks: int, rounds: int
) -> dict[str, float]:
    """Throughput of `tasks` submitted at once, then `rounds` sequential round trips."""
    warm = [submit() for _ in range(50)]
    for handle in warm:
        result(handle)
    started = time.perf_counter()
    handles = [submit() for _ in range(tasks)]
    for handle in handles:
        result(handle)
    elapsed = time.perf_counter() - started
    trips = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        result(submit())
        trips.append(time.perf_counter() - t0)
    return {
        "tasks_per_s": tasks / elapsed,
        "latency_p50_ms": percentile(trips, 50) * 1e3,
        "latency_p99_ms": percentile(trips, 99) * 1e3,
    }


# ---------------------------------------------------------------------- the three executors


def plain_parsl(workers: int, tasks: int, rounds: int, base: Path) -> dict[str, float]:
    from parsl.app.app import python_app
    from parsl.dataflow.dflow import DataFlowKernel

    from hakutaku.workflows.profiles import LABEL, parsl_config

    dfk = DataFlowKernel(parsl_config("local", workers, base / "parsl"))
    try:
        app = python_app(workflow_tasks.noop, data_flow_kernel=dfk, executors=[LABEL])
        return measure(app, lambda f: f.result(), tasks, rounds)
    finally:
        dfk.cleanup()


def campaign(workers: int, tasks: int, rounds: int, base: Path) -> dict[str, float]:
    with Campaign(
        "bench",
        pools={"default": workers},
        run_dir=base / "campaign",
        database_url=f"sqlite:///{base / 'hai.db'}",
    ) as c:
        return measure(lambda: c.submit(workflow_tasks.noop), lambda f: f.result(), tasks, rounds)


def colmena_available() -> bool:
    try:
        import colmena  # noqa: F401
    except ImportError:
        return False
    return True


def colmena(workers: int, tasks: int, rounds: int, base: Path) -> dict[str, float]:
    from colmena.queue.python import PipeQueues
    from colmena.task_server import ParslTaskServer

    from hakutaku.workflows.profiles import parsl_config

    queues = PipeQueues(topics=["bench"])
    server = ParslTaskServer([workflow_tasks.noop], queues, parsl_config("local", workers, base))
    server.start()
    try:

        def submit() -> None:
            queues.send_inputs(method="noop", topic="bench")

        def result(_: None) -> None:
            answer = queues.get_result(topic="bench", timeout=120)
            if answer is None or not answer.success:
                raise RuntimeError(f"a Colmena task failed: {answer}")

        return measure(submit, result, tasks, rounds)
    finally:
        queues.send_kill_signal()
        server.join(timeout=60)


# ---------------------------------------------------------------------- cancel latency


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def local_one_slot(base: Path) -> Callable[[str], Campaign]:
    def make(name: str) -> Campaign:
        return Campaign(
            name,
            pools={"default": 1},
            run_dir=base / name,
            database_url=f"sqlite:///{base / 'cancel.db'}",
        )

    return make


def cancel_latency(
    kind: str, repeats: int, one_slot: Callable[[str], Campaign]
) -> dict[str, float]:
    """Seconds from cancel() of a running task to its tree gone and to the slot reused."""
    gone: list[float] = []
    reused: list[float] = []
    with one_slot(f"cancel-{kind}") as c:
        c.submit(workflow_tasks.noop).result(timeout=300)  # (on Slurm: the block job is up)
        for i in range(repeats):
            running: TaskFuture
            if kind == "python":
                running = c.submit(workflow_tasks.sleep, 60 + i)
            else:
                running = c.run(["sleep", str(60 + i)])
            deadline = time.monotonic() + 60
            while not tree_pids(running.task_dir):
                if time.monotonic() > deadline:
                    raise RuntimeError("the task to cancel did not start within 60 s")
                time.sleep(0.005)
            time.sleep(0.2)  # running for real, not just forked
            pids = tree_pids(running.task_dir)
            queued = c.submit(workflow_tasks.noop)
            t0 = time.perf_counter()
            running.cancel()
            t_gone = t_reused = None
            while t_gone is None or t_reused is None:
                now = time.perf_counter()
                if t_gone is None and not any(alive(p) for p in pids):
                    t_gone = now - t0
                if t_reused is None and queued.done():
                    t_reused = now - t0
                if now - t0 > 30:
                    raise RuntimeError("a cancelled task's slot was not free within 30 s")
                time.sleep(0.001)
            try:
                running.result(timeout=10)
                raise RuntimeError("a cancelled task ended as done")
            except TaskCancelled:
                pass
            queued.result()
            gone.append(t_gone)
            reused.append(t_reused)
    return {
        "gone_p50_s": statistics.median(gone),
        "gone_max_s": max(gone),
        "reused_p50_s": statistics.median(reused),
        "reused_max_s": max(reused),
    }


# ---------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "load_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_cancel(cancel: dict[str, dict[str, float]], where: str) -> None:
    for kind, c in cancel.items():
        print(
            f"cancel of a running {kind} task{where}: tree gone p50 {c['gone_p50_s'] * 1e3:.0f} "
            f"ms (max {c['gone_max_s'] * 1e3:.0f}), slot reused p50 "
            f"{c['reused_p50_s'] * 1e3:.0f} ms (max {c['reused_max_s'] * 1e3:.0f})  "
            f"{verdict(c['reused_p50_s'] <= CANCEL_P50_S)}"
        )


def slurm_main(args: argparse.Namespace) -> int:
    import workflow_slurm

    reason = workflow_slurm.why_not()
    if reason:
        print(f"cannot measure on Slurm here: {reason}")
        return 1
    results: dict[str, Any] = {"machine": machine(), "args": vars(args) | {"json": None}}
    print("cancel latency on the slurm profile (Slurm and a platform start first) ...", flush=True)
    with workflow_slurm.slurm_one_slot() as one_slot:
        results["cancel_slurm"] = {
            kind: cancel_latency(kind, args.cancel_repeats, one_slot) for kind in ("python", "exe")
        }
    print()
    print_cancel(results["cancel_slurm"], " on Slurm")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="worker processes (all three)")
    parser.add_argument("--tasks", type=int, default=2000, help="no-op tasks for throughput")
    parser.add_argument("--rounds", type=int, default=300, help="sequential round trips")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of all executors (best)")
    parser.add_argument("--cancel-repeats", type=int, default=10)
    parser.add_argument("--no-colmena", action="store_true", help="skip Colmena")
    parser.add_argument("--design", action="store_true", help="also example (b)'s comparison")
    parser.add_argument("--design-jets", type=int, default=200, help="jets per simulation")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--slurm",
        action="store_true",
        help="only cancel latency on the slurm profile (a real Slurm and platform; root)",
    )
    args = parser.parse_args(argv)
    if args.slurm:
        return slurm_main(args)

    results: dict[str, Any] = {"machine": machine(), "args": vars(args) | {"json": None}}
    runners: dict[str, Callable[[int, int, int, Path], dict[str, float]]] = {
        "parsl": plain_parsl,
        "hakutaku": campaign,
    }
    if not args.no_colmena and colmena_available():
        runners["colmena"] = colmena
    elif not args.no_colmena:
        print("colmena is not installed (pip install -e '.[bench]'): skipped")
    with tempfile.TemporaryDirectory(prefix="hai-bench-wf-") as tmp:
        base = Path(tmp)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in runners}
        for r in range(args.repeat):
            for name, runner in runners.items():
                print(f"[{r + 1}/{args.repeat}] {name}: {args.tasks} no-op tasks ...", flush=True)
                folder = base / f"{name}{r}"
                runs[name].append(runner(args.workers, args.tasks, args.rounds, folder))
        best = {
            name: {
                "tasks_per_s": max(m["tasks_per_s"] for m in ms),
                "latency_p50_ms": min(m["latency_p50_ms"] for m in ms),
                "latency_p99_ms": min(m["latency_p99_ms"] for m in ms),
            }
            for name, ms in runs.items()
        }
        results["noop"] = {"best": best, "runs": runs}
        print("cancel latency ...", flush=True)
        results["cancel"] = {
            kind: cancel_latency(kind, args.cancel_repeats, local_one_slot(base))
            for kind in ("python", "exe")
        }
        if args.design:
            from inverse_design import compare_search

            print("example (b): simulations to reach the target ...", flush=True)
            results["design"] = compare_search(jets=args.design_jets, run_dir=base / "design")

    ref = best["parsl"]
    print()
    print(f"{'executor':<12}{'tasks/s':>10}{'ratio':>8}{'p50 ms':>9}{'+ms':>7}{'p99 ms':>9}")
    for name, m in best.items():
        print(
            f"{name:<12}{m['tasks_per_s']:>10.0f}{m['tasks_per_s'] / ref['tasks_per_s']:>8.2f}"
            f"{m['latency_p50_ms']:>9.2f}{m['latency_p50_ms'] - ref['latency_p50_ms']:>+7.2f}"
            f"{m['latency_p99_ms']:>9.2f}"
        )
    ours = best["hakutaku"]
    ratio = ours["tasks_per_s"] / ref["tasks_per_s"]
    added = ours["latency_p50_ms"] - ref["latency_p50_ms"]
    print()
    print(f"throughput within 10 % of plain Parsl: {ratio:.2f}x  {verdict(ratio >= 0.9)}")
    print(f"added round-trip latency <= 1 ms: {added:+.2f} ms  {verdict(added <= 1.0)}")
    print_cancel(results["cancel"], "")
    if "design" in results:
        d = results["design"]
        print(
            f"example (b): simulations to reach the target: surrogate {d['surrogate']}, "
            f"random {d['random']}, grid {d['grid']} "
            f"({d['advantage']:.1f}x fewer than the better of the two)  "
            f"{verdict(d['advantage'] >= 3)}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
