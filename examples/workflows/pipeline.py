"""Example (a), a multistage pipeline in one campaign: Pythia 8 jet generation in parallel
tasks -> a short tagger training (ParticleNet by default) -> evaluation on held-out jets ->
the weights registered in the hub with their metrics.

    .venv/bin/python examples/workflows/pipeline.py                  # 200 jets per chunk
    .venv/bin/python examples/workflows/pipeline.py --jets 30 --epochs 1 --json out.json

Generation runs in the "simulate" pool (one task per process and chunk), training and
evaluation in the "train" pool, each stage started as soon as the tasks it needs are done.
Run it again with the same arguments and it resumes: finished tasks are answered from the
journal and not rerun. The hub is a folder (HAI_HUB_DIR, else $HAI_HOME/hub, or --hub).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import physics

from hakutaku import hub
from hakutaku.hub.store import FolderHub
from hakutaku.workflows import Campaign

PROCESSES = ("qcd", "ttbar")  # background first: the AUC is top against QCD


def pipeline(
    jets: int, chunks: int, epochs: int, model: str, workers: int, hub_dir: Path | None
) -> dict[str, Any]:
    with Campaign("pipeline", pools={"simulate": workers, "train": 1}) as c:
        data = c.run_dir / "data"
        # stage 1: chunks 0..chunks-1 to train on, chunk `chunks` held out for evaluation
        generated = {
            (process, chunk): c.submit(
                physics.generate_file, process, jets, 1, chunk, str(data), pool="simulate"
            )
            for process in PROCESSES
            for chunk in range(chunks + 1)
        }
        train_files = [generated[p, k].result() for p in PROCESSES for k in range(chunks)]
        test_files = [generated[p, chunks].result() for p in PROCESSES]
        # stage 2 and 3: train, then evaluate on the held-out chunk
        model_dir = str(c.run_dir / "model")
        last_epoch = c.submit(
            physics.train_tagger, train_files, model_dir, model, epochs, pool="train"
        ).result()
        metrics = c.submit(physics.evaluate_tagger, model_dir, test_files, pool="train").result()
        counts = dict(c.counts)
    # stage 4: register the weights (named by their hash: a resumed run registers them once)
    weights = Path(model_dir) / "model.pt"
    version = f"pipeline-{hashlib.sha256(weights.read_bytes()).hexdigest()[:12]}"
    store = FolderHub(hub_dir) if hub_dir else None
    if version not in [card.version for card in hub.list_weights(model, hub=store)]:
        hub.register_weights(
            model,
            weights,
            version=version,
            config={"features": "kin", "num_classes": 2},
            training_data=f"{jets * chunks} top + {jets * chunks} QCD jets, Pythia 8, no MPI "
            "(examples/workflows/pipeline.py)",
            metrics={"test_auc": metrics["auc"], "test_accuracy": metrics["accuracy"]},
            description="trained by the workflows pipeline example",
            hub=store,
        )
    return {
        "train_files": train_files,
        "test_files": test_files,
        "last_epoch": last_epoch,
        "test": metrics,
        "hub_version": version,
        "tasks": counts,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jets", type=int, default=200, help="jets per process and chunk")
    parser.add_argument("--chunks", type=int, default=2, help="training chunks per process")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--model", default="particlenet", help="a hub architecture")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--hub", type=Path, help="a hub folder (default: HAI_HUB_DIR)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.jets < 10 or args.chunks < 1 or args.epochs < 1:
        parser.error("give --jets >= 10, --chunks >= 1 and --epochs >= 1")
    result = pipeline(args.jets, args.chunks, args.epochs, args.model, args.workers, args.hub)
    print(
        f"trained {args.model} on {len(result['train_files'])} files, test AUC "
        f"{result['test']['auc']:.3f}, registered as {args.model}/{result['hub_version']}; "
        f"tasks {result['tasks']}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
