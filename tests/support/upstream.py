"""Starting the TEST DOUBLE of a paid provider (upstream_double.py) for a test module."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.processes import free_port, wait_until

SCRIPT = Path(__file__).with_name("upstream_double.py")


@contextmanager
def upstream_double(key: str) -> Iterator[str]:
    """The double on a free loopback port, accepting the bearer `key`: its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(port), key])
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: httpx.get(f"{url}/_last", timeout=1).status_code == 200, 30, "the double"
        )
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
