"""Example (c), steering with kill: an ensemble of long simulations (QCD jets at several
values of Pythia's TimeShower:alphaSvalue, streamed chunk by chunk) where a model kills the
runs it judges useless — while they run, through the campaign's cancel of running tasks —
and starts new ones from better points.

Each simulation writes its running mean jet mass and constituent multiplicity after every
chunk. The steering agent reads them: a run whose running estimate is already incompatible
with the target sample (chi-square above --kill-chi2 after at least two chunks) is cancelled,
its process tree killed and its slot given to a new run at the point where surrogates of the
two observables (trained on every estimate so far, partial ones included) predict the target.

    .venv/bin/python examples/workflows/steer_kill.py                      # 8 chunks of 50 jets
    .venv/bin/python examples/workflows/steer_kill.py --chunks 5 --per-chunk 20 --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import physics
from inverse_design import (
    HIDDEN_ALPHA,
    HIGH,
    LOW,
    TARGET_SEED,
    chi2,
    next_point,
    observable_models,
)

from hakutaku.workflows import Campaign, TaskFuture

SEARCH_SEED = 11


def steer(chunks: int, per_chunk: int, runs: int, workers: int, kill_chi2: float) -> dict[str, Any]:
    with Campaign("steer-kill", pools={"simulate": workers}) as c:
        target = c.submit(
            physics.observables, HIDDEN_ALPHA, chunks * per_chunk, TARGET_SEED, pool="simulate"
        ).result()
        models = observable_models()
        started: list[TaskFuture] = []
        killed: dict[str, dict[str, float]] = {}  # task key -> its last estimate

        def start(alpha: float) -> None:
            started.append(
                c.submit(
                    physics.streamed_observables,
                    round(alpha, 5),
                    chunks,
                    per_chunk,
                    SEARCH_SEED,
                    pool="simulate",
                )
            )

        def estimates() -> list[dict[str, float]]:
            """Every run's latest estimate: final results, last words of killed runs and the
            progress of those running."""
            out = []
            for fut in started:
                if fut.key in killed:
                    out.append(killed[fut.key])
                elif fut.done() and fut.exception() is None:
                    out.append(fut.result())
                else:
                    progress = physics.read_progress(fut.task_dir)
                    if progress is not None:
                        out.append(progress)
            return out

        # the first runs spread over the range
        for i in range(workers):
            start(LOW + (HIGH - LOW) * (i + 0.5) / workers)
        try:
            while True:
                for fut in c.live():
                    progress = physics.read_progress(fut.task_dir)
                    if (
                        progress is not None
                        and progress["chunks_done"] >= 2
                        and chi2(progress, target) > kill_chi2
                        and fut.cancel()
                    ):
                        killed[fut.key] = progress | {"killed_at_chunk": progress["chunks_done"]}
                live = len(c.live())
                if live < workers and len(started) < runs:
                    points = estimates()
                    if len(points) < 2:  # too little to fit: the middle of the range
                        start((LOW + HIGH) / 2 + 1e-3 * len(started))
                        continue
                    for o, model in models.items():
                        model.x, model.y = [], []  # partial estimates change: refit on all
                        for p in points:
                            model.add([p["alpha"]], p[o])
                        model.retrain()
                    start(next_point(models, points, target))
                    continue
                if live == 0 and len(started) >= runs:
                    break
                time.sleep(0.1)
        finally:
            for model in models.values():
                model.close()
        c.wait()
        report = []
        for fut in started:
            row: dict[str, Any] = {"alpha": fut.spec.args[0], "state": fut.state}
            if fut.key in killed:
                row |= {
                    "killed_at_chunk": killed[fut.key]["killed_at_chunk"],
                    "chi2": chi2(killed[fut.key], target),
                }
            elif fut.state == "done":
                row["chi2"] = chi2(fut.result(), target)
            report.append(row)
        counts = dict(c.counts)
    completed = [r for r in report if r["state"] == "done"]
    best = min(completed, key=lambda r: r["chi2"]) if completed else None
    return {"target": target, "runs": report, "best": best, "tasks": counts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=8, help="chunks per simulation")
    parser.add_argument("--per-chunk", type=int, default=50, help="jets per chunk")
    parser.add_argument("--runs", type=int, default=8, help="simulations to start in all")
    parser.add_argument("--kill-chi2", type=float, default=9.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.chunks < 3 or args.per_chunk < 10 or args.runs < args.workers:
        parser.error("give --chunks >= 3, --per-chunk >= 10 and --runs >= --workers")
    result = steer(args.chunks, args.per_chunk, args.runs, args.workers, args.kill_chi2)
    for row in result["runs"]:
        extra = f" at chunk {row['killed_at_chunk']}" if "killed_at_chunk" in row else ""
        print(f"alpha_s {row['alpha']:.4f}: {row['state']}{extra}, chi2 {row.get('chi2', 0):.1f}")
    if result["best"]:
        print(f"best completed run: alpha_s {result['best']['alpha']:.4f} (hidden {HIDDEN_ALPHA})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
