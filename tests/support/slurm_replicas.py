"""Two `hai serve` replicas on one PostgreSQL and the real Slurm, for the tests of what exactly
one replica may do (follow the jobs, list the nodes).

Each replica gets its own HAI_SLURM_BIN: Slurm's tools, where the watched ones are behind a
script that notes "UNIX-TIME REPLICA TOOL" in a shared log before it runs Slurm's own. Jobs run
as a real user, so their folders live under the cluster's shared folder, on a cluster where
every replica and node mounts the same storage (SlurmCluster.platform_env).
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hakutaku.db.lease import read_lease
from hakutaku.db.session import Database
from tests.support.processes import Platform
from tests.support.slurm import SlurmCluster

SLURM_TOOLS = ("sbatch", "scancel", "sacctmgr", "scontrol", "squeue", "sacct", "sinfo")
EVERY_CALL = "*"


def noting_slurm_bin(folder: Path, replica: str, calls: Path, watched: Mapping[str, str]) -> Path:
    """Slurm's tools for `replica`; `watched` maps a tool to the shell `case` pattern its
    arguments (as " $* ") must match to be noted: EVERY_CALL, or e.g. '*" nodes "*'."""
    folder.mkdir(parents=True)
    for tool in SLURM_TOOLS:
        real = shutil.which(tool) or f"/usr/bin/{tool}"
        if tool not in watched:
            (folder / tool).symlink_to(real)
            continue
        note = f'printf "%s {replica} {tool}\\n" "$(date +%s.%N)" >> {shlex.quote(str(calls))}'
        script = folder / tool
        script.write_text(
            "#!/bin/bash\n"
            f'case " $* " in {watched[tool]}) {note} ;; esac\n'
            f'exec {shlex.quote(real)} "$@"\n'
        )
        script.chmod(0o755)
    return folder


@dataclass
class ReplicaPair:
    one: Platform
    two: Platform
    calls: Path  # "UNIX-TIME REPLICA TOOL" a line, one per watched call
    database_url: str
    key: str  # alice's (group physics), valid on both

    def calls_by(self, replica: str, since: float = 0.0) -> list[float]:
        """When `replica` ran a watched tool, at or after `since`."""
        if not self.calls.exists():
            return []
        times = []
        for line in self.calls.read_text().splitlines():
            stamp, who, _tool = line.split()
            if who == replica and float(stamp) >= since:
                times.append(float(stamp))
        return times

    def lease_holder_pid(self, lease_name: str) -> int | None:
        db = Database(self.database_url)
        try:
            with db.session() as s:
                lease = read_lease(s, lease_name)
        finally:
            db.dispose()
        if lease is None or lease.holder is None:
            return None
        return int(lease.holder.split(":")[-2])


@contextmanager
def two_replicas(
    cluster: SlurmCluster,
    database_url: str,
    base: Path,
    watched: Mapping[str, str],
    **env: str,
) -> Iterator[ReplicaPair]:
    """Replicas "one" (started first) and "two" of one platform, with the user alice, stopped
    when the block ends; `env` adds to (or overrides) their common settings."""
    calls = base / "calls.log"
    common = {**cluster.platform_env(base.name), **env}
    one = Platform(
        base / "one",
        database_url=database_url,
        HAI_SLURM_BIN=str(noting_slurm_bin(base / "bin-one", "one", calls, watched)),
        **common,
    ).start()
    secret = (one.home / "server.secret").read_text().strip()
    two = Platform(
        base / "two",
        database_url=database_url,
        HAI_SERVER_SECRET=secret,
        HAI_SLURM_BIN=str(noting_slurm_bin(base / "bin-two", "two", calls, watched)),
        **common,
    )
    try:
        two.start()
        key = one.add_user_key("alice", groups=("physics",))
        yield ReplicaPair(one, two, calls, database_url, key)
    finally:
        two.stop()
        one.stop()
