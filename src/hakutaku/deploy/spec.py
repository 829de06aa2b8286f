"""What a deployment asks for, checked, and the worker job that runs one replica of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hakutaku.compute.request import JobSubmission
from hakutaku.compute.units import parse_duration
from hakutaku.db.models import Deployment
from hakutaku.errors import PlatformError

# What a replica runs: a class in a file, a class in an importable module, a hub weights
# version (served by the jet-tagger backend), or an OpenAI-compatible server command.
KINDS = ("worker", "module", "hub", "openai-server")
MAX_REPLICAS = 64


@dataclass
class DeploymentSpec:
    name: str
    kind: str
    target: str
    partition: str | None = None
    qos: str | None = None
    account: str | None = None
    gpus: str | None = None
    cpus: int = 1
    mem: str = "2G"
    time: str | None = None
    min_replicas: int = 1
    max_replicas: int = 1
    target_inflight: float = 4.0
    idle_timeout: str | int = "15m"


def idle_seconds(value: str | int) -> int:
    """`15m`, `90s`, `1:00:00` or seconds."""
    if isinstance(value, int):
        seconds = value
    else:
        text = value.strip()
        try:
            if text.endswith("s") and text[:-1].isdigit():
                seconds = int(text[:-1])
            elif text.endswith("m") and text[:-1].isdigit():
                seconds = int(text[:-1]) * 60
            elif text.endswith("h") and text[:-1].isdigit():
                seconds = int(text[:-1]) * 3600
            elif text.isdigit():
                seconds = int(text)
            else:
                seconds = parse_duration(text)
        except ValueError:
            seconds = -1
    if seconds < 1:
        raise PlatformError(
            f"Cannot read the idle timeout {value!r}: write e.g. 15m, 90s or 1h.",
            param="idle_timeout",
        )
    return seconds


def check_replicas(min_replicas: int, max_replicas: int) -> None:
    if min_replicas < 0 or max_replicas < 1 or min_replicas > max_replicas:
        raise PlatformError(
            f"Replicas must satisfy 0 ≤ min ≤ max and max ≥ 1, not min={min_replicas} "
            f"max={max_replicas}.",
            param="min_replicas",
        )
    if max_replicas > MAX_REPLICAS:
        raise PlatformError(
            f"At most {MAX_REPLICAS} replicas per deployment, not {max_replicas}.",
            param="max_replicas",
        )


def check_target(kind: str, target: str) -> None:
    """Refuse a target that cannot work, saying what to write."""
    if kind not in KINDS:
        raise PlatformError(
            f"Unknown deployment kind {kind!r}; choose one of {', '.join(KINDS)}.", param="kind"
        )
    if not target.strip():
        raise PlatformError("The deployment has nothing to run: give its target.", param="target")
    if kind == "worker":
        path, colon, cls = target.rpartition(":")
        if not colon or not path.endswith(".py") or not cls:
            raise PlatformError(
                f"--worker takes /path/to/file.py:Class, not {target!r}.", param="target"
            )
        if not Path(path).is_absolute():
            raise PlatformError(
                f"The worker file {path!r} must be an absolute path the jobs can read "
                "(`hai deploy create` makes it absolute for you).",
                param="target",
            )
    elif kind == "openai-server" and "{port}" not in target:
        raise PlatformError(
            "--openai-server takes the server's command with {port} where its port goes, e.g. "
            "'vllm serve /models/Qwen2.5-7B-Instruct --port {port}'.",
            param="target",
        )
    elif kind in ("module", "hub"):
        left, colon, right = target.partition(":")
        if not colon or not left or not right:
            example = "package.module:Class" if kind == "module" else "ARCH:VERSION"
            raise PlatformError(f"--{kind} takes {example}, not {target!r}.", param="target")


def check_spec(spec: DeploymentSpec) -> int:
    """Check everything that does not need the database; the idle timeout in seconds."""
    check_target(spec.kind, spec.target)
    check_replicas(spec.min_replicas, spec.max_replicas)
    if spec.target_inflight <= 0:
        raise PlatformError(
            f"--target-inflight must be positive, not {spec.target_inflight}.",
            param="target_inflight",
        )
    if spec.cpus < 1:
        raise PlatformError(f"cpus must be at least 1, not {spec.cpus}.", param="cpus")
    return idle_seconds(spec.idle_timeout)


def replica_submission(
    d: Deployment,
    token: str,
    host: str,
    generation: int,
    python: str,
    *,
    program: str | None = None,
    env: dict[str, str] | None = None,
) -> JobSubmission:
    """The job of one replica: `hai worker` with the deployment's scoped token, run by
    `python` (HAI_DEPLOY_PYTHON or the server's own: one the job's user can execute)."""
    command = [
        python, "-m", "hakutaku", "worker", program or d.target,
        "--name", d.name, "--host", host, "--port", "0",
    ]  # fmt: skip
    return JobSubmission(
        command=command,
        name=f"deploy:{d.name}:{generation}"[:128],
        partition=d.partition,
        qos=d.qos,
        account=d.account,
        cpus=d.cpus,
        mem=d.mem,
        gpus=d.gpus,
        time=d.time,
        env={**(env or {}), "HAI_WORKER_TOKEN": token, "HAI_DEPLOYMENT": d.name},
    )
