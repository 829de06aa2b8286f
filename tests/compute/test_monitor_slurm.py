"""The cluster snapshot on the real Slurm, with two server replicas on one PostgreSQL: the
snapshot has the Slurm partitions' cards (and follows a running job's), both replicas export
it, and exactly one replica — the holder of the lease `monitor:slurm` — asks Slurm for it.

Each replica gets its own HAI_SLURM_BIN: Slurm's tools, with sinfo and scontrol behind a script
that notes which replica ran a node listing before it runs the real one."""

from __future__ import annotations

import shlex
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hakutaku.db.lease import read_lease
from hakutaku.db.session import Database
from hakutaku.monitoring.slurm import SlurmNodes
from tests.support.postgres import fresh_database
from tests.support.processes import Platform, wait_until
from tests.support.slurm import SlurmCluster

LISTS_NODES = ("sinfo", "scontrol")  # the monitor's commands (scontrol: only `show nodes`)


@dataclass
class Pair:
    one: Platform
    two: Platform
    calls: Path  # "UNIX-TIME REPLICA TOOL" a line, one per node listing
    database_url: str
    key: str  # alice's

    def listings_by(self, replica: str, since: float = 0.0) -> int:
        if not self.calls.exists():
            return 0
        lines = [line.split() for line in self.calls.read_text().splitlines()]
        return sum(1 for stamp, who, _tool in lines if who == replica and float(stamp) >= since)


def _database(server_url: str) -> str:
    return fresh_database(server_url, "monitor")


def _slurm_bin(folder: Path, replica: str, calls: Path) -> Path:
    folder.mkdir(parents=True)
    for tool in ("sbatch", "scancel", "sacctmgr", "squeue", "sacct", *LISTS_NODES):
        real = shutil.which(tool) or f"/usr/bin/{tool}"
        if tool not in LISTS_NODES:
            (folder / tool).symlink_to(real)
            continue
        note = f'printf "%s {replica} {tool}\\n" "$(date +%s.%N)" >> {shlex.quote(str(calls))}'
        (folder / tool).write_text(
            "#!/bin/bash\n"
            + (f"{note}\n" if tool == "sinfo" else f'case " $* " in *" nodes "*) {note} ;; esac\n')
            + f'exec {shlex.quote(real)} "$@"\n'
        )
        (folder / tool).chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def pair(
    slurm_cluster: SlurmCluster, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    url = _database(postgres_url)
    base = tmp_path_factory.mktemp("monitor-slurm")
    calls = base / "calls.log"
    shared = slurm_cluster.jobs_dir / f"monitor-{time.monotonic_ns()}"
    (shared / "storage").mkdir(parents=True)
    for folder in (shared, shared / "storage"):
        folder.chmod(0o755)
    common = {
        "HAI_COMPUTE_BACKEND": "slurm",
        "HAI_COMPUTE_POLICY": str(slurm_cluster.policy_path),
        "HAI_JOBS_DIR": str(shared / "jobs"),
        "HAI_STORAGE_ROOT": str(shared / "storage"),
        "HAI_SCHEDULER_INTERVAL": "0.5",
        "HAI_MONITOR_INTERVAL": "1",
        "HAI_MONITOR_HOMES_INTERVAL": "0",
        "HAI_DEMO_WORKERS": "false",
    }
    one = Platform(
        base / "one",
        database_url=url,
        HAI_SLURM_BIN=str(_slurm_bin(base / "b1", "one", calls)),
        **common,
    ).start()
    secret = (one.home / "server.secret").read_text().strip()
    two = Platform(
        base / "two",
        database_url=url,
        HAI_SERVER_SECRET=secret,
        HAI_SLURM_BIN=str(_slurm_bin(base / "b2", "two", calls)),
        **common,
    )
    try:
        two.start()
        yield Pair(one, two, calls, url, one.add_user_key("alice", groups=("physics",)))
    finally:
        two.stop()
        one.stop()


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


def test_the_snapshot_has_slurms_cards_and_one_replica_reads_it(pair: Pair) -> None:
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
    assert pair.listings_by("one", began) >= 3
    assert pair.listings_by("two") == 0
    db = Database(pair.database_url)
    try:
        with db.session() as s:
            lease = read_lease(s, "monitor:slurm")
    finally:
        db.dispose()
    assert lease is not None and lease.holder is not None
    assert int(lease.holder.split(":")[-2]) == pair.one.server.pid  # type: ignore[union-attr]
