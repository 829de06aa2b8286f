"""An OpenAI-compatible server run as a child of the worker and served as its chat model.

`hai deploy create NAME --openai-server "CMD ... {port}"` runs this backend in every replica:
`setup()` starts the command with `{port}` replaced by a free port (vLLM on a GPU node:
`vllm serve /models/Qwen2.5-7B-Instruct --port {port}`; on a CPU node the project's
`python -m hakutaku.workers.openai_server --port {port}`), waits until its `/v1/models`
answers, and from then on `chat_completions` forwards each call to it, streamed or not, under
the deployment's name. The server shares the worker's job (its process group, its log) and
dies with the worker.

- `HAI_OPENAI_SERVER_CMD`: the command line (set by the deploy controller);
- `HAI_OPENAI_SERVER_START_TIMEOUT`: seconds to wait for it to answer (default 900: a large
  model loads for minutes).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx

from hakutaku.workers.remote import RemoteModel, remote

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    # Runs in the child before exec: a SIGKILLed worker takes its server along.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, 9)


def command_line(template: str, port: int) -> list[str]:
    if "{port}" not in template:
        raise ValueError("the server's command must contain {port}, e.g. '... --port {port}'")
    return [part.replace("{port}", str(port)) for part in shlex.split(template)]


class OpenAIServerProcess(RemoteModel):
    name: ClassVar[str | None] = "openai-server"
    description: ClassVar[str] = "An OpenAI-compatible server run by a deployment's replica."
    max_inflight: ClassVar[int | None] = 64  # the server batches; it queues what it cannot

    def __init__(self) -> None:  # the settings come from the environment (see above)
        self.template = os.environ.get("HAI_OPENAI_SERVER_CMD", "")
        if not self.template:
            raise ValueError("HAI_OPENAI_SERVER_CMD is not set: deploy with --openai-server")
        self.start_timeout = float(os.environ.get("HAI_OPENAI_SERVER_START_TIMEOUT") or 900)
        self.process: subprocess.Popen[bytes] | None = None
        self.upstream_model = ""

    def setup(self) -> None:
        port = free_port()
        argv = command_line(self.template, port)
        self.base = f"http://127.0.0.1:{port}/v1"
        self.process = subprocess.Popen(argv, preexec_fn=_die_with_parent)
        self.http = httpx.Client(timeout=httpx.Timeout(600.0, connect=10.0))
        self.upstream_model = self._wait_ready(argv)

    def _wait_ready(self, argv: list[str]) -> str:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(
                    f"the server {argv[0]!r} exited with code {code} before it answered; its "
                    "output is in the replica's log (`hai deploy logs NAME`)"
                )
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, IndexError):
                answer = self.http.get(f"{self.base}/models", timeout=5.0)
                if answer.status_code == 200:
                    return str(answer.json()["data"][0]["id"])
            if time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(
                    f"the server {argv[0]!r} did not answer on /v1/models within "
                    f"{self.start_timeout:.0f} s (HAI_OPENAI_SERVER_START_TIMEOUT)"
                )
            time.sleep(POLL_SECONDS)

    @remote
    def chat_completions(self, request: dict[str, Any]) -> Any:
        """OpenAI `POST /v1/chat/completions`, answered by the server under the caller's
        model name: a `chat.completion` dict, or a generator of chunks when streaming."""
        name = request.get("model")
        body = {**request, "model": self.upstream_model}
        if request.get("stream"):
            return self._stream(body, name)
        answer = self.http.post(f"{self.base}/chat/completions", json=body)
        self._raise_for(answer.status_code, answer.text)
        return {**answer.json(), "model": name}

    def _stream(self, body: dict[str, Any], name: Any) -> Iterator[dict[str, Any]]:
        with self.http.stream("POST", f"{self.base}/chat/completions", json=body) as answer:
            if answer.status_code != 200:
                self._raise_for(answer.status_code, answer.read().decode(errors="replace"))
            for line in answer.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                yield {**json.loads(data), "model": name}

    @staticmethod
    def _raise_for(status: int, text: str) -> None:
        if status < 400:
            return
        try:
            message = json.loads(text)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = text[:500]
        if status < 500:
            raise ValueError(message)  # the caller's request: 400 from the worker
        raise RuntimeError(f"the server answered {status}: {message}")
