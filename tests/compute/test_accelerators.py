"""Accelerators from HAI_ACCELERATORS, vendor variables, and the local slot model."""

from __future__ import annotations

import pytest

from hakutaku.compute.accelerators import (
    normalise_model,
    parse_accelerators,
    visible_devices_env,
)
from hakutaku.compute.capacity import Capacity, Free, device_key, free_after
from hakutaku.db.models import Job

CARDS = parse_accelerators("gpu:a800:0,1;gpu:l40:2;dcu:k100ai:0,1;npu:ascend910b:0")


def test_the_override_names_kind_model_and_ids() -> None:
    kinds = [(a.kind, a.runtime, a.model, a.index) for a in CARDS]
    assert kinds[0] == ("gpu", "cuda", "a800", "0")
    assert kinds[3] == ("dcu", "rocm", "k100ai", "0")
    assert kinds[-1] == ("npu", "ascend", "ascend910b", "0")
    assert parse_accelerators("") == []
    with pytest.raises(ValueError, match="KIND:MODEL:IDS"):
        parse_accelerators("tpu:v4:0")


def test_each_vendor_gets_its_variable_and_the_others_are_emptied() -> None:
    gpu = [a for a in CARDS if a.kind == "gpu"][:2]
    env = visible_devices_env(gpu, CARDS)
    assert env == {
        "CUDA_VISIBLE_DEVICES": "0,1",
        "HIP_VISIBLE_DEVICES": "",
        "ASCEND_RT_VISIBLE_DEVICES": "",
    }
    dcu = [a for a in CARDS if a.kind == "dcu"]
    assert visible_devices_env(dcu, CARDS)["HIP_VISIBLE_DEVICES"] == "0,1"
    assert visible_devices_env([], []) == {}


def test_marketing_names_shorten() -> None:
    assert normalise_model("NVIDIA A800-SXM4-80GB") == "a800"
    assert normalise_model("NVIDIA L40") == "l40"
    assert normalise_model("Tesla V100-PCIE-32GB") == "v100"


def _job(cpus: int = 1, mem: int = 100, kind: str = "cpu", model: str | None = None, n: int = 0):
    return Job(cpus=cpus, mem_mb=mem, accelerator=kind, accelerator_model=model, accelerators=n)


def test_cards_are_given_by_kind_and_model_and_never_twice() -> None:
    free = Free(8, 1000, list(CARDS))
    assert [a.index for a in free.take(_job(kind="gpu", model="a800", n=2)) or []] == ["0", "1"]
    assert free.take(_job(kind="gpu", model="a800", n=1)) is None  # both a800 taken
    assert [a.model for a in free.take(_job(kind="gpu", n=1)) or []] == ["l40"]
    assert free.take(_job(cpus=9)) is None
    assert (free.cpus, free.mem_mb) == (6, 800)  # a refused job took nothing


def test_running_jobs_hold_their_cards() -> None:
    cap = Capacity(4, 1000, tuple(CARDS))
    holding = _job(cpus=2, kind="dcu", n=1)
    holding.devices = [device_key(CARDS[3])]
    free = free_after(cap, [holding])
    assert free.cpus == 2 and CARDS[3] not in free.cards and CARDS[4] in free.cards
    assert "has 1" in cap.never_fits(1, 10, "npu", None, 2)
    assert cap.never_fits(4, 1000, "gpu", "a800", 2) == ""
    assert "8 CPUs" in cap.never_fits(8, 10, "cpu", None, 0)
