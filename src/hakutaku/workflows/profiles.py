"""Where a campaign's tasks run: a Parsl configuration by profile name.

`local`: Parsl's HighThroughputExecutor on this machine's processes (the laptop).
`slurm`: the same executor whose blocks are Slurm jobs submitted by Parsl's SlurmProvider with
the user's partition, QOS and account (Slurm holds them to the user's limits).
The campaign file is the same for both; only the profile changes.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.executors.high_throughput import executor as htex_module
from parsl.providers import LocalProvider, SlurmProvider
from parsl.providers.base import ExecutionProvider

from hakutaku.workflows.errors import WorkflowError

PROFILES = ("local", "slurm")
LABEL = "hai"


@dataclass(frozen=True, slots=True)
class SlurmOptions:
    partition: str | None = None
    qos: str | None = None
    account: str | None = None
    walltime: str = "00:30:00"
    nodes: int = 1


def worker_init() -> str:
    """Workers run this interpreter with the steering process's import path, so the functions
    a campaign file defines next to it are importable in its workers too."""
    paths = [
        p for p in (os.getcwd(), *sys.path) if p and Path(p).is_dir() and not _shadows_stdlib(p)
    ]
    bin_dir = Path(sys.executable).parent
    return (
        f"export PATH={shlex.quote(str(bin_dir))}:$PATH; "
        f"export PYTHONPATH={shlex.quote(os.pathsep.join(dict.fromkeys(paths)))}"
    )


def _shadows_stdlib(folder: str) -> bool:
    """Whether `folder` holds a module named like one of the standard library's (a `json.py`).

    PYTHONPATH comes before the standard library, so such a folder would break the workers'
    own imports (Parsl's among them) before any task ran."""
    try:
        names = {Path(entry).stem for entry in os.listdir(folder)}
    except OSError:
        return True
    return not names.isdisjoint(sys.stdlib_module_names)


def parsl_config(
    profile: str, workers: int, run_dir: Path, slurm: SlurmOptions | None = None
) -> Config:
    """The Parsl configuration of a campaign with `workers` task slots."""
    if profile not in PROFILES:
        raise WorkflowError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
    if workers < 1:
        raise WorkflowError("a campaign needs at least one CPU in its pools")
    provider: ExecutionProvider
    if profile == "local":
        provider = LocalProvider(
            init_blocks=1, min_blocks=1, max_blocks=1, worker_init=worker_init()
        )
    else:
        options = slurm or SlurmOptions()
        provider = SlurmProvider(
            partition=options.partition,
            qos=options.qos,
            account=options.account,
            nodes_per_block=options.nodes,
            cores_per_node=workers,
            init_blocks=1,
            min_blocks=1,
            max_blocks=1,
            walltime=options.walltime,
            exclusive=False,
            worker_init=worker_init(),
        )
    # Parsl finds its interchange and worker pool scripts on PATH; a virtual environment that
    # is not activated has them only next to its interpreter, so name them with it.
    scripts = Path(htex_module.__file__).parent
    executor = HighThroughputExecutor(
        label=LABEL,
        interchange_launch_cmd=[sys.executable, str(scripts / "interchange.py")],
        launch_cmd=htex_module.DEFAULT_LAUNCH_CMD.replace(
            "process_worker_pool.py",
            f"{shlex.quote(sys.executable)} {shlex.quote(str(scripts / 'process_worker_pool.py'))}",
            1,
        ),
        provider=provider,
        address="127.0.0.1" if profile == "local" else None,
        max_workers_per_node=workers,
        cores_per_worker=1,
        # A task's cores are pinned by the platform (per task), not per Parsl worker.
        cpu_affinity="none",
        heartbeat_period=5,
        heartbeat_threshold=30,
        worker_logdir_root=str(run_dir / "parsl-workers"),
    )
    return Config(
        executors=[executor],
        run_dir=str(run_dir / "parsl"),
        strategy="none" if profile == "local" else "simple",
        initialize_logging=False,
        usage_tracking=0,
        # The platform retries tasks itself (and journals every attempt).
        retries=0,
    )
