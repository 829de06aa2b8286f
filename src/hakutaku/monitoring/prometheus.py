"""The cluster snapshot as Prometheus gauges, on the gateway's registry (GET /metrics).

The numbers are the replica's in-memory copy of the snapshot (hakutaku.monitoring.monitor), so
a scrape costs no query and no scheduler command. Every replica exports the same snapshot:
aggregate with max(), not sum(), across replicas (deploy/monitoring does).

  hai_cluster_{nodes,nodes_down,cpus,cpus_allocated,cpus_free}            whole cluster
  hai_cluster_memory_bytes, hai_cluster_memory_free_bytes
  hai_cluster_cards{kind,model}, hai_cluster_cards_allocated, hai_cluster_cards_free
  hai_partition_*{partition}  (the same, per partition; cards also by kind and model)
  hai_jobs_pending{partition}, hai_jobs_running{partition}               the platform's jobs
  hai_cluster_snapshot_age_seconds                                        how old the snapshot is
  hai_storage_homes_near_quota                                            homes at 90 % or more
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hakutaku.monitoring.cluster import ClusterView, PartitionView

MB = 1024 * 1024


class ClusterCollector(Collector):
    def __init__(self, view: Callable[[], ClusterView], near_quota: Callable[[], int]) -> None:
        self._view = view
        self._near_quota = near_quota

    def describe(self) -> Iterator[Metric]:
        return self._families(None, 0)

    def collect(self) -> Iterator[Metric]:
        return self._families(self._view(), self._near_quota())

    def _families(self, view: ClusterView | None, near_quota: int) -> Iterator[Metric]:
        def gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=labels)

        whole = {
            "nodes": gauge("hai_cluster_nodes", "Nodes of the cluster.", []),
            "nodes_down": gauge("hai_cluster_nodes_down", "Nodes down or drained.", []),
            "cpus": gauge("hai_cluster_cpus", "CPU cores of the cluster.", []),
            "cpus_allocated": gauge("hai_cluster_cpus_allocated", "CPU cores allocated.", []),
            "cpus_free": gauge("hai_cluster_cpus_free", "CPU cores free on nodes up.", []),
            "memory": gauge("hai_cluster_memory_bytes", "Memory of the cluster.", []),
            "memory_free": gauge("hai_cluster_memory_free_bytes", "Memory free on nodes up.", []),
        }
        cards = ["kind", "model"]
        whole_cards = {
            "cards": gauge("hai_cluster_cards", "Cards of the cluster.", cards),
            "cards_allocated": gauge("hai_cluster_cards_allocated", "Cards allocated.", cards),
            "cards_free": gauge("hai_cluster_cards_free", "Cards free on nodes up.", cards),
        }
        p = ["partition"]
        part = {
            "nodes": gauge("hai_partition_nodes", "Nodes of the partition.", p),
            "nodes_down": gauge("hai_partition_nodes_down", "Nodes down or drained.", p),
            "cpus": gauge("hai_partition_cpus", "CPU cores of the partition's nodes.", p),
            "cpus_allocated": gauge("hai_partition_cpus_allocated", "CPU cores allocated.", p),
            "cpus_free": gauge("hai_partition_cpus_free", "CPU cores free on nodes up.", p),
            "memory": gauge("hai_partition_memory_bytes", "Memory of the partition's nodes.", p),
            "memory_free": gauge("hai_partition_memory_free_bytes", "Memory free on nodes up.", p),
        }
        pc = ["partition", *cards]
        part_cards = {
            "cards": gauge("hai_partition_cards", "Cards of the partition's kind.", pc),
            "cards_allocated": gauge("hai_partition_cards_allocated", "Cards allocated.", pc),
            "cards_free": gauge("hai_partition_cards_free", "Cards free on nodes up.", pc),
        }
        pending = gauge("hai_jobs_pending", "The platform's jobs pending, by partition.", p)
        running = gauge("hai_jobs_running", "The platform's jobs running, by partition.", p)
        age = gauge(
            "hai_cluster_snapshot_age_seconds", "Seconds since the monitor read the cluster.", []
        )
        homes = gauge(
            "hai_storage_homes_near_quota",
            "Homes at 90 % or more of their bytes or files quota, as last measured.",
            [],
        )
        if view is not None:
            _fill(whole, whole_cards, view.whole, [])
            for partition in view.partitions:
                _fill(part, part_cards, partition, [partition.name])
                pending.add_metric([partition.name], partition.pending_jobs)
                running.add_metric([partition.name], partition.running_jobs)
            if view.updated_at is not None:
                age.add_metric([], (datetime.now(UTC) - view.updated_at).total_seconds())
            homes.add_metric([], near_quota)
        yield from whole.values()
        yield from whole_cards.values()
        yield from part.values()
        yield from part_cards.values()
        yield from (pending, running, age, homes)


def _fill(
    plain: dict[str, GaugeMetricFamily],
    cards: dict[str, GaugeMetricFamily],
    p: PartitionView,
    labels: list[str],
) -> None:
    for key, value in (
        ("nodes", p.nodes),
        ("nodes_down", p.nodes_down),
        ("cpus", p.cpus_total),
        ("cpus_allocated", p.cpus_alloc),
        ("cpus_free", p.cpus_free),
        ("memory", p.mem_total_mb * MB),
        ("memory_free", p.mem_free_mb * MB),
    ):
        plain[key].add_metric(labels, value)
    for c in p.cards:
        card_labels = [*labels, c.kind, c.model]
        cards["cards"].add_metric(card_labels, c.total)
        cards["cards_allocated"].add_metric(card_labels, c.alloc)
        cards["cards_free"].add_metric(card_labels, c.free)
