"""Example (d), surrogate switching with an error bound: a scan over Pythia's
TimeShower:alphaSvalue asks for the mean constituent multiplicity of QCD jets at each point.
A `Surrogate` answers: by a real simulation (a task of the campaign) while its ensemble's
spread at the point is above --bound, by the ensemble once it is under it. Every real answer
retrains the ensemble in the background; every --audit-every-th surrogate answer is also
simulated for real, and the audited errors say whether the bound was a good one.

    .venv/bin/python examples/workflows/surrogate_switch.py                  # 40 points, 100 jets
    .venv/bin/python examples/workflows/surrogate_switch.py --queries 16 --jets 40 --bound 1.5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import physics
from inverse_design import HIGH, LOW

from hakutaku.workflows import Campaign
from hakutaku.workflows.ensemble import Ensemble
from hakutaku.workflows.surrogate import Surrogate


def scan(
    queries: int, jets: int, bound: float, min_real: int, audit_every: int, workers: int
) -> dict[str, Any]:
    points = np.random.default_rng(3).uniform(LOW, HIGH, queries).round(5)
    answers: list[dict[str, Any]] = []
    with Campaign("surrogate-switch", pools={"simulate": workers}) as c:
        s = Surrogate(
            physics.MeanMultiplicity(jets, seed=5),
            bound=bound,
            min_real=min_real,
            audit_every=audit_every,
            campaign=c,
            pool="simulate",
            ensemble=Ensemble(length_scale=2.0, ridge=0.1),  # smooth, and noisy data
        )
        try:
            for alpha in points:
                # the model is trained on every real answer so far before it is asked (the
                # background retraining would otherwise decide by timing who answers)
                if s.counts["real"] >= min_real:
                    s.wait_trained(s.counts["real"])
                answer = s.ask(float(alpha))
                answers.append(
                    {
                        "alpha": float(alpha),
                        "value": answer.value,
                        "source": answer.source,
                        "spread": answer.spread,
                    }
                )
        finally:
            s.close()
        tasks = dict(c.counts)
    return {
        "bound": bound,
        "answers": answers,
        "counts": dict(s.counts),
        "audit_errors": list(s.audit_errors),
        "tasks": tasks,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=40, help="points the scan asks for")
    parser.add_argument("--jets", type=int, default=100, help="jets per real simulation")
    parser.add_argument("--bound", type=float, default=1.0, help="largest spread answered")
    parser.add_argument("--min-real", type=int, default=6, help="real answers before training")
    parser.add_argument("--audit-every", type=int, default=4)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.queries < 1 or args.jets < 10 or args.bound <= 0:
        parser.error("give --queries >= 1, --jets >= 10 and a positive --bound")
    r = scan(args.queries, args.jets, args.bound, args.min_real, args.audit_every, args.workers)
    errors = r["audit_errors"]
    print(
        f"{r['counts']['real']} real simulations, {r['counts']['surrogate']} surrogate answers "
        f"(bound {args.bound}), {r['counts']['audits']} audits"
        + (f": error mean {np.mean(errors):.2f}, max {np.max(errors):.2f}" if errors else "")
    )
    if args.json:
        args.json.write_text(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
