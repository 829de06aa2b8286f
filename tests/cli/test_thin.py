"""The CLI is thin over the SDK: no private request methods, no raw API paths.

Only the commands that start processes (`hai up`, `hai serve`, `hai worker`) speak HTTP
themselves, to wait for what they started.
"""

from __future__ import annotations

import re
from pathlib import Path

import hakutaku.cli

CLI = Path(hakutaku.cli.__file__).parent
STARTS_PROCESSES = {"up.py", "serve.py", "worker.py"}
PRIVATE = re.compile(r"\._(request_json|request|send|json|object|objects|open|stream|http)\b")
RAW_PATH = re.compile(r"""["'](/api/|/v1/)""")
HTTP_CLIENT = re.compile(r"^\s*(import httpx|from httpx\b)", re.MULTILINE)


def modules() -> list[Path]:
    found = sorted(CLI.glob("*.py"))
    assert len(found) > 5, CLI
    return found


def test_no_command_calls_the_sdks_private_request_methods() -> None:
    offenders = {
        f"{path.name}:{n}": line.strip()
        for path in modules()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if PRIVATE.search(line)
    }
    assert offenders == {}


def test_no_command_writes_api_paths_or_makes_its_own_http_client() -> None:
    for path in modules():
        if path.name in STARTS_PROCESSES:
            continue
        text = path.read_text()
        assert not RAW_PATH.search(text), f"{path.name} names an API path; use the SDK"
        assert not HTTP_CLIENT.search(text), f"{path.name} imports httpx; use the SDK"
