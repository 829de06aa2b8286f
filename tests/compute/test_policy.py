"""Policy files: the shipped ones load; mistakes are refused with what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from hakutaku.compute.policy import PolicyError, load_policy, parse_policy, shipped_policy
from hakutaku.compute.policy_store import read_policy, write_policy
from hakutaku.db.migrate import upgrade
from hakutaku.db.session import Database


def test_the_institute_example_has_the_issues_layout() -> None:
    policy = shipped_policy("institute")
    assert {"gpunormal", "gpudebug", "dcunormal", "dcudebug"} <= set(policy.qos)
    normal, debug = policy.qos["gpunormal"], policy.qos["gpudebug"]
    assert (normal.priority, normal.max_tres_pu["gres/gpu"]) == (0, 8)
    assert (normal.max_wall, normal.max_submit_pu) == (2 * 86400, 8)
    assert (debug.priority, debug.max_wall, debug.max_submit_pu) == (20, 15 * 60, 16)
    assert policy.partitions["gpu"].models == ["a800", "l40"]
    assert policy.partitions["dcu"].models == ["k100ai"]
    assert policy.partitions["npu"].models == ["ascend910b"]
    assert policy.partitions["gpu"].accelerator == "gpu"


def test_the_laptop_default_loads() -> None:
    policy = shipped_policy("laptop")
    assert policy.default_partition == "cpu" and policy.qos["debug"].priority == 20


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "defines no partition"),
        ({"partitions": {"p": {"qos": ["missing"]}}}, "names QOS 'missing', which is not defined"),
        ({"partitions": {"p": {"accelerator": "tpu"}}}, "accelerator 'tpu' is not one of"),
        ({"partitions": {"p": {"colour": "red"}}}, "unknown setting(s) colour"),
        ({"partitions": {"p": {}}, "qos": {"q": {"max_wall": "soon"}}}, "Cannot read the time"),
        ({"partitions": {"p": {}}, "default_partition": "x"}, "default_partition 'x'"),
        (
            {"partitions": {"p": {"default_time": "2:00:00", "max_time": "1:00:00"}}},
            "default_time is above max_time",
        ),
    ],
)
def test_mistakes_are_refused_saying_what_to_fix(data: dict, message: str) -> None:
    with pytest.raises(PolicyError) as exc:
        parse_policy(data, "test.toml")
    assert message in str(exc.value) and str(exc.value).startswith("test.toml")


def test_a_file_that_is_not_toml_or_is_missing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[partitions\n")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(bad)
    with pytest.raises(PolicyError, match="Cannot read the compute policy"):
        load_policy(tmp_path / "absent.toml")


def test_the_policy_round_trips_through_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    db = Database(url)
    policy = shipped_policy("institute")
    with db.session() as s:
        write_policy(s, policy)
    with db.session() as s:
        back = read_policy(s)
    assert back == policy
    db.dispose()
