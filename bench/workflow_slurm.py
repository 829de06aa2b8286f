"""Cancel latency on the `slurm` profile, for bench/workflows.py --slurm: a real Slurm
(deploy/slurm, brought up as the tests do: tests/support/slurm.py, root only) and a real
platform on it; each one-slot campaign's block is the user's (alice's) platform job.

As in tests/workflows/test_slurm.py, the block job runs as alice while this process is root:
its workers use Debian's Python of the same version with this one's packages
(SlurmOptions.python = /usr/bin/python3.X), the interchange is not encrypted (its keys would
be private to root) and the campaign's folders are open to alice (umask 0).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hakutaku.workflows import Campaign, SlurmOptions

USER = "alice"
WORKER_PYTHON = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
CPU_BLOCK = {"partition": "cpu", "qos": "cpunormal", "account": "physics"}


def why_not() -> str | None:
    """Why the Slurm measurement cannot run here (None: it can)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.support.slurm import missing_slurm_binaries

    if os.geteuid() != 0:
        return "the Slurm daemons need root (run the bench as root)"
    missing = missing_slurm_binaries()
    if missing:
        return f"Slurm is not installed ({', '.join(missing)}): deploy/dev/install-services.sh"
    if not Path(WORKER_PYTHON).exists():
        return f"{WORKER_PYTHON} (the block user's Python) is not installed"
    return None


@contextmanager
def slurm_one_slot() -> Iterator[Callable[[str], Campaign]]:
    """A factory of one-slot campaigns on the slurm profile, while Slurm and a platform run."""
    from tests.support.processes import Platform
    from tests.support.slurm import SLURM_RUN, SlurmCluster

    cluster = SlurmCluster(SLURM_RUN)
    cluster.start()
    before = os.umask(0)
    try:
        with tempfile.TemporaryDirectory(prefix="hai-bench-wf-slurm-") as tmp:
            platform = Platform(
                Path(tmp) / "home",
                HAI_SCHEDULER_INTERVAL="0.5",
                **cluster.platform_env("bench-workflows"),
            ).start()
            try:
                key = platform.add_user_key(USER, groups=("physics",))
                folder = cluster.jobs_dir / f"bench-campaigns-{os.getpid()}"
                folder.mkdir(mode=0o777)

                def make(name: str) -> Campaign:
                    return Campaign(
                        name,
                        pools={"default": 1},
                        profile="slurm",
                        run_dir=folder / name,
                        database_url=f"sqlite:///{folder / name}.db",
                        slurm=SlurmOptions(
                            url=platform.url,
                            api_key=key,
                            python=WORKER_PYTHON,
                            encrypted=False,
                            walltime="0:10:00",
                            **CPU_BLOCK,
                        ),
                    )

                yield make
            finally:
                platform.stop()
    finally:
        os.umask(before)
        cluster.stop()
