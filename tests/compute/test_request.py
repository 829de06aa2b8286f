"""A submission resolved against the policy: defaults, and refusals that name the limit."""

from __future__ import annotations

import pytest

from hakutaku.compute.policy import PartitionSpec, QosSpec, shipped_policy
from hakutaku.compute.request import (
    JobRefused,
    JobSubmission,
    check_extension,
    parse_extra,
    resolve,
    time_room,
)

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


# -- extending a job: the same limits as at submission ---------------------------------------------

CPU = PartitionSpec(name="cpu", max_time=2 * 86400)
CPUNORMAL = QosSpec(name="cpunormal", max_wall=4 * 3600)


def test_an_extension_within_the_limits_gives_the_new_total() -> None:
    assert check_extension(CPU, CPUNORMAL, 3600, 1800) == 5400
    assert check_extension(CPU, CPUNORMAL, 3 * 3600, 3600) == 4 * 3600  # up to the wall itself


def test_an_extension_over_the_qos_names_it_and_what_may_still_be_asked() -> None:
    with pytest.raises(JobRefused) as exc:
        check_extension(CPU, CPUNORMAL, 3 * 3600 + 1800, 3600, what="session")
    assert exc.value.code == "qos_max_wall" and exc.value.param == "by"
    assert exc.value.message == (
        "The MaxWall of QOS 'cpunormal' allows at most 4 h; this session already has "
        "3 h 30 m, so ask for at most 30 m more."
    )


def test_the_tighter_limit_is_the_one_named() -> None:
    short = PartitionSpec(name="short", max_time=2 * 3600)
    with pytest.raises(JobRefused) as exc:  # the partition's 2 h binds before the QOS's 4 h
        check_extension(short, CPUNORMAL, 3600, 3 * 3600)
    assert exc.value.code == "partition_time_limit"
    assert "MaxTime of partition 'short' allows at most 2 h" in exc.value.message
    assert "ask for at most 1 h more" in exc.value.message
    # a QOS without a wall leaves the partition's MaxTime
    assert time_room(CPU, QosSpec(name="open"), 86400) == 86400


def test_a_job_at_its_limit_cannot_be_extended_and_is_told_so() -> None:
    with pytest.raises(JobRefused, match="cannot be extended further") as exc:
        check_extension(CPU, CPUNORMAL, 4 * 3600, 60)
    assert "already has 4 h" in exc.value.message
    assert time_room(CPU, CPUNORMAL, 4 * 3600) == 0
    # a job above a limit lowered after it was submitted has no room either
    assert time_room(CPU, CPUNORMAL, 5 * 3600) == 0


@pytest.mark.parametrize("extra", [0, -60])
def test_the_extra_time_must_be_positive(extra: int) -> None:
    with pytest.raises(JobRefused, match="positive"):
        check_extension(CPU, CPUNORMAL, 3600, extra)


def test_extra_time_is_read_like_a_time_limit() -> None:
    assert [parse_extra(x) for x in ("30m", "1h", "1:00:00", "30", 90)] == [
        1800,
        3600,
        3600,
        1800,
        90,
    ]
    with pytest.raises(JobRefused, match="Cannot read the time") as exc:
        parse_extra("soon")
    assert exc.value.param == "by"


def test_submission_and_extension_share_one_check() -> None:
    """A job submitted at the QOS's wall is refused one minute more, and a submission of the
    wall plus a minute is refused with the same code."""
    debug = resolve(
        JobSubmission(command=["x"], partition="gpu", qos="gpudebug", time="15"), POLICY
    )
    with pytest.raises(JobRefused) as extended:
        check_extension(debug.partition, debug.qos, debug.time_limit, 60)
    with pytest.raises(JobRefused) as submitted:
        resolve(JobSubmission(command=["x"], partition="gpu", qos="gpudebug", time="16"), POLICY)
    assert extended.value.code == submitted.value.code == "qos_max_wall"
