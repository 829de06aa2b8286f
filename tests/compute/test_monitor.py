"""The monitor without a server: Slurm's node listings read, the local capacity and Slurm's
nodes turned into partitions, histogram quantiles, and — on a real SQLite database — one of
several replicas reading the cluster under the lease, fencing, pruning, series and alerts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from hakutaku.compute.accelerators import parse_accelerators
from hakutaku.compute.capacity import Capacity, device_key
from hakutaku.compute.policy import parse_policy
from hakutaku.compute.policy_store import write_policy
from hakutaku.compute.service import ComputeService
from hakutaku.config import Settings
from hakutaku.db.migrate import upgrade
from hakutaku.db.models import (
    ClusterSample,
    GatewaySample,
    HomeUsage,
    Job,
    Lease,
    Model,
    StorageQuota,
    User,
    Worker,
    WorkerPresence,
)
from hakutaku.db.session import Database
from hakutaku.gateway.context import Gateway
from hakutaku.gateway.registry import Registry
from hakutaku.identity.auth import KeyAuthenticator
from hakutaku.identity.secrets import SecretBox
from hakutaku.monitoring.alerts import current_alerts
from hakutaku.monitoring.cluster import ClusterView, PartitionView
from hakutaku.monitoring.gateway import quantile
from hakutaku.monitoring.local import local_view
from hakutaku.monitoring.monitor import Monitor
from hakutaku.monitoring.samples import (
    COARSE,
    FINE_HOURS,
    cluster_series,
    gateway_series,
    prune,
    roll_up,
    step_for,
)
from hakutaku.monitoring.slurm import (
    SlurmNode,
    parse_gres,
    parse_nodes_json,
    parse_nodes_text,
    slurm_view,
)
from hakutaku.storage.service import Storage

POLICY = parse_policy(
    {
        "default_partition": "cpu",
        "partitions": {
            "cpu": {"accelerator": "cpu", "qos": ["normal"]},
            "gpu": {"accelerator": "gpu", "models": ["a800"], "qos": ["normal"]},
            "dcu": {"accelerator": "dcu", "qos": ["normal"]},
        },
        "qos": {"normal": {}},
    },
    "test",
)

# A node of the test Slurm (22.05) as `sinfo --json` lists it, with a 2-card job running.
SINFO_22_05 = {
    "meta": {},
    "errors": [],
    "nodes": [
        {
            "name": "vm",
            "cpus": 2,
            "alloc_cpus": 2,
            "real_memory": 20489,
            "alloc_memory": 1024,
            "gres": "gpu:a800:4,dcu:k100ai:4",
            "gres_used": "gpu:a800:2(IDX:0-1),dcu:k100ai:0(IDX:N/A)",
            "state": "allocated",
            "state_flags": [],
            "partitions": ["cpu", "gpu", "dcu"],
        }
    ],
}


# -- reading Slurm's listings --------------------------------------------------------------------


def test_gres_strings_are_read_per_card_model() -> None:
    assert parse_gres("gpu:a800:4(S:0-1),dcu:k100ai:2") == {
        ("gpu", "a800"): 4,
        ("dcu", "k100ai"): 2,
    }
    assert parse_gres("gpu:A800:2(IDX:0,2),gpu:l40:1(IDX:3)") == {
        ("gpu", "a800"): 2,
        ("gpu", "l40"): 1,
    }
    assert parse_gres("gpu:3,mps:100,npu") == {("gpu", ""): 3, ("npu", ""): 1}
    assert parse_gres("(null)") == {} and parse_gres(None) == {} and parse_gres("") == {}


def test_sinfo_json_of_slurm_22_05_and_scontrol_json_of_23_02() -> None:
    (node,) = parse_nodes_json(orjson.dumps(SINFO_22_05).decode())
    assert node == SlurmNode(
        "vm",
        ("cpu", "gpu", "dcu"),
        2,
        2,
        20489,
        1024,
        {("gpu", "a800"): 4, ("dcu", "k100ai"): 4},
        {("gpu", "a800"): 2, ("dcu", "k100ai"): 0},
        True,
    )
    newer = {
        "nodes": [
            {
                "name": "g01",
                "cpus": 64,
                "alloc_cpus": {"set": True, "number": 8},
                "real_memory": 512000,
                "alloc_memory": 64000,
                "gres": "gpu:h100:8(S:0-1)",
                "gres_used": "gpu:h100:1(IDX:5)",
                "state": ["IDLE", "DRAIN"],
                "partitions": ["gpu"],
            }
        ]
    }
    (drained,) = parse_nodes_json(orjson.dumps(newer).decode())
    assert drained.cpus_alloc == 8 and not drained.up
    assert drained.cards_used == {("gpu", "h100"): 1}


def test_scontrol_text_when_slurm_has_no_json() -> None:
    text = (
        "NodeName=vm Arch=x86_64 CPUAlloc=2 CPUEfctv=2 CPUTot=2 Gres=gpu:a800:4,dcu:k100ai:4 "
        "RealMemory=20489 AllocMem=1024 State=MIXED+DRAIN Partitions=cpu,gpu,dcu "
        "OS=Linux 6.1 #1 SMP AllocTRES=cpu=2,mem=1G,gres/gpu=2,gres/gpu:a800=2\n"
        "NodeName=n2 CPUAlloc=0 CPUTot=8 Gres=(null) RealMemory=8000 AllocMem=0 State=IDLE "
        "Partitions=cpu GresUsed=(null)\n"
    )
    vm, n2 = parse_nodes_text(text)
    assert vm.cards_used == {("gpu", "a800"): 2} and not vm.up  # from AllocTRES; drained
    assert n2.up and n2.cards == {} and n2.partitions == ("cpu",)


def test_slurm_partitions_count_their_nodes_and_the_cluster_counts_each_node_once() -> None:
    nodes = [
        SlurmNode(
            "g1", ("gpu", "all"), 32, 8, 256000, 64000, {("gpu", "a800"): 8}, {("gpu", "a800"): 2}
        ),
        SlurmNode("g2", ("gpu", "all"), 32, 0, 256000, 0, {("gpu", "a800"): 8}, {}, up=False),
        SlurmNode(
            "d1",
            ("dcu", "all"),
            64,
            64,
            512000,
            512000,
            {("dcu", "k100ai"): 8},
            {("dcu", "k100ai"): 8},
        ),
        SlurmNode("c1", ("cpu", "all"), 128, 0, 512000, 0),
    ]
    view = slurm_view(nodes, POLICY)
    assert [p.name for p in view.partitions] == ["all", "cpu", "dcu", "gpu"]
    gpu = view.partition("gpu")
    assert gpu is not None
    assert (gpu.nodes, gpu.nodes_down, gpu.cpus_total, gpu.cpus_free) == (2, 1, 64, 24)
    assert [(c.label, c.total, c.alloc, c.free) for c in gpu.cards] == [("gpu:a800", 16, 2, 6)]
    assert gpu.full is False
    dcu = view.partition("dcu")
    assert dcu is not None and dcu.full and dcu.cards_free == 0
    cpu = view.partition("cpu")
    assert cpu is not None and cpu.cards == [] and cpu.accelerator == "cpu"
    everything = view.partition("all")  # not in the policy: every card of its nodes
    assert everything is not None and {c.kind for c in everything.cards} == {"gpu", "dcu"}
    w = view.whole
    assert (w.nodes, w.nodes_down, w.cpus_total, w.cpus_free) == (4, 1, 256, 24 + 128)
    assert {c.label: (c.total, c.free) for c in w.cards} == {
        "gpu:a800": (16, 6),
        "dcu:k100ai": (8, 0),
    }


def test_the_local_machine_is_every_partition() -> None:
    cards = parse_accelerators("gpu:a800:0,1,2,3;gpu:l40:4;dcu:k100ai:0,1")
    capacity = Capacity(cpus=16, mem_mb=65536, accelerators=tuple(cards))
    held = Job(cpus=4, mem_mb=8192, devices=[device_key(cards[0]), device_key(cards[1])])
    view = local_view(capacity, POLICY, [held])
    gpu = view.partition("gpu")
    assert gpu is not None and (gpu.cpus_free, gpu.mem_free_mb) == (12, 57344)
    assert [(c.label, c.total, c.free) for c in gpu.cards] == [("gpu:a800", 4, 2)]  # models
    assert [c.label for c in view.whole.cards] == ["gpu:a800", "gpu:l40", "dcu:k100ai"]
    assert view.whole.cards_total == 7 and view.whole.cards_free == 5


def test_quantiles_interpolate_within_a_bucket_as_prometheus_does() -> None:
    buckets = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (float("inf"), 100.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.7, buckets) == pytest.approx(0.3)
    assert quantile(0.95, buckets) == pytest.approx(0.75)
    assert quantile(0.5, [(0.1, 0.0), (float("inf"), 0.0)]) is None
    assert quantile(0.99, [(0.1, 1.0), (float("inf"), 10.0)]) == pytest.approx(0.1)


# -- the loop on a real database ---------------------------------------------------------------


def _replica_parts(settings: Settings, db: Database) -> Monitor:
    secret = b"s" * 32
    auth = KeyAuthenticator(db, secret, 5.0)
    gateway = Gateway(settings, db, Registry(db, SecretBox(secret), 6.0), auth, "token")
    return Monitor(settings, db, ComputeService(settings), gateway, Storage(settings))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Settings, Database]:
    settings = Settings(
        home=tmp_path,
        local_cpus=8,
        local_mem_mb=16384,
        accelerators="gpu:a800:0,1,2,3",
        monitor_interval=1.0,
        monitor_retention_hours=1.0,
        demo_workers=False,
    )
    upgrade(settings.sqlalchemy_url)
    db = Database(settings.sqlalchemy_url)
    with db.session() as s:
        write_policy(s, POLICY)
    return settings, db


def test_one_of_three_replicas_reads_the_cluster_and_all_share_its_snapshot(
    setup: tuple[Settings, Database],
) -> None:
    settings, db = setup
    monitors = [_replica_parts(settings, db) for _ in range(3)]
    with db.session() as s:
        s.add(User(name="alice"))
        s.flush()
        s.add(
            Job(
                user_id=1,
                partition="gpu",
                qos="normal",
                time_limit=60,
                backend="local",
                state="running",
                cpus=2,
                mem_mb=2048,
                devices=["gpu:0"],
                external_id="1",
            )
        )
        s.add(Job(user_id=1, partition="gpu", qos="normal", time_limit=60, backend="local"))
        s.add(Model(name="lab", kind="worker"))
        s.add(Worker(id="w1", model="lab", url="http://127.0.0.1:1", host="h"))
        # a sample from before the retention: pruned by the first write
        s.add(ClusterSample(t=int(time.time()) - 7200, partition="gpu"))
    for _ in range(2):
        for m in monitors:
            m.tick()
    assert [m.polls for m in monitors] == [2, 0, 0]
    assert [m.is_poller for m in monitors] == [True, False, False]
    for m in monitors:  # every replica has the snapshot in memory
        gpu = m.view.partition("gpu")
        assert gpu is not None and gpu.cards_free == 3 and gpu.cpus_free == 6
        assert (gpu.pending_jobs, gpu.running_jobs) == (1, 1)
        assert m.view.whole.pending_jobs == 1 and m.view.source == "local"
    with db.session() as s:
        t = s.scalars(select(ClusterSample.t)).all()
        assert min(t) > time.time() - 60 and len(t) == 2 * 4  # 2 ticks × (3 partitions + whole)
        replicas = s.scalars(select(func.count(func.distinct(GatewaySample.replica)))).one()
        assert replicas == 3  # the first tick of each only set its baseline
    # The holder stops: the next replica to tick takes the lease over at once.
    monitors[0].lease.close()
    monitors[1].tick()
    assert monitors[1].polls == 1 and monitors[1].is_poller


def test_a_monitor_that_lost_its_lease_writes_nothing(setup: tuple[Settings, Database]) -> None:
    settings, db = setup
    a, b = _replica_parts(settings, db), _replica_parts(settings, db)
    a.tick()
    assert a.is_poller
    with db.session() as s:  # b takes the lease over while a believes it holds it
        lease = s.get(Lease, a.lease.name)
        assert lease is not None
        lease.holder, lease.term = b.lease.id, lease.term + 1
    before = int(time.time()) + 1
    while time.time() < before:
        time.sleep(0.05)
    a.poll_cluster(before)
    with db.session() as s:
        assert s.scalar(select(func.count()).where(ClusterSample.t == before)) == 0


def test_series_come_back_in_buckets(setup: tuple[Settings, Database]) -> None:
    _, db = setup
    now = int(time.time())
    with db.session() as s:
        for i in range(60):  # a minute of 1-s samples, then a gap, then one
            s.add(
                ClusterSample(
                    t=now - 600 + i,
                    partition="gpu",
                    cards_total=4,
                    cards_alloc=i % 5,
                    cpus_total=8,
                    pending_jobs=2,
                )
            )
            s.add(
                GatewaySample(
                    t=now - 600 + i,
                    replica="r1",
                    seconds=1.0,
                    calls=10,
                    errors=1,
                    refused=0,
                    latency_sum=0.5,
                    p95_ms=80.0,
                )
            )
            s.add(
                GatewaySample(
                    t=now - 600 + i,
                    replica="r2",
                    seconds=1.0,
                    calls=30,
                    errors=0,
                    refused=3,
                    latency_sum=0.5,
                    p95_ms=120.0,
                )
            )
        s.add(ClusterSample(t=now, partition="cpu", cpus_total=8, cpus_alloc=2))
    with db.session() as s:
        step = step_for(1, 1.0)
        assert step == 10
        c = cluster_series(s, now - 3600, step)
        g = gateway_series(s, now - 3600, step)
    assert len(c["t"]) in (6, 7, 8) and c["partitions"]["cpu"]["util"][-1] == 25.0
    assert c["partitions"]["gpu"]["util"][-1] is None  # no gpu sample in the last bucket
    assert c["partitions"]["gpu"]["pending"][0] == 2.0
    first = g["t"].index(g["t"][0])
    assert g["calls"][first] == pytest.approx(40.0)  # both replicas: 10 + 30 calls per second
    assert g["errors"][first] == pytest.approx(2.5) and g["refused"][first] == pytest.approx(7.5)
    assert g["mean_ms"][first] == pytest.approx(25.0) and g["p95_ms"][first] == 120.0


def test_alerts_from_the_samples_and_the_tables(setup: tuple[Settings, Database]) -> None:
    settings, db = setup
    now = datetime.now(UTC)
    t = int(now.timestamp())
    with db.session() as s:
        s.add_all([User(name="alice"), User(name="bob")])
        s.flush()
        s.add(StorageQuota(user_id=1, max_bytes=1000, max_files=10))
        s.add(HomeUsage(user_id=1, bytes=950, files=1, measured_at=now))
        s.add(HomeUsage(user_id=2, bytes=10, files=1, measured_at=now))
        s.add(WorkerPresence(model="chat", live=0, last_live_at=now - timedelta(minutes=5)))
        s.add(WorkerPresence(model="old", live=0, last_live_at=now - timedelta(hours=5)))
        s.add(WorkerPresence(model="fine", live=2, last_live_at=now))
        for i in range(0, 3601, 30):  # gpu: no card free for an hour; dcu: one free once
            s.add(
                ClusterSample(
                    t=t - 3600 + i, partition="gpu", cards_total=4, cards_alloc=4, cards_free=0
                )
            )
            s.add(
                ClusterSample(
                    t=t - 3600 + i, partition="dcu", cards_total=4, cards_free=int(i == 1800)
                )
            )
            s.add(ClusterSample(t=t - 3600 + i, partition="cpu", cpus_total=8, cpus_free=0))
        s.add(GatewaySample(t=t - 100, replica="r1", seconds=1, usage_dropped=7, usage_pending=0))
        s.add(GatewaySample(t=t - 5, replica="r2", seconds=1, usage_pending=50_000))
    view = ClusterView(
        PartitionView("", nodes=3, nodes_down=1),
        [
            PartitionView("gpu", accelerator="gpu", pending_jobs=5),
            PartitionView("dcu", accelerator="dcu"),
            PartitionView("cpu"),
        ],
        "slurm",
        now - timedelta(minutes=10),
    )
    with db.session() as s:
        alerts = current_alerts(
            s, settings, view, Storage(settings).defaults, last_error="squeue: timed out", now=now
        )
    found = {(a.kind, a.subject) for a in alerts}
    assert found == {
        ("worker_down", "chat"),  # "old" lost its workers before the retention
        ("partition_full", "gpu"),
        ("partition_full", "cpu"),
        ("home_near_quota", "alice"),
        ("usage_dropped", "r1"),
        ("usage_backlog", "r2"),
        ("snapshot_stale", "slurm"),
        ("nodes_down", "slurm"),
    }
    by_kind = {a.kind: a for a in alerts}
    assert by_kind["home_near_quota"].values["percent"] == 95
    assert by_kind["snapshot_stale"].values["error"] == "squeue: timed out"
    assert alerts[0].severity == "critical"
    full = next(a for a in alerts if a.subject == "gpu")
    assert full.values == {"what": "cards", "total": 4, "pending": 5}


def test_ticks_are_rolled_up_into_five_minute_rows_for_long_windows(
    setup: tuple[Settings, Database],
) -> None:
    _, db = setup
    now = int(time.time()) // COARSE * COARSE
    start = now - 8 * 3600  # eight hours of ticks, 15 s apart
    with db.session() as s:
        for t in range(start, now, 15):
            s.add(ClusterSample(t=t, partition="gpu", cards_total=4, cards_alloc=(t // 15) % 2 * 4))
            s.add(
                GatewaySample(
                    t=t, replica="r1", seconds=15, calls=15, latency_sum=0.15, p95_ms=t % 7
                )
            )
    with db.session() as s:
        roll_up(s, now + 1)
        roll_up(s, now + 1)  # nothing twice
    with db.session() as s:
        coarse = s.scalars(
            select(ClusterSample).where(ClusterSample.span == COARSE).order_by(ClusterSample.t)
        ).all()
        assert [r.t for r in coarse] == list(range(start, now, COARSE))
        assert all(r.cards_alloc == pytest.approx(2.0) and r.cards_total == 4 for r in coarse)
        rolled = s.scalars(select(GatewaySample).where(GatewaySample.span == COARSE)).all()
        assert {(r.calls, r.seconds) for r in rolled} == {(300, 300.0)} and len(rolled) == 96
        assert max(r.p95_ms or 0 for r in rolled) == 6
        day = cluster_series(s, now - 24 * 3600, step_for(24, 15.0), 24)
        assert step_for(24, 15.0) == 300 and len(day["t"]) == 96
        assert set(day["partitions"]["gpu"]["util"]) == {50.0}
        calls = gateway_series(s, now - 24 * 3600, 300, 24)["calls"]
        assert set(calls) == {1.0}  # 300 calls in 300 s
        # ticks not rolled up yet show in the long windows too
        s.add(ClusterSample(t=now + 15, partition="gpu", cards_total=4, cards_alloc=4))
        s.flush()
        tail = cluster_series(s, now - 24 * 3600, 300, 24)
        assert tail["t"][-1] == now and tail["partitions"]["gpu"]["util"][-1] == 100.0
        prune(s, now, retention_hours=48)
    with db.session() as s:  # ticks beyond FINE_HOURS + 1 went; the roll-ups stay
        oldest_tick = s.scalar(select(func.min(ClusterSample.t)).where(ClusterSample.span == 0))
        assert oldest_tick is not None and oldest_tick >= now - (FINE_HOURS + 1) * 3600
        assert s.scalar(select(func.count()).where(ClusterSample.span == COARSE)) == 96
