"""The platform profile on a laptop: the same PlatformProvider as on Slurm, with the platform
running its jobs on its local backend (real server, real job, real Parsl workers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from parsl.providers import SlurmProvider

from hakutaku.workflows import Campaign, SlurmOptions, TaskFailed, WorkflowError
from hakutaku.workflows.platform_provider import PlatformProvider
from hakutaku.workflows.profiles import parsl_config
from tests.support.processes import Platform, wait_until
from tests.workflows import tasks


def blocks(platform: Platform, key: str, name: str) -> list[dict[str, Any]]:
    with platform.http(key) as h:
        return [j for j in h.get("/api/jobs").json() if j["name"].startswith(f"workflow-{name}:")]


def test_a_campaign_runs_in_a_platform_job_on_the_local_backend(
    platform: Platform, tmp_path: Path
) -> None:
    key = platform.add_user_key("carol")
    options = SlurmOptions(url=platform.url, api_key=key, walltime="0:05:00")
    with Campaign(
        "laptop",
        pools={"default": 1},
        profile="platform",
        run_dir=tmp_path / "run",
        database_url=f"sqlite:///{tmp_path / 'hai.db'}",
        slurm=options,
    ) as c:
        assert c.submit(tasks.add, 4, 5).result(timeout=120) == 9
        assert c.run(["true"]).result(timeout=60) == 0
        (block,) = blocks(platform, key, "laptop")
        assert block["state"] == "running" and block["backend"] == "local", block
        assert block["user"] == "carol"

    def ended() -> bool:
        (job,) = blocks(platform, key, "laptop")
        return job["state"] == "cancelled"

    wait_until(ended, 30, "the block job to be cancelled with its campaign", interval=0.2)


def test_a_refused_block_fails_the_tasks_with_the_platforms_reason(
    platform: Platform, tmp_path: Path
) -> None:
    key = platform.add_user_key("dave")
    options = SlurmOptions(url=platform.url, api_key=key, partition="nosuch")
    with Campaign(
        "refused",
        pools={"default": 1},
        profile="platform",
        run_dir=tmp_path / "run",
        database_url=f"sqlite:///{tmp_path / 'hai.db'}",
        slurm=options,
    ) as c:
        with pytest.raises(TaskFailed, match="refused the campaign's block job") as refused:
            c.submit(tasks.noop).result(timeout=60)
        assert "nosuch" in str(refused.value)
    assert blocks(platform, key, "refused") == []


def test_the_slurm_profile_goes_through_the_platform_only_when_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HAI_URL", raising=False)
    monkeypatch.delenv("HAI_API_KEY", raising=False)
    direct = parsl_config("slurm", 2, tmp_path, SlurmOptions(partition="cpu"))
    assert isinstance(direct.executors[0].provider, SlurmProvider)  # type: ignore[attr-defined]
    named = SlurmOptions(url="http://127.0.0.1:9", api_key="hai-x", qos="cpunormal")
    through = parsl_config("slurm", 2, tmp_path, named, campaign="c")
    provider = through.executors[0].provider  # type: ignore[attr-defined]
    assert isinstance(provider, PlatformProvider)
    assert provider.block.cpus == 2 and provider.block.qos == "cpunormal"
    assert through.executors[0].address == "127.0.0.1"  # type: ignore[attr-defined]
    monkeypatch.setenv("HAI_HOME", str(tmp_path / "nokey"))
    with pytest.raises(WorkflowError, match="HAI_API_KEY"):
        parsl_config("platform", 1, tmp_path, SlurmOptions(url="http://hai.example.org"))
    with pytest.raises(WorkflowError, match="nodes=1"):
        parsl_config("platform", 1, tmp_path, SlurmOptions(url="http://x", api_key="k", nodes=2))
