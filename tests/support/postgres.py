"""A private PostgreSQL server for tests: initdb in a temp dir, started and stopped by PID.

Binaries come from Debian's packages (installed by deploy/dev/install-services.sh). As root,
the server runs as the `postgres` system user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    def __init__(self, base: Path, port: int) -> None:
        self.bin = pg_bin()
        if self.bin is None:
            raise FileNotFoundError(
                "PostgreSQL server binaries not found; "
                "run `sudo bash deploy/dev/install-services.sh`"
            )
        self.base = base
        self.data = base / "data"
        self.port = port
        self.pid: int | None = None
        self.as_root = os.geteuid() == 0

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, check=True, capture_output=True, text=True)

    def start(self) -> str:
        self.base.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            shutil.chown(self.base, "postgres", "postgres")
        self._run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "hai",
                "--auth=trust",
                "-E",
                "UTF8",
            ]
        )
        log = self.base / "postgres.log"
        self._run(
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "-o",
                f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                f"-c unix_socket_directories={self.base} -c fsync=off",
                "start",
            ]
        )
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])
        url = f"postgresql://hai@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE hakutaku")
        return f"postgresql+psycopg://hai@127.0.0.1:{self.port}/hakutaku"

    def stop(self) -> None:
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGINT)  # fast shutdown
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(self.pid, signal.SIGKILL)


def fresh_database(server_url: str, prefix: str) -> str:
    """A new, empty database `<prefix>_<random>` on the session's server: its URL, password kept
    (others' tables are not ours)."""
    import uuid

    from sqlalchemy import create_engine, make_url, text

    from hakutaku.db.session import normalise_url

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(normalise_url(server_url)).set(database=name).render_as_string(False)
