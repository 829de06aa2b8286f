"""Policy files: the shipped ones load; mistakes are refused with what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from hakutaku.compute.policy import (
    PartitionSpec,
    Policy,
    PolicyError,
    load_policy,
    parse_policy,
    shipped_policy,
)
from hakutaku.compute.policy_store import read_policy, write_policy
from hakutaku.db.migrate import upgrade
from hakutaku.db.session import Database
from tests.support.processes import Platform


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
        ({"partition": {"p": {}}}, "The policy: unknown setting(s) partition; known: "),
        (
            {"partitions": {"p": {"qos": ["a"], "default_qos": "b"}}, "qos": {"a": {}, "b": {}}},
            "Partition 'p': default_qos 'b' is not among its qos (a)",
        ),
        ({"partitions": {"p": {"max_time": 0}}}, "Partition 'p': max_time: "),
        ({"partitions": {"p": 5}}, "Partition 'p' must be a table of settings ([partitions.p])"),
        ({"partitions": {"p": {"name": "q"}}}, "Partition 'p' has name = 'q'"),
        ({"partitions": [{"name": "p"}, {"name": "p"}]}, "Partition 'p' is given twice"),
        ({"partitions": [{"accelerator": "gpu"}]}, "partition number 1 in the list needs a"),
        (
            {"partitions": {"p": {}}, "qos": {"q": {"max_tres_pu": "mem=lots"}}},
            "QOS 'q': max_tres_pu: Cannot read the memory size 'lots'",
        ),
        (
            {"partitions": {"p": {}}, "qos": {"q": {"max_tres_pu": {"cpu": [4]}}}},
            "QOS 'q': max_tres_pu: Cannot read the TRES",
        ),
        (
            {"partitions": {"p": {}}, "qos": {"q": {"max_submit_pu": -1}}},
            "QOS 'q': max_submit_pu: Input should be greater than or equal to 0, got -1.",
        ),
    ],
)
def test_mistakes_are_refused_saying_what_to_fix(data: dict, message: str) -> None:
    with pytest.raises(PolicyError) as exc:
        parse_policy(data, "test.toml")
    assert message in str(exc.value) and str(exc.value).startswith("test.toml")


def test_every_mistake_is_named_with_its_place_and_what_to_write() -> None:
    data = {
        "partitions": {"gpu": {"colour": "red", "size": 3, "models": "a800"}},
        "qos": {"normal": {"priority": "high", "max_wall": "soon"}},
    }
    with pytest.raises(PolicyError) as caught:
        parse_policy(data, "site.toml")
    message = str(caught.value)
    assert message.startswith("site.toml: ")
    assert (
        "Partition 'gpu': models: Input should be a valid list, got 'a800'. Expected: " in message
    )
    assert '`["a800", "l40"]`' in message  # what to write
    assert "QOS 'normal': priority: Input should be a valid integer" in message
    assert "a whole number, e.g. 20" in message
    assert "QOS 'normal': max_wall: Cannot read the time 'soon': use minutes" in message
    assert (
        "Partition 'gpu': unknown setting(s) colour, size; known: accelerator, default_qos, "
        "default_time, description, max_time, models, nodes, qos." in message
    )
    assert isinstance(caught.value, ValueError)  # what callers catch


def test_the_json_shape_reads_back_to_the_same_policy() -> None:
    """GET's JSON (lists with names, seconds, megabytes) is accepted by PUT as it is."""
    policy = shipped_policy("institute")
    shape = policy.to_dict()
    assert [p["name"] for p in shape["partitions"]] == list(policy.partitions)
    assert shape["qos"][0] == {
        "name": "gpunormal",
        "priority": 0,
        "max_tres_pu": {"cpu": 64, "gres/gpu": 8, "mem": 640 * 1024},
        "max_wall": 2 * 86400,
        "max_submit_pu": 8,
        "description": "GPU production jobs: up to 8 cards per user, 2 days",
    }
    assert parse_policy(shape) == policy
    # Tables in JSON, with times and sizes spelled as in the file, read the same.
    tables = {
        "default_partition": "cpu",
        "partitions": {"cpu": {"max_time": "1-00:00:00", "qos": ["q"]}},
        "qos": {"q": {"max_tres_pu": {"mem": "8G"}, "max_wall": 90}},
    }
    read = parse_policy(tables)
    assert read.partitions["cpu"].max_time == 86400 and read.qos["q"].max_wall == 90
    assert read.qos["q"].max_tres_pu == {"mem": 8192}


def test_a_policy_built_in_code_is_checked_too() -> None:
    with pytest.raises(ValueError, match="names QOS 'x', which is not defined"):
        Policy(partitions={"p": PartitionSpec(name="p", qos=["x"])})
    with pytest.raises(ValueError, match="accelerator"):
        PartitionSpec(name="p", accelerator="tpu")  # type: ignore[arg-type]


def test_the_api_types_the_policy_and_refuses_mistakes_with_the_same_messages(
    platform: Platform,
) -> None:
    with platform.http() as admin:
        shown = admin.get("/api/compute/policy")
        assert shown.status_code == 200
        assert parse_policy(shown.json()) == shipped_policy("laptop")
        # The JSON that GET returns goes back in unchanged.
        again = admin.put("/api/compute/policy", json={"policy": shown.json()})
        assert again.status_code == 200, again.text
        assert again.json() == shown.json()
        # Tables (the file's shape) in JSON.
        tables = {"partitions": {"p": {"qos": ["q"]}}, "qos": {"q": {"max_wall": "0:15:00"}}}
        applied = admin.put("/api/compute/policy", json={"policy": tables})
        assert applied.status_code == 200, applied.text
        assert applied.json()["qos"][0]["max_wall"] == 900
        bad = admin.put("/api/compute/policy", json={"policy": {"partitions": {"p": {"x": 1}}}})
        assert bad.status_code == 400
        error = bad.json()["error"]
        assert error["code"] == "invalid_policy"
        assert error["message"].startswith("the policy sent: Partition 'p': unknown setting(s) x")
        toml = admin.put("/api/compute/policy", json={"toml": "[partitions.p]\nmax_time = 3\n"})
        assert toml.status_code == 400 and "max_time: Input should be" not in toml.text
        assert "default_time is above max_time" in toml.json()["error"]["message"]
        broken = admin.put("/api/compute/policy", json={"toml": "[partitions"})
        assert broken.status_code == 400
        assert "is not valid TOML" in broken.json()["error"]["message"]
        assert admin.get("/api/compute/policy").json() == applied.json()  # nothing replaced

        doc = admin.get("/openapi.json").json()
    route = doc["paths"]["/api/compute/policy"]
    for method in ("get", "put"):
        schema = route[method]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/PolicyOut"}
    schemas = doc["components"]["schemas"]
    out = schemas["PolicyOut"]["properties"]
    assert out["partitions"]["items"]["$ref"].startswith("#/components/schemas/PartitionSpec")
    body = schemas["PolicyIn"]["properties"]["policy"]["anyOf"][0]
    assert body["title"] == "Policy" and set(body["properties"]) == set(out)
    qos_in = next(v for k, v in schemas.items() if k.startswith("QosSpec") and "Input" in k)
    assert qos_in["additionalProperties"] is False
    assert {"type": "string", "examples": ["15", "1:00:00", "2-00:00:00"]} in (
        qos_in["properties"]["max_wall"]["anyOf"]
    )


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
