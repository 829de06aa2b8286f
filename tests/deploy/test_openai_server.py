"""`--openai-server CMD` deployments: an OpenAI-compatible server run as each replica's job and
served through the gateway, on CPU with the project's own server over a tiny real model (what
a GPU node does with vLLM; that path needs a GPU and is not run here)."""

from __future__ import annotations

import sys
from pathlib import Path

import openai
import pytest

from hakutaku.sdk.errors import APIError
from tests.support.processes import Platform, wait_until
from tests.support.tiny_lm import save_tiny_model

Local = tuple[Platform, str]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-lm")
    save_tiny_model(directory)
    return directory


def _server_command(model_dir: Path) -> str:
    return (
        f"env HAI_CHAT_MODEL_DIR={model_dir} {sys.executable} -m hakutaku.workers.openai_server"
        " --port {port} --name tiny-upstream"
    )


def test_openai_server_replica_answers_through_the_gateway(local: Local, model_dir: Path) -> None:
    platform, alice = local
    c = platform.client(alice)
    d = c.deployments.create("chatty", openai_server=_server_command(model_dir), mem="1500M")
    assert d["kind"] == "openai-server"
    c.deployments.wait_ready("chatty", timeout=180)
    llm = openai.OpenAI(base_url=f"{platform.url}/v1", api_key=alice)
    messages = [{"role": "user", "content": "what is the top quark?"}]
    answer = llm.chat.completions.create(
        model="chatty",
        messages=messages,
        max_tokens=6,
        temperature=0,  # type: ignore[arg-type]
    )
    assert answer.model == "chatty"  # the deployment's name, not the upstream's own id
    assert answer.usage is not None and answer.usage.completion_tokens == 6
    text = answer.choices[0].message.content
    assert text
    chunks = list(
        llm.chat.completions.create(
            model="chatty", messages=messages, max_tokens=6, temperature=0, stream=True,  # type: ignore[arg-type]
        )
    )  # fmt: skip
    deltas = [
        ch.choices[0].delta.content for ch in chunks if ch.choices and ch.choices[0].delta.content
    ]
    assert "".join(deltas) == text  # the same greedy text, as chunks: role, content..., finish
    assert len(chunks) >= 3 and chunks[-1].choices[0].finish_reason == "length"
    assert all(ch.model == "chatty" for ch in chunks)
    # The upstream's refusal reaches the caller as a 400 with its message.
    with pytest.raises(openai.BadRequestError):
        llm.chat.completions.create(model="chatty", messages=[], max_tokens=4)  # type: ignore[arg-type]
    c.deployments.delete("chatty")


def test_a_server_that_exits_fails_its_replica_saying_why(local: Local) -> None:
    platform, alice = local
    c = platform.client(alice)
    command = f"{sys.executable} -c 'import sys; sys.exit(3)' --port {{port}}"
    c.deployments.create("broken-chat", openai_server=command, mem="500M")
    wait_until(lambda: c.deployments.get("broken-chat")["failures"] >= 1, 120, "a failed replica")
    ended = [r for r in c.deployments.get("broken-chat")["replicas"] if r["state"] == "ended"]
    assert ended and ended[0]["ended_why"].startswith("failed")
    log = b"".join(c.jobs.logs(ended[0]["job_id"])).decode()
    assert "exited with code 3 before it answered" in log
    c.deployments.delete("broken-chat")
    gone = lambda: "broken-chat" not in [x["name"] for x in c.deployments.list()]  # noqa: E731
    wait_until(gone, 60, "deletion")


def test_openai_server_needs_its_port_placeholder(local: Local) -> None:
    platform, alice = local
    with pytest.raises(APIError, match="where its port goes") as refused:
        platform.client(alice).deployments.create("noport", openai_server="vllm serve /m")
    assert refused.value.status == 400
