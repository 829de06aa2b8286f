"""`hai up` as a new user runs it: start, copy the printed curl examples, get real answers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.support.processes import free_port, wait_until


def _curl_examples(banner: str) -> list[str]:
    """The shell commands the banner prints, joined across their backslash continuations."""
    text = banner.replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip().startswith("curl ")]


def test_up_prints_working_examples(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "HAI_HOME": str(tmp_path / "home"), "HAI_PORT": str(port)}
    for var in ("HAI_URL", "HAI_API_KEY", "HAI_DATABASE_URL", "HAI_WORKER_TOKEN"):
        env.pop(var, None)
    out_path = tmp_path / "up.out"
    with open(out_path, "w") as out:
        up = subprocess.Popen(
            [sys.executable, "-m", "hakutaku", "up"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_until(
            lambda: "Stop: Ctrl-C" in out_path.read_text() or up.poll() is not None,
            300,
            "hai up to print its banner",
        )
        banner = out_path.read_text()
        assert up.poll() is None, banner
        key = (tmp_path / "home" / "bootstrap-admin.key").read_text().strip()
        assert key in banner and f"http://127.0.0.1:{port}" in banner
        embed_cmd, kin_cmd, chat_cmd = _curl_examples(banner)
        embedding = json.loads(
            subprocess.run(
                ["bash", "-c", embed_cmd], capture_output=True, text=True, check=True, timeout=60
            ).stdout
        )
        vector = embedding["data"][0]["embedding"]
        assert len(vector) == 384 and abs(sum(v * v for v in vector) - 1) < 1e-3
        mass = json.loads(
            subprocess.run(
                ["bash", "-c", kin_cmd], capture_output=True, text=True, check=True, timeout=60
            ).stdout
        )
        assert abs(mass - 91.2) < 1e-9  # two back-to-back 45.6 GeV massless particles: the Z

        # The offline chat model loads in the background: 503 model_loading, then an answer.
        def chat() -> dict | None:
            ran = subprocess.run(
                ["bash", "-c", chat_cmd], capture_output=True, text=True, check=True, timeout=120
            )
            reply = json.loads(ran.stdout)
            if "error" in reply:
                assert reply["error"]["code"] == "model_loading", reply
                return None
            return reply

        reply = wait_until(chat, 240, "the offline chat model to answer the banner's curl")
        assert reply["choices"][0]["message"]["content"]
        python_example = re.search(r"From Python:\n\n(.*?)\n\nLogs:", banner, re.S)
        assert python_example is not None
        code = "\n".join(line[2:] for line in python_example.group(1).splitlines())
        ran = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert ran.returncode == 0, ran.stderr
        assert "91.2" in ran.stdout
        children = psutil.Process(up.pid).children(recursive=True)
        assert len(children) >= 4  # server, two demo workers and the chat model
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(60)
    time.sleep(0.5)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def test_second_platform_refuses_a_busy_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "HAI_HOME": str(tmp_path / "home"), "HAI_PORT": str(port)}
        out = subprocess.run(
            [sys.executable, "-m", "hakutaku", "up"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 1
    assert "already in use" in out.stderr and "HAI_PORT" in out.stderr
