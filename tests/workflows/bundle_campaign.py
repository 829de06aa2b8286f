"""A campaign the bundle resume test runs as a real process, kills in the middle of a bundle,
and runs again.

usage: python -m tests.workflows.bundle_campaign RUN_DIR DATABASE_URL LOG GATE TASKS WAIT_AT

One slot and no prefetch: after a few tasks that teach the campaign that "step" is short,
TASKS steps are submitted at once; the first runs alone, the others go to Parsl as one bundle.
Step WAIT_AT waits for the GATE file (absent in the first run: it holds the bundle there).
"""

from __future__ import annotations

import json
import sys

from hakutaku.workflows import Campaign
from tests.workflows import tasks


def main(run_dir: str, url: str, log: str, gate: str, count: int, wait_at: int) -> None:
    with Campaign(
        "bundle-resume", pools={"default": 1}, run_dir=run_dir, database_url=url, prefetch=0
    ) as c:
        for i in range(3):
            c.submit(tasks.gated, -1 - i, log + ".warm", "", name="step").result()
        futures = [
            c.submit(tasks.gated, i, log, gate if i == wait_at else "", name="step")
            for i in range(count)
        ]
        results = [f.result() for f in futures]
        report = {"results": results, "reused": c.counts["reused"], "bundled": c.bundled}
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5], int(sys.argv[5]), int(sys.argv[6]))
