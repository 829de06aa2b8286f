"""A real `hai worker` process against a recording control API: register, beat, leave."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_worker_lifecycle(
    registry: Any, start_worker: Any, model_file: Path, wait: Any, sig: signal.Signals
) -> None:
    # The server is down when the worker starts: its port refuses connections.
    proc = start_worker(
        f"{model_file}:Toy", "--server", registry.url, "--name", "toy-v2", "--max-inflight", "3"
    )
    proc.wait_for_output("worker toy-v2 serving http://127.0.0.1:")
    # Then it comes up but is not ready yet (503 twice), then it accepts the worker.
    registry.fail_registers = 2
    registry.start()
    first = wait(lambda: registry.issued(), 60, "a registration")[0]
    attempts = registry.of("register")
    assert len(attempts) >= 3
    assert "cannot register with" in proc.output()

    body = attempts[-1][2]
    assert body["model"] == "toy-v2"
    assert body["url"].startswith("http://127.0.0.1:")
    assert body["max_inflight"] == 3
    assert body["description"] == "Toy model: arithmetic, arrays, streams and failures."
    assert body["pid"] == proc.proc.pid and body["host"]
    assert body["methods"]["count"] == {"kind": "generator", "params": ["n"], "doc": ""}

    # Heartbeats carry the counters, at the interval the server asked for (0.1 s).
    wait(lambda: len([c for c in registry.of("heartbeat") if c[1] == first]) >= 3, 60, "heartbeats")
    beat = registry.of("heartbeat")[-1][2]
    assert beat == {"inflight": 0, "served": 0}

    # The server forgets the worker (e.g. it missed beats): the next beat gets 404 and the
    # worker registers again under a new id.
    registry.forget()
    second = wait(lambda: registry.issued()[1:], 60, "a second registration")[0]
    assert second != first
    wait(lambda: any(c[1] == second for c in registry.of("heartbeat")), 60, "beats as new id")

    assert proc.proc.send_signal(sig) is None
    assert proc.proc.wait(60) == 0, proc.output()
    # (a heartbeat cut off by the shutdown may still land around it, so no ordering check)
    assert registry.of("deregister") == [("deregister", second, None)]
    assert len(registry.issued()) == 2


def test_wrong_token_stops_the_worker(registry: Any, start_worker: Any, model_file: Path) -> None:
    registry.start()
    proc = start_worker(f"{model_file}:Toy", "--server", registry.url, token="not-the-token")
    assert proc.proc.wait(60) == 1
    assert "refused the worker token (HTTP 401)" in proc.output()
    assert "HAI_WORKER_TOKEN" in proc.output()


def test_no_token_exits_2_saying_where_it_is_expected(
    start_worker: Any, model_file: Path, tmp_path: Path
) -> None:
    proc = start_worker(f"{model_file}:Toy", token=None)
    assert proc.proc.wait(60) == 2
    out = proc.output()
    assert "HAI_WORKER_TOKEN" in out and str(tmp_path / "hai-home" / "worker.token") in out
    assert "hai serve" in out


def test_bad_target_exits_1_with_a_clear_message(start_worker: Any, tmp_path: Path) -> None:
    proc = start_worker(f"{tmp_path}/missing.py:Model", "--server", "http://127.0.0.1:9")
    assert proc.proc.wait(60) == 1
    assert f"error: {tmp_path}/missing.py: no such file" in proc.output()


def test_broken_model_shows_its_traceback(start_worker: Any, tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("def oops():\n    raise RuntimeError('weights missing')\n\noops()\n")
    proc = start_worker(f"{path}:Model", "--server", "http://127.0.0.1:9")
    assert proc.proc.wait(60) == 1
    out = proc.output()
    assert "Traceback" in out and "broken.py" in out
    assert "importing it failed: RuntimeError: weights missing" in out
