"""HaiChat benchmarks, by part (`--part`):

- `history`: the chat pages' server time with 10 000 conversations and a 500-message one,
  against a trivial page in the same run (bench/chat_history.py; docs/performance.md, Chat
  history).

    .venv/bin/python bench/chat.py --part history                 # SQLite, ~30 s
    .venv/bin/python bench/chat.py --part history --db both --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chat_history  # bench/ is not a package: its folder is on sys.path above

# -- history ------------------------------------------------------------------------------


def history(args: argparse.Namespace, results: dict[str, Any]) -> bool:
    return chat_history.history_main(args, results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["history"], default="history")
    chat_history.add_history_arguments(parser)
    parser.add_argument("--json", type=Path, help="Write the results here.")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(),
        "machine": f"{platform.node()} {os.cpu_count()} CPUs",
        "load": os.getloadavg()[0],
    }
    ok = history(args, results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
