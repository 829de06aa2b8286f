"""A campaign file the platform tests run with `hai workflows run`; its name and profile come
from the command line (`--name`, `--profile`), so the file's own are placeholders.

    hai workflows run tests/workflows/platform_campaign.py --name N -- count TASKS LOG SECONDS
    hai workflows run tests/workflows/platform_campaign.py --name N -- hold

count: TASKS counted tasks (every execution leaves a line in LOG); prints results and reuses.
hold: one task with two child processes and a card that runs until it is cancelled; prints
how it ended.
"""

from __future__ import annotations

import json
import sys

from hakutaku.workflows import Campaign, TaskCancelled
from tests.workflows import tasks


def main(argv: list[str]) -> None:
    mode = argv[0]
    with Campaign("from-the-file", pools={"default": 2}) as c:
        report: dict[str, object] = {"name": c.name, "profile": c.profile}
        if mode == "count":
            count, log, seconds = int(argv[1]), argv[2], float(argv[3])
            futures = [c.submit(tasks.counted, i, log, seconds) for i in range(count)]
            report["results"] = [f.result() for f in futures]
            report["reused"] = c.counts["reused"]
        elif mode == "hold":
            held = c.submit(tasks.sleep_tree, 300, 2, cards=1)
            try:
                held.result()
                report["outcome"] = "done"
            except TaskCancelled:
                report["outcome"] = "cancelled"
        else:
            raise SystemExit(f"unknown mode {mode!r}: use count or hold")
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
