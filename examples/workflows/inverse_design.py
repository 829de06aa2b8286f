"""Example (b), inverse design: tune Pythia's TimeShower:alphaSvalue so that generated QCD jets
match a target sample made at a value the search does not know, the way generators are tuned.

The objective is the chi-square of two jet observables against the target's: the mean jet
mass and the mean constituent multiplicity (the mass alone moves by ~10 GeV over the range,
about two of its standard errors at a few hundred jets; the multiplicity pins alpha_s down).
A surrogate of each observable (hakutaku.workflows.surrogate.Surrogate, an ensemble whose
spread enters the chi-square) steers the search: after three simulations spread over the
range, each next simulation is at the minimum of the predicted chi-square. The target is
reached when a simulation's chi-square is at most 2 (two observables, consistent within
errors). `--compare` also runs random search and a grid scan on the same objective and
counts the simulations each needed.

    .venv/bin/python examples/workflows/inverse_design.py                 # 200 jets a run
    .venv/bin/python examples/workflows/inverse_design.py --jets 40 --json out.json
    .venv/bin/python examples/workflows/inverse_design.py --compare
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import physics

from hakutaku.workflows import Campaign
from hakutaku.workflows.ensemble import Ensemble
from hakutaku.workflows.surrogate import Surrogate

LOW, HIGH = 0.06, 0.20  # the search range of alpha_s
HIDDEN_ALPHA = 0.118  # the target sample's value (the search never reads it)
TARGET_SEED, SEARCH_SEED = 1001, 7  # the target is an independent sample
REACHED = 2.0  # chi-square at or under which a simulation matches the target
OBSERVABLES = ("mass", "multiplicity")


def chi2(sim: dict[str, float], target: dict[str, float]) -> float:
    return sum(
        (sim[o] - target[o]) ** 2 / (sim[f"{o}_error"] ** 2 + target[f"{o}_error"] ** 2)
        for o in OBSERVABLES
    )


Simulate = Callable[[list[float]], list[dict[str, float]]]


def simulator(c: Campaign, jets: int) -> Simulate:
    """Simulations at several points, run as parallel tasks of the campaign."""

    def simulate(alphas: list[float]) -> list[dict[str, float]]:
        futures = [
            c.submit(physics.observables, round(a, 5), jets, SEARCH_SEED, pool="simulate")
            for a in alphas
        ]
        return [f.result() for f in futures]

    return simulate


def steered(simulate: Simulate, target: dict[str, float], budget: int) -> dict[str, Any]:
    """Surrogate-steered search: simulations until one reaches the target (or the budget)."""
    models = observable_models()
    runs: list[dict[str, float]] = []
    try:
        batch = [LOW + (HIGH - LOW) * f for f in (0.1, 0.5, 0.9)]
        while len(runs) < budget:
            for sim in simulate(batch[: budget - len(runs)]):
                runs.append(sim)
                for o, model in models.items():
                    model.add([sim["alpha"]], sim[o])
            if min(chi2(r, target) for r in runs) <= REACHED:
                break
            for model in models.values():
                model.retrain()  # now, not in the background: the next point needs it
            batch = [next_point(models, runs, target)]
    finally:
        for model in models.values():
            model.close()
    return outcome("surrogate", runs, target)


def observable_models() -> dict[str, Surrogate]:
    """A surrogate per observable. Their bound is never met: here they steer, they do not
    answer for the simulation. Both observables vary smoothly over the whole range, hence the
    long length scale (in units of the points' spread)."""
    return {
        o: Surrogate(
            physics.observables, bound=1e-9, min_real=2, ensemble=Ensemble(length_scale=1.0)
        )
        for o in OBSERVABLES
    }


def next_point(
    models: dict[str, Surrogate], runs: list[dict[str, float]], target: dict[str, float]
) -> float:
    """The minimum of the chi-square the surrogates predict (their spread counted as error),
    away from points already simulated and not far outside them (where an ensemble of
    Fourier features falls back to the data's mean and would fake a match)."""
    taken = np.array([r["alpha"] for r in runs])
    margin = 0.05 * (HIGH - LOW)
    grid = np.linspace(max(LOW, taken.min() - margin), min(HIGH, taken.max() + margin), 561)
    predicted = np.zeros_like(grid)
    for o, model in models.items():
        sim_error = float(np.mean([r[f"{o}_error"] for r in runs]))
        guesses = [model.predict([a]) for a in grid]
        mean = np.array([g[0] if g else np.nan for g in guesses])
        spread = np.array([g[1] if g else np.inf for g in guesses])
        predicted += (mean - target[o]) ** 2 / (
            sim_error**2 + target[f"{o}_error"] ** 2 + spread**2
        )
    too_close = np.min(np.abs(grid[:, None] - taken[None, :]), axis=1) < 1e-3
    predicted[too_close] = np.inf
    return float(grid[int(np.argmin(predicted))])


def random_search(
    simulate: Simulate, target: dict[str, float], budget: int, seed: int = 0
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    runs: list[dict[str, float]] = []
    while len(runs) < budget and not any(chi2(r, target) <= REACHED for r in runs):
        runs.extend(simulate(list(rng.uniform(LOW, HIGH, min(2, budget - len(runs))))))
    return outcome("random", runs, target)


def grid_scan(simulate: Simulate, target: dict[str, float], budget: int) -> dict[str, Any]:
    """A grid of `budget` points over the range, scanned from low to high two at a time."""
    points = list(np.linspace(LOW, HIGH, budget))
    runs: list[dict[str, float]] = []
    while points and not any(chi2(r, target) <= REACHED for r in runs):
        runs.extend(simulate(points[:2]))
        points = points[2:]
    return outcome("grid", runs, target)


def outcome(method: str, runs: list[dict[str, float]], target: dict[str, float]) -> dict[str, Any]:
    scores = [chi2(r, target) for r in runs]
    hits = [i for i, s in enumerate(scores) if s <= REACHED]
    best = int(np.argmin(scores))
    return {
        "method": method,
        "reached": bool(hits),
        "simulations": hits[0] + 1 if hits else len(runs),
        "simulated": len(runs),
        "best_alpha": runs[best]["alpha"],
        "best_chi2": scores[best],
    }


def tune(
    jets: int,
    budget: int,
    compare: bool,
    workers: int,
    run_dir: Path | None = None,
    database_url: str | None = None,
) -> dict[str, Any]:
    pools = {"simulate": workers}
    with Campaign("inverse-design", pools=pools, run_dir=run_dir, database_url=database_url) as c:
        target = c.submit(
            physics.observables, HIDDEN_ALPHA, 2 * jets, TARGET_SEED, pool="simulate"
        ).result()
        simulate = simulator(c, jets)
        results: dict[str, Any] = {"target": target}
        results["surrogate"] = steered(simulate, target, budget)
        if compare:
            results["random"] = random_search(simulate, target, 4 * budget)
            results["grid"] = grid_scan(simulate, target, 4 * budget)
        results["tasks"] = dict(c.counts)
    return results


def compare_search(jets: int, run_dir: Path, budget: int = 10) -> dict[str, Any]:
    """For bench/workflows.py: simulations each method needed, and the surrogate's advantage."""
    r = tune(jets, budget, True, os.cpu_count() or 2, run_dir, f"sqlite:///{run_dir}.db")
    best_other = min(r["random"]["simulations"], r["grid"]["simulations"])
    return {
        "jets": jets,
        "surrogate": r["surrogate"]["simulations"],
        "random": r["random"]["simulations"],
        "grid": r["grid"]["simulations"],
        "reached": {m: r[m]["reached"] for m in ("surrogate", "random", "grid")},
        "advantage": best_other / r["surrogate"]["simulations"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jets", type=int, default=200, help="jets per simulation")
    parser.add_argument("--budget", type=int, default=10, help="most simulations to steer")
    parser.add_argument("--compare", action="store_true", help="also random search and grid")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.jets < 10 or args.budget < 3:
        parser.error("give --jets >= 10 and --budget >= 3")
    results = tune(args.jets, args.budget, args.compare, args.workers)
    for method in ("surrogate", "random", "grid"):
        if method in results:
            r = results[method]
            print(
                f"{method:>9}: {'reached' if r['reached'] else 'did not reach'} the target in "
                f"{r['simulations']} simulations; best alpha_s {r['best_alpha']:.4f} "
                f"(chi2 {r['best_chi2']:.2f}; hidden value {HIDDEN_ALPHA})"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
