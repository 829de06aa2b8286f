"""An app session on the real Slurm (deploy/slurm): the Terminal runs as the owner's Slurm job,
as the owner's Unix user, on the node Slurm chose, and answers through the proxy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
import websockets

from tests.portal.conftest import PASSWORD
from tests.support.apps import (
    launch,
    platform_on_slurm,
    run_in_jupyter,
    session_cookie,
    signed_in_client,
    wait_running,
)
from tests.support.processes import Platform
from tests.support.slurm import SlurmCluster


@pytest.fixture(scope="module")
def on_slurm(
    slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    with platform_on_slurm(slurm_cluster, tmp_path_factory.mktemp("apps-slurm") / "home") as p:
        yield p


async def _run(url: str, cookie: str, origin: str, line: str, until: bytes) -> str:
    async with websockets.connect(url, additional_headers={"cookie": cookie}, origin=origin) as ws:
        await ws.send(json.dumps({"type": "input", "data": line + "\r"}))
        out = b""
        while until not in out:
            out += await asyncio.wait_for(ws.recv(), 20)  # type: ignore[operator]
        return out.decode(errors="replace")


def test_a_terminal_on_slurm_runs_as_its_owner_through_the_proxy(on_slurm: Platform) -> None:
    alice = signed_in_client(on_slurm.url, "alice", PASSWORD)
    session = launch(alice, "terminal", time="0:10:00")
    wait_running(on_slurm, alice, session["id"], timeout=120)
    card = alice.get(f"/api/apps/sessions/{session['id']}").json()
    assert card["phase"] == "running" and card["node"], card
    job = alice.get(f"/api/jobs/{card['job_id']}").json()
    assert job["backend"] == "slurm" and job["external_id"] and job["user"] == "alice"
    url = on_slurm.url.replace("http://", "ws://") + f"/apps/{session['id']}/ws"
    out = asyncio.run(
        _run(url, session_cookie(alice), on_slurm.url, "echo $((6*7))-$(whoami)", b"42-alice")
    )
    assert "42-alice" in out
    stopped = alice.post(
        f"/api/apps/sessions/{session['id']}/stop",
        headers={"x-csrf-token": alice.get("/sessions").text.split('data-csrf="')[1].split('"')[0]},
    )
    assert stopped.status_code == 200


def test_jupyter_on_slurm_runs_a_cell_through_the_proxy(on_slurm: Platform) -> None:
    alice = signed_in_client(on_slurm.url, "alice", PASSWORD)
    session = launch(alice, "jupyter", time="0:10:00", mem="2G")
    wait_running(on_slurm, alice, session["id"], timeout=180)
    job = alice.get(f"/api/jobs/{session['job_id']}").json()
    assert job["backend"] == "slurm" and job["user"] == "alice"
    code = "import getpass; f'{6*7}-{getpass.getuser()}'"
    assert asyncio.run(run_in_jupyter(on_slurm, alice, session["id"], code)) == "'42-alice'"
