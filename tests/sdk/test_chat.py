"""`client.chat` against a real server and the real offline chat model: the conversation is
kept on the server, and `send`/`regenerate` ask the model through /v1 with the client's key,
so the call is metered as that user's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hakutaku import Client
from hakutaku.sdk.errors import APIError
from hakutaku.workers.backends.local_chat import DEFAULT_CHAT_MODEL
from tests.support.processes import Platform, wait_until

LOCAL_CHAT = "hakutaku.workers.backends.local_chat:LocalChat"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = Platform(tmp_path_factory.mktemp("sdk-chat") / "home", HAI_DEMO_WORKERS="false").start()
    try:
        p.start_worker(LOCAL_CHAT, wait=300)
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def carol(served: Platform) -> Iterator[Client]:
    with served.client(served.add_user_key("carol")) as client:
        yield client


def _calls(p: Platform, user: str) -> int:
    with p.http() as h:
        rows = h.get("/api/usage", params={"model": DEFAULT_CHAT_MODEL, "user": user}).json()
    return sum(r["calls"] for r in rows if r["method"] == "chat_completions")


def test_send_and_regenerate_go_through_the_gateway_as_the_user(
    served: Platform, carol: Client
) -> None:
    conv = carol.chat.create(model=DEFAULT_CHAT_MODEL, system_prompt="Answer in one line.")
    answer = carol.chat.send(conv["id"], "Name a lepton.", max_tokens=8, temperature=0)
    assert answer["role"] == "assistant" and answer["seq"] == 2
    assert answer["content"].strip() and answer["model"] == DEFAULT_CHAT_MODEL
    assert 1 <= answer["completion_tokens"] <= 8 and answer["prompt_tokens"] > 0
    assert answer["finish"] in ("stop", "length")

    again = carol.chat.regenerate(conv["id"], max_tokens=8, temperature=0)
    assert again["seq"] == 2 and again["content"] == answer["content"]  # greedy: the same
    assert carol.chat.get(conv["id"])["message_count"] == 2
    wait_until(lambda: _calls(served, "carol") == 2, 30, "carol's two calls in the usage")

    carol.chat.edit(conv["id"], 1, "Name a quark.")
    assert [m["seq"] for m in carol.chat.messages(conv["id"])["data"]] == [1]
    text = carol.chat.export(conv["id"])
    assert "## You\n\nName a quark." in text and "## System prompt" in text


def test_stream_keeps_the_answer_and_stops_when_closed(carol: Client) -> None:
    conv = carol.chat.create(model=DEFAULT_CHAT_MODEL)
    with carol.chat.stream(conv["id"], "Name a boson.", max_tokens=8, temperature=0) as answer:
        pieces = list(answer)
    assert len(pieces) >= 2  # piece by piece
    kept = answer.message
    assert kept is not None and kept["content"] == "".join(pieces) and kept["seq"] == 2
    assert kept["completion_tokens"] == 8 or kept["finish"] == "stop"
    assert kept["prompt_tokens"] > 0

    long = carol.chat.stream(conv["id"], "Tell a long story.", max_tokens=300)
    first_two = [next(long), next(long)]
    long.close()  # as Stop in the page: what came is kept, marked stopped
    stopped = long.message
    assert stopped is not None and stopped["finish"] == "stopped"
    assert stopped["content"] == "".join(first_two) and stopped["seq"] == 4
    assert list(long) == []


def test_pages_search_and_errors(carol: Client) -> None:
    made = [carol.chat.create(f"page {i}") for i in range(5)]
    carol.chat.add(made[0]["id"], "user", "find the muon here")
    assert [c["id"] for c in carol.chat.list("MUON")] == [made[0]["id"]]
    every = [c["id"] for c in carol.chat.iter("page", page_size=2)]
    assert sorted(every) == sorted(c["id"] for c in made) and every[0] == made[0]["id"]
    carol.chat.rename(made[1]["id"], "renamed")
    assert carol.chat.get(made[1]["id"])["title"] == "renamed"
    shared = carol.chat.share(made[1]["id"])
    assert carol.chat.shared(shared["share_token"])["owner"] == "carol"
    carol.chat.delete(made[1]["id"])
    with pytest.raises(APIError) as err:
        carol.chat.get(made[1]["id"])
    assert err.value.status == 404
    with pytest.raises(ValueError, match="has no model yet"):
        carol.chat.answer(made[2]["id"])
