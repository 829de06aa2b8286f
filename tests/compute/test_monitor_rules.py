"""deploy/monitoring for operators who run Prometheus: the alerting rules pass `promtool check
rules`, every query of the Grafana dashboard is valid PromQL (checked the same way, as
recording rules), and every metric either file names is one a running server's /metrics
really exports — with the cluster gauges matching the server's capacity."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import services_required
from tests.support.processes import Platform, wait_until

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
RULES = DEPLOY / "hakutaku-rules.yml"
DASHBOARD = DEPLOY / "grafana-dashboard.json"
METRIC = re.compile(r"\bhai_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is not installed; run `sudo bash deploy/dev/install-services.sh`"
        if services_required():
            pytest.fail(message)
        pytest.skip(message)
    return found


def _check(promtool: str, path: Path) -> str:
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


def test_the_alerting_rules_pass_promtool() -> None:
    out = _check(_promtool(), RULES)
    assert "SUCCESS" in out
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    assert {"HakutakuModelWorkersDown", "HakutakuPartitionFull", "HakutakuUsageDropped"} <= {
        r["alert"] for r in rules
    }
    for rule in rules:  # each says what it is about and what to do
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_dashboards_queries_are_valid_promql(tmp_path: Path) -> None:
    queries = _dashboard_queries()
    assert len(queries) >= 15
    as_rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query{i}", "expr": q} for i, q in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(as_rules))
    _check(_promtool(), path)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = Platform(
        tmp_path_factory.mktemp("metrics") / "home",
        HAI_MONITOR_INTERVAL="0.5",
        HAI_LOCAL_CPUS="8",
        HAI_LOCAL_MEM_MB="4096",
        HAI_ACCELERATORS="gpu:a800:0,1;dcu:k100ai:0",
    ).start()
    try:
        yield p
    finally:
        p.stop()


def _exported(text: str) -> dict[str, list[Any]]:
    """Every metric name /metrics declares (with the suffixes of its type) → its samples."""
    names: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for suffix in SUFFIXES.get(family.type, ("",)):
            names.setdefault(family.name + suffix, [])
        for sample in family.samples:
            names.setdefault(sample.name, []).append(sample)
    return names


def test_every_metric_the_rules_and_the_dashboard_use_is_exported(server: Platform) -> None:
    def snapshot_read() -> str | None:
        text = httpx.get(f"{server.url}/metrics", timeout=10).text
        return text if "hai_cluster_snapshot_age_seconds " in text else None

    exported = _exported(wait_until(snapshot_read, 30, "the monitor's first snapshot"))
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    queries = [r["expr"] for r in rules] + _dashboard_queries()
    used = {name for q in queries for name in METRIC.findall(q)}
    assert len(used) >= 20
    missing = sorted(used - exported.keys())
    assert not missing, f"named in deploy/monitoring but not exported by /metrics: {missing}"

    def value(name: str, **labels: str) -> float:
        (sample,) = [s for s in exported[name] if s.labels == labels]
        return float(sample.value)

    assert value("hai_cluster_cards", kind="gpu", model="a800") == 2
    assert value("hai_cluster_cards_free", kind="dcu", model="k100ai") == 1
    assert value("hai_cluster_cpus") == 8 and value("hai_cluster_memory_bytes") == 4096 * 2**20
    assert value("hai_partition_cards", partition="gpu", kind="gpu", model="a800") == 2
    assert value("hai_jobs_pending", partition="cpu") == 0
    assert value("hai_storage_homes_near_quota") == 0
