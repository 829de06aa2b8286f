"""How Slurm's outputs and refusals are read (no Slurm needed: outputs as Slurm prints them)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hakutaku.compute.backends.base import JobRequest
from hakutaku.compute.backends.slurm_refusal import is_unreachable, refusal_message
from hakutaku.compute.backends.slurm_status import (
    parse_sacct_text,
    parse_squeue_json,
    parse_squeue_text,
    platform_state,
)
from hakutaku.compute.states import JobState

T0 = 1_795_384_279
REQUEST = JobRequest(
    id=7, user="bob", account=None, name="x", command=["true"], script=None, workdir="/tmp",
    env={}, partition="gpu", qos="gpunormal", cpus=1, mem_mb=0, accelerator="gpu",
    accelerator_model=None, accelerators=1, time_limit=5400, job_dir="/tmp/j", log_path="/tmp/j/o",
)  # fmt: skip


def test_states_map_onto_the_platforms() -> None:
    assert platform_state("CANCELLED by 1001") == (JobState.CANCELLED, "cancelled")
    assert platform_state("COMPLETING")[0] is JobState.RUNNING
    assert platform_state("OUT_OF_MEMORY")[0] is JobState.FAILED
    assert platform_state("TIMEOUT")[0] is JobState.TIMEOUT
    assert platform_state("PREEMPTED")[0] is JobState.CANCELLED
    assert platform_state("BRAND_NEW") == (JobState.RUNNING, "in Slurm state BRAND_NEW")


def test_squeue_json_of_slurm_22_05() -> None:
    jobs = [
        {"job_id": 7, "job_state": "FAILED", "exit_code": 3 << 8, "state_reason": "NonZeroExitCode",
         "start_time": T0, "end_time": T0 + 5, "nodes": "vm"},
        {"job_id": 8, "job_state": "PENDING", "exit_code": 0, "state_reason": "QOSMaxGRESPerUser",
         "start_time": T0 + 600, "end_time": T0 + 4200, "nodes": ""},
        {"job_id": 9, "job_state": "CANCELLED", "exit_code": 15, "state_reason": "None",
         "start_time": T0, "end_time": T0 + 9, "nodes": "vm"},
        {"job_id": 10, "job_state": "RUNNING", "exit_code": 0, "state_reason": "None",
         "start_time": T0, "end_time": T0 + 3600, "nodes": "vm"},
    ]  # fmt: skip
    found = parse_squeue_json(json.dumps({"jobs": jobs}), {"7", "8", "9", "10", "11"})
    assert set(found) == {"7", "8", "9", "10"}
    failed = found["7"]
    assert (failed.state, failed.exit_code, failed.node) == (JobState.FAILED, 3, "vm")
    assert failed.started_at == datetime.fromtimestamp(T0, UTC)
    assert failed.reason == "the job exited with code 3"
    pending = found["8"]
    assert pending.state is JobState.PENDING and pending.reason == "QOSMaxGRESPerUser"
    assert pending.started_at is None  # squeue's start_time of a pending job is a forecast
    assert found["9"].exit_code == 128 + 15
    assert found["10"].ended_at is None  # the end of a running job is its time limit
    assert parse_squeue_json(json.dumps({"jobs": jobs}), {"9"}).keys() == {"9"}


def test_squeue_json_of_later_slurm() -> None:
    job = {
        "job_id": 12,
        "job_state": ["COMPLETED"],
        "exit_code": {"status": ["SUCCESS"], "return_code": {"set": True, "number": 0},
                      "signal": {"id": {"set": False, "number": 0}, "name": ""}},
        "state_reason": "None",
        "start_time": {"set": True, "infinite": False, "number": T0},
        "end_time": {"set": True, "infinite": False, "number": T0 + 2},
        "nodes": "n1",
    }  # fmt: skip
    observed = parse_squeue_json(json.dumps({"jobs": [job]}), {"12"})["12"]
    assert (observed.state, observed.exit_code) == (JobState.COMPLETED, 0)
    assert observed.ended_at == datetime.fromtimestamp(T0 + 2, UTC)


def test_squeue_text() -> None:
    text = (
        "5|RUNNING|None|2026-11-22T21:51:19|2026-11-22T22:51:19|vm\n6|PENDING|Priority|N/A|N/A|\n"
    )
    found = parse_squeue_text(text)
    assert found["5"].state is JobState.RUNNING and found["5"].ended_at is None
    assert found["5"].started_at == datetime(2026, 11, 22, 21, 51, 19, tzinfo=UTC)
    assert found["6"].reason == "Priority" and found["6"].started_at is None


def test_sacct_text() -> None:
    text = (
        "7|FAILED|3:0|2026-11-22T21:51:19|2026-11-22T21:51:20|vm|None\n"
        "8|TIMEOUT|0:0|2026-11-22T21:51:19|2026-11-22T21:52:19|vm|TimeLimit\n"
        "9|CANCELLED by 0|0:15|2026-11-22T21:51:19|2026-11-22T21:51:30|vm|None\n"
        "10|CANCELLED by 1001|0:0|2026-11-22T21:51:30|2026-11-22T21:51:30|None assigned|None\n"
    )
    found = parse_sacct_text(text)
    assert (found["7"].state, found["7"].exit_code) == (JobState.FAILED, 3)
    assert found["8"].state is JobState.TIMEOUT and found["8"].exit_code is None
    assert (found["8"].ended_at - found["8"].started_at).total_seconds() == 60
    assert (found["9"].state, found["9"].exit_code) == (JobState.CANCELLED, 143)
    never_started = found["10"]
    assert never_started.started_at is None and never_started.node is None
    assert never_started.exit_code is None and never_started.ended_at is not None


def test_a_refusal_names_the_limit_and_its_value() -> None:
    stderr = (
        "sbatch: error: QOSMaxWallDurationPerJobLimit\n"
        "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy "
        "(job submit limit, user's size and/or time limits)\n"
    )
    message = refusal_message(
        stderr, REQUEST, lambda qos: {"MaxWall": "01:00:00"}, lambda p: {}, "bob"
    )
    assert message.startswith("Slurm refused the job: QOS 'gpunormal' allows at most 01:00:00")
    assert "MaxWall=01:00:00" in message and "asked for 01:30:00" in message
    assert "QOSMaxWallDurationPerJobLimit" in message


def test_a_partition_time_refusal_names_the_partitions_limit() -> None:
    stderr = "sbatch: error: Batch job submission failed: Requested time limit is invalid "
    stderr += "(missing or exceeds some limit)\n"
    message = refusal_message(stderr, REQUEST, lambda q: {}, lambda p: {"MaxTime": "01:00:00"}, "b")
    assert "partition 'gpu' allows at most 01:00:00 per job (MaxTime)" in message


def test_an_unreachable_controller_is_not_a_refusal() -> None:
    assert is_unreachable(
        "sbatch: error: Batch job submission failed: Unable to contact slurm controller "
        "(connect failure)"
    )
    assert not is_unreachable("sbatch: error: Batch job submission failed: Invalid qos")
