"""The cluster snapshot on the real Slurm, with two server replicas on one PostgreSQL: the
snapshot has the Slurm partitions' cards (and follows a running job's), both replicas export
it, and exactly one replica — the holder of the lease `monitor:slurm` — asks Slurm for it.

Each replica gets its own HAI_SLURM_BIN: Slurm's tools, with sinfo and scontrol behind a script
that notes which replica ran a node listing before it runs the real one."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hakutaku.monitoring.slurm import SlurmNodes
from tests.support.postgres import fresh_database
from tests.support.processes import Platform, wait_until
from tests.support.slurm import SlurmCluster
from tests.support.slurm_replicas import EVERY_CALL, ReplicaPair, two_replicas

# The monitor's node listings: every sinfo, and scontrol's `show nodes` (not its other uses).
LISTS_NODES = {"sinfo": EVERY_CALL, "scontrol": '*" nodes "*'}


@pytest.fixture(scope="module")
def pair(
    slurm_cluster: SlurmCluster, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReplicaPair]:
    with two_replicas(
        slurm_cluster,
        fresh_database(postgres_url, "monitor"),
        tmp_path_factory.mktemp("monitor-slurm"),
        LISTS_NODES,
        HAI_SCHEDULER_INTERVAL="0.5",
        HAI_MONITOR_INTERVAL="1",
        HAI_MONITOR_HOMES_INTERVAL="0",
    ) as replicas:
        yield replicas


def _cards(p: Platform) -> dict[tuple[str, str], tuple[float, float]]:
    """(partition, card) → (total, free) as the replica's /metrics exports them."""
    found: dict[tuple[str, str], list[float]] = {}
    page = httpx.get(f"{p.url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(page):
        if family.name not in ("hai_partition_cards", "hai_partition_cards_free"):
            continue
        for s in family.samples:
            key = (s.labels["partition"], f"{s.labels['kind']}:{s.labels['model']}")
            found.setdefault(key, [0.0, 0.0])[family.name.endswith("_free")] = s.value
    return {k: (v[0], v[1]) for k, v in found.items()}


def _wait_cards(
    p: Platform, expected: dict[tuple[str, str], tuple[float, float]], what: str
) -> None:
    wait_until(lambda: _cards(p) == expected, 60, what, interval=0.5)


def test_the_snapshot_has_slurms_cards_and_one_replica_reads_it(pair: ReplicaPair) -> None:
    began = time.time()
    expected = {("gpu", "gpu:a800"): (4.0, 4.0), ("dcu", "dcu:k100ai"): (4.0, 4.0)}
    for p in (pair.one, pair.two):
        _wait_cards(p, expected, "the Slurm cards on /metrics")

    with pair.two.http(pair.key) as h:  # submitted through the replica that does not poll
        r = h.post(
            "/api/jobs",
            json={"command": ["sleep", "120"], "partition": "gpu", "gpus": "a800:2"},
        )
        assert r.status_code == 201, r.text
        job = r.json()
    try:
        held = {**expected, ("gpu", "gpu:a800"): (4.0, 2.0)}
        for p in (pair.two, pair.one):
            _wait_cards(p, held, "two cards held by the job")
        # The platform's own count follows once the scheduler has recorded the job running.
        wait_until(
            lambda: (
                'hai_jobs_running{partition="gpu"} 1.0'
                in httpx.get(f"{pair.two.url}/metrics", timeout=10).text
            ),
            30,
            "the running job counted",
        )
        # Slurm's JSON and its text (for a Slurm built without JSON) read the same nodes.
        nodes = SlurmNodes(None)
        as_json, as_text = nodes._read("sinfo-json"), nodes._read("scontrol-text")
        assert as_json == as_text and as_json[0].cards_used[("gpu", "a800")] == 2
    finally:
        with pair.two.http(pair.key) as h:
            h.post(f"/api/jobs/{job['id']}/cancel")

    # Exactly one replica listed Slurm's nodes: the one holding the monitor's lease.
    # (a few of the holder's ticks, so that replica two had as many chances to list them)
    wait_until(lambda: len(pair.calls_by("one", began)) >= 3, 15, "three listings by one")
    assert pair.calls_by("two") == []
    holder = pair.lease_holder_pid("monitor:slurm")
    assert holder == pair.one.server.pid  # type: ignore[union-attr]
