"""A submission resolved against the policy: defaults, and refusals that name the limit."""

from __future__ import annotations

import pytest

from hakutaku.compute.policy import shipped_policy
from hakutaku.compute.request import JobRefused, JobSubmission, resolve

POLICY = shipped_policy("institute")


def test_defaults_come_from_the_partition_and_its_qos() -> None:
    r = resolve(JobSubmission(command=["true"]), POLICY)
    assert (r.partition.name, r.qos.name, r.cpus, r.mem_mb) == ("cpu", "cpunormal", 1, 1024)
    assert r.time_limit == 3600 and r.accelerators == 0
    gpu = resolve(JobSubmission(command=["x"], partition="gpu", gpus="a800:2"), POLICY)
    assert (gpu.qos.name, gpu.accelerator, gpu.accelerator_model, gpu.accelerators) == (
        "gpunormal",
        "gpu",
        "a800",
        2,
    )
    assert gpu.tres == {"cpu": 1, "mem": 1024, "gres/gpu": 2}


def test_a_debug_job_without_a_time_gets_the_qos_wall() -> None:
    r = resolve(JobSubmission(command=["x"], partition="gpu", qos="gpudebug", gpus=1), POLICY)
    assert r.time_limit == 15 * 60


@pytest.mark.parametrize(
    ("sub", "code", "words"),
    [
        (dict(partition="gpu", qos="gpudebug", time="1:00:00"), "qos_max_wall", "MaxWall"),
        (dict(partition="gpu", time="3-00:00:00"), "partition_time_limit", "MaxTime"),
        (dict(partition="gpu", gpus=16), "qos_max_tres_per_user", "gres/gpu=8"),
        (dict(partition="gpu", mem="1T"), "qos_max_tres_per_user", "mem=640G"),
        (dict(partition="gpu", qos="dcunormal"), "job_refused", "not allowed in partition"),
        (dict(partition="cpu", gpus=1), "job_refused", "has no accelerators"),
        (dict(partition="gpu", gpus="h100:1"), "job_refused", "no 'h100' cards"),
        (dict(partition="gpu", gpus="a800:x"), "job_refused", "TYPE:COUNT"),
        (dict(partition="nope"), "job_refused", "No partition 'nope'"),
        (dict(qos="nope"), "job_refused", "No QOS 'nope'"),
        (dict(cpus=0), "job_refused", "at least 1"),
        (dict(time="0"), "job_refused", "positive"),
    ],
)
def test_refusals_name_the_limit(sub: dict, code: str, words: str) -> None:
    with pytest.raises(JobRefused) as exc:
        resolve(JobSubmission(command=["true"], **sub), POLICY)
    assert exc.value.code == code and words in exc.value.message


def test_a_command_or_a_script_but_not_both() -> None:
    with pytest.raises(JobRefused, match="Nothing to run"):
        resolve(JobSubmission(), POLICY)
    with pytest.raises(JobRefused, match="not both"):
        resolve(JobSubmission(command=["a"], script="echo"), POLICY)
    assert resolve(JobSubmission(script="echo hi"), POLICY).cpus == 1
