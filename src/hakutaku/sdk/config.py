"""Where a client finds the platform and its key: arguments, then the environment.

The SDK needs only a URL and an API key; it never reads the server's settings
(`hakutaku.config`, `hai.toml`). Each is taken from the first of:

base URL
    1. the `base_url` argument of `Client(...)`;
    2. `HAI_URL`, e.g. `https://hai.example.org`;
    3. `http://HAI_HOST:HAI_PORT` (default `http://127.0.0.1:8000`; a server host of `0.0.0.0`
       is reached at `127.0.0.1`).

API key
    1. the `api_key` argument;
    2. `HAI_API_KEY`;
    3. the bootstrap admin key file `$HAI_HOME/bootstrap-admin.key` (`HAI_HOME` defaults to
       `~/.hakutaku`) when it is readable, that is on the server host as its owner.

Empty variables count as unset.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
BOOTSTRAP_KEY_FILE = "bootstrap-admin.key"


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def hai_home() -> Path:
    """`HAI_HOME`, else `~/.hakutaku`: where the bootstrap key and the client's caches live."""
    home = _env("HAI_HOME")
    return Path(home).expanduser() if home else Path.home() / ".hakutaku"


def bootstrap_key_path() -> Path:
    return hai_home() / BOOTSTRAP_KEY_FILE


def base_url(explicit: str | None = None) -> str:
    """The platform's URL, without a trailing slash."""
    url = explicit or _env("HAI_URL")
    if url is None:
        host = _env("HAI_HOST") or DEFAULT_HOST
        if host == "0.0.0.0":  # where a server listens on every interface, not an address
            host = DEFAULT_HOST
        port = _env("HAI_PORT") or str(DEFAULT_PORT)
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"HAI_PORT={port!r} is not a port number; set it to e.g. 8000")
        url = f"http://{host}:{port}"
    return url.rstrip("/")


def api_key(explicit: str | None = None) -> str | None:
    """The API key to send, or None when there is none."""
    return explicit or _env("HAI_API_KEY") or _read_key(bootstrap_key_path())


def _read_key(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:  # absent, or not ours to read
        return None
