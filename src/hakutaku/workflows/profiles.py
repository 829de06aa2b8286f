"""Where a campaign's tasks run: a Parsl configuration by profile name.

`local`: Parsl's HighThroughputExecutor on this machine's processes (the laptop).
`slurm`: the same executor whose blocks are the user's platform jobs (PlatformProvider: through
the SDK, with the user's partition, QOS and account, held to their limits, in `hai jobs list`
and the ledger) when a platform is configured (SlurmOptions.url/api_key, else HAI_URL or
HAI_API_KEY); without one, Parsl's SlurmProvider submits them to Slurm directly.
`platform`: the same as `slurm`, but a platform is required (on a laptop whose platform runs
jobs on its local backend, the blocks are local processes).
The campaign file is the same for all; only the profile changes.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.executors.high_throughput import executor as htex_module
from parsl.providers import LocalProvider, SlurmProvider
from parsl.providers.base import ExecutionProvider

from hakutaku.sdk import config as sdk_config
from hakutaku.sdk.client import Client
from hakutaku.workflows.errors import WorkflowError
from hakutaku.workflows.platform_provider import BlockResources, PlatformProvider

PROFILES = ("local", "slurm", "platform")
LABEL = "hai"
# Where the workers reach the steering process's interchange (an address of this host).
ADDRESS_VARIABLE = "HAI_WORKFLOW_ADDRESS"
PYTHON_VARIABLE = "HAI_WORKFLOW_PYTHON"


@dataclass(frozen=True, slots=True)
class SlurmOptions:
    """The blocks' resources, and the platform they are submitted through.

    `url`/`api_key` default to the SDK's (HAI_URL, HAI_API_KEY); `address` is where the
    workers reach the interchange (default HAI_WORKFLOW_ADDRESS, else loopback when the
    platform is on loopback, else every address of this host, probed by the workers).
    `python`, `encrypted` and `address` apply to the `local` profile too."""

    partition: str | None = None
    qos: str | None = None
    account: str | None = None
    walltime: str = "00:30:00"
    nodes: int = 1
    gpus: str | None = None
    mem: str | None = None
    url: str | None = None
    api_key: str | None = None
    address: str | None = None
    # The workers' interpreter on the nodes (default HAI_WORKFLOW_PYTHON, else this one): the
    # same Python version, with this one's packages on its path.
    python: str | None = None
    # CurveZMQ between interchange and workers. Its keys are private to the steering process's
    # Unix user, so workers running as another user need False (on a network you trust).
    encrypted: bool = True


def _env(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


def platform_configured(options: SlurmOptions) -> bool:
    """Whether the blocks go through a platform: one is named here or in the environment."""
    return bool(options.url or options.api_key or _env("HAI_URL"))


def platform_client(options: SlurmOptions) -> Client:
    try:
        return Client(options.url, options.api_key, timeout=60)
    except ValueError as exc:
        raise WorkflowError(
            f"the {options.url or sdk_config.base_url()} platform needs the user's API key for "
            "the campaign's block jobs: set HAI_API_KEY (`hai keys create`) or "
            "SlurmOptions(api_key=...)"
        ) from exc


def interchange_address(options: SlurmOptions, platform_url: str | None) -> str | None:
    """The address workers connect to; None lets Parsl's workers probe all of this host's."""
    chosen = options.address or _env(ADDRESS_VARIABLE)
    if chosen:
        return chosen
    host = urlsplit(platform_url).hostname if platform_url else None
    if host in ("localhost", None) and platform_url:
        return "127.0.0.1"
    try:
        if host and ipaddress.ip_address(host).is_loopback:
            return "127.0.0.1"  # the platform's backend runs jobs on this machine
    except ValueError:
        pass  # a host name
    return None


def worker_init() -> str:
    """Workers run this interpreter with the steering process's import path, so the functions
    a campaign file defines next to it are importable in its workers too. The standard
    library is left out: every interpreter has its own (the workers' may be another install
    of the same version, HAI_WORKFLOW_PYTHON)."""
    stdlib = {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")}
    stdlib |= {str(Path(p) / "lib-dynload") for p in stdlib}
    paths = [
        p
        for p in (os.getcwd(), *sys.path)
        if p and p not in stdlib and Path(p).is_dir() and not _shadows_stdlib(p)
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
    profile: str,
    workers: int,
    run_dir: Path,
    slurm: SlurmOptions | None = None,
    *,
    campaign: str = "workflow",
    prefetch: int = 0,
) -> Config:
    """The Parsl configuration of a campaign with `workers` task slots (CPUs), plus
    `prefetch` Parsl workers more for tasks that wait there for their lease (they use no CPU
    while they wait; see hakutaku.workflows.leases)."""
    if profile not in PROFILES:
        raise WorkflowError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
    if workers < 1:
        raise WorkflowError("a campaign needs at least one CPU in its pools")
    options = slurm or SlurmOptions()
    python = options.python or _env(PYTHON_VARIABLE) or sys.executable
    provider: ExecutionProvider
    address: str | None = options.address or _env(ADDRESS_VARIABLE)
    if profile == "local":
        provider = LocalProvider(
            init_blocks=1, min_blocks=1, max_blocks=1, worker_init=worker_init()
        )
        address = address or "127.0.0.1"
    elif profile == "platform" or platform_configured(options):
        if options.nodes != 1:
            raise WorkflowError(
                "a platform block is one job on one node; use nodes=1 (more CPUs: bigger pools)"
            )
        client = platform_client(options)
        provider = PlatformProvider(
            client,
            BlockResources(
                cpus=workers,
                partition=options.partition,
                qos=options.qos,
                account=options.account,
                walltime=options.walltime,
                gpus=options.gpus,
                mem=options.mem,
            ),
            worker_init=worker_init(),
            name=f"workflow-{campaign}",
        )
        address = interchange_address(options, client.base_url)
    else:
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
            f"{shlex.quote(python)} {shlex.quote(str(scripts / 'process_worker_pool.py'))}",
            1,
        ),
        provider=provider,
        address=address,
        encrypted=options.encrypted,
        max_workers_per_node=workers + prefetch,
        # Parsl starts min(max_workers_per_node, cores of the node / cores_per_worker) workers;
        # the campaign counts CPUs itself, so the node's core count must not cap the workers.
        cores_per_worker=1 / (workers + prefetch),
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
