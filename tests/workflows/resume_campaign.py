"""A campaign the resume test runs as a real process, kills, and runs again.

usage: python -m tests.workflows.resume_campaign RUN_DIR DATABASE_URL LOG TASKS
"""

from __future__ import annotations

import json
import sys

from hakutaku.workflows import Campaign
from tests.workflows import tasks


def main(run_dir: str, url: str, log: str, count: int) -> None:
    with Campaign("resume", pools={"default": 2}, run_dir=run_dir, database_url=url) as c:
        futures = [c.submit(tasks.counted, i, log, 0.3) for i in range(count)]
        results = [f.result() for f in futures]
        print(json.dumps({"results": results, "reused": c.counts["reused"]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
