"""Turn sbatch's refusal into a message that names the limit, its value and what to do.

With QOS `Flags=DenyOnLimit` Slurm 22.05 refuses with two lines, e.g.::

    sbatch: error: QOSMaxSubmitJobPerUserLimit
    sbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit
    limit, user's size and/or time limits)

The first line (the reason code) says which limit; the limit's value comes from Slurm itself
(`sacctmgr show qos`, `scontrol show partition`), so the message cannot disagree with Slurm.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from hakutaku.compute.backends.base import JobRequest
from hakutaku.compute.units import format_duration

_PREFIX = re.compile(r"^(?:sbatch: )?(?:error: )?(?:Batch job submission failed: )?", re.I)
_REASON_CODE = re.compile(r"^[A-Z][A-Za-z]+(?:Limit|PerUser|PerJob|PerAccount|PerNode)\w*$")
# sbatch's words when it could not reach Slurm at all: not a refusal, Slurm is down.
UNREACHABLE = (
    "Unable to contact slurm controller",
    "Socket timed out",
    "Communication connection failure",
    "Zero Bytes were transmitted",
    "Could not establish a configuration source",
    "Unable to establish controller machine",
)

QosLookup = Callable[[str], dict[str, str]]  # QOS name → {"MaxWall": .., "MaxSubmitPU": ..}
PartitionLookup = Callable[[str], dict[str, str]]  # name → `scontrol show partition` fields


def slurm_lines(stderr: str) -> list[str]:
    """sbatch's error lines without their `sbatch: error:` prefixes."""
    lines = [_PREFIX.sub("", line).strip() for line in stderr.splitlines()]
    return [line for line in lines if line]


def is_unreachable(stderr: str) -> bool:
    return any(text.lower() in stderr.lower() for text in UNREACHABLE)


def refusal_message(
    stderr: str,
    request: JobRequest,
    qos_limits: QosLookup,
    partition_info: PartitionLookup,
    submitter: str,
) -> str:
    """What the user reads when sbatch refused `request`."""
    lines = slurm_lines(stderr)
    codes = [line for line in lines if _REASON_CODE.match(line)]
    slurm_says = "; ".join(line for line in lines if line not in codes) or "no message"
    explanation = _explain(codes, slurm_says, request, qos_limits, partition_info, submitter)
    original = ", ".join([slurm_says, *codes])
    return f"Slurm refused the job: {explanation} (Slurm: {original})"


def _explain(
    codes: list[str],
    slurm_says: str,
    request: JobRequest,
    qos_limits: QosLookup,
    partition_info: PartitionLookup,
    submitter: str,
) -> str:
    qos = request.qos
    for code in codes:
        if code.startswith("QOSMaxSubmitJob"):
            limit = qos_limits(qos).get("MaxSubmitPU") or "?"
            return (
                f"QOS {qos!r} allows {limit} jobs per user pending or running (MaxSubmitPU="
                f"{limit}) and {submitter} has that many; wait for some to finish, cancel "
                "some, or use another QOS."
            )
        if code.startswith("QOSMaxWallDuration"):
            limit = qos_limits(qos).get("MaxWall") or "?"
            return (
                f"QOS {qos!r} allows at most {limit} per job (MaxWall={limit}) and the job "
                f"asked for {_asked_time(request)}; ask for less time or use another QOS."
            )
        if code.startswith("QOSMax") and "PerUser" in code:
            limit = qos_limits(qos).get("MaxTRESPU") or "?"
            return (
                f"QOS {qos!r} allows at most {limit} per user (MaxTRESPU={limit}) and the job "
                f"asked for {_asked_resources(request)}; ask for less or use another QOS."
            )
        if code.startswith("QOSMax") and "PerJob" in code:
            limit = qos_limits(qos).get("MaxTRES") or "?"
            return (
                f"QOS {qos!r} allows at most {limit} per job (MaxTRES={limit}) and the job "
                f"asked for {_asked_resources(request)}; ask for less or use another QOS."
            )
        if code.startswith("QOSGrp") or code.startswith("AssocGrp"):
            return (
                f"the group limit {code} of QOS {qos!r} or of the account is reached; "
                "try again later or ask an operator."
            )
    said = slurm_says.lower()
    partition = request.partition
    if "time limit is invalid" in said:
        limit = partition_info(partition).get("MaxTime") or "?"
        return (
            f"partition {partition!r} allows at most {limit} per job (MaxTime) and the job "
            f"asked for {_asked_time(request)}; ask for less time or use another partition."
        )
    if "invalid qos specification" in said:
        allowed = partition_info(partition).get("AllowQos") or "?"
        return (
            f"QOS {qos!r} is not allowed for this job: partition {partition!r} allows "
            f"{allowed}, and the account's association must list the QOS too "
            "(`sacctmgr show assoc`); choose an allowed QOS."
        )
    if "invalid account" in said:
        account = request.account or "its default account"
        return (
            f"Slurm has no association of user {submitter} with account {account!r} in "
            f"partition {partition!r}; an operator adds one with `sacctmgr add user "
            f"{submitter} account={request.account or 'ACCOUNT'}`, or choose another account."
        )
    if "invalid partition" in said:
        return f"Slurm has no partition {partition!r}; `sinfo` lists the partitions."
    if "more processors requested" in said or "node configuration is not available" in said:
        return (
            f"no node of partition {partition!r} has what the job asked for "
            f"({_asked_resources(request)}); ask for less or use another partition."
        )
    if "generic resource" in said or "gres" in said:
        return (
            f"partition {partition!r} has no {request.accelerator} devices of the kind asked "
            f"for ({_asked_resources(request)}); check the model and count."
        )
    return "see Slurm's message."


def _asked_time(request: JobRequest) -> str:
    # Slurm counts time limits in whole minutes.
    return format_duration(math.ceil(request.time_limit / 60) * 60)


def _asked_resources(request: JobRequest) -> str:
    asked = [f"cpu={request.cpus}"]
    if request.mem_mb:
        asked.append(f"mem={request.mem_mb}M")
    if request.accelerators and request.accelerator != "cpu":
        asked.append(f"gres/{request.accelerator}={request.accelerators}")
    return ",".join(asked)
