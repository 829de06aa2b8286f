"""/api/chat against a real server on SQLite: conversations kept per user, paginated history
and messages, search, edit and regenerate by truncation, exports, read-only sharing, and one
user never reaching another's conversation (404, as for one that does not exist)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.postgres import fresh_database
from tests.support.processes import Platform


@dataclass
class Users:
    platform: Platform
    alice: httpx.Client
    bob: httpx.Client


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def users(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Users]:
    """alice and bob with API keys, on SQLite and on PostgreSQL (the cursor compares times)."""
    url = None
    if request.param == "postgres":
        url = fresh_database(request.getfixturevalue("postgres_url"), "chat")
    home = tmp_path_factory.mktemp("chat-api") / "home"
    p = Platform(home, database_url=url, HAI_DEMO_WORKERS="false").start()
    clients: list[httpx.Client] = []
    try:
        for name in ("alice", "bob"):
            clients.append(p.http(p.add_user_key(name)))
        yield Users(p, *clients)
    finally:
        for c in clients:
            c.close()
        p.stop()


def new(h: httpx.Client, **body: str) -> dict:
    r = h.post("/api/chat/conversations", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def say(h: httpx.Client, cid: int, role: str, content: str, **fields: object) -> dict:
    r = h.post(
        f"/api/chat/conversations/{cid}/messages",
        json={"role": role, "content": content, **fields},
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_a_conversation_keeps_its_messages_title_and_system_prompt(users: Users) -> None:
    h = users.alice
    c = new(h, system_prompt="Answer like a physicist.")
    assert c["title"] == "" and c["message_count"] == 0 and not c["shared"]
    first = say(h, c["id"], "user", "  What is   the W boson mass?  ")
    assert first["seq"] == 1 and first["role"] == "user"
    answer = say(
        h, c["id"], "assistant", "About **80.4 GeV**.", model="m", prompt_tokens=21,
        completion_tokens=9, finish="stop",
    )  # fmt: skip
    assert answer["seq"] == 2 and answer["completion_tokens"] == 9 and answer["model"] == "m"
    got = h.get(f"/api/chat/conversations/{c['id']}").json()
    # titled by the first question, whitespace folded; the answering model is remembered
    assert got["title"] == "What is the W boson mass?"
    assert got["message_count"] == 2 and got["model"] == "m"
    assert got["system_prompt"] == "Answer like a physicist."

    r = h.patch(f"/api/chat/conversations/{c['id']}", json={"title": "W mass", "system_prompt": ""})
    assert r.status_code == 200
    assert r.json()["title"] == "W mass" and r.json()["system_prompt"] == ""
    page = h.get(f"/api/chat/conversations/{c['id']}/messages").json()
    assert [m["content"] for m in page["data"]] == [first["content"], "About **80.4 GeV**."]
    assert page["has_earlier"] is False

    assert h.delete(f"/api/chat/conversations/{c['id']}").status_code == 204
    assert h.get(f"/api/chat/conversations/{c['id']}").status_code == 404
    assert h.get(f"/api/chat/conversations/{c['id']}/messages").status_code == 404


def test_the_history_is_newest_first_paginated_and_searchable(users: Users) -> None:
    h = users.alice
    made = [new(h, title=f"history {i}") for i in range(7)]
    say(h, made[2]["id"], "user", "What does 100% efficiency mean for a b-tagger?")
    # the one just written to is now the most recent
    ids: list[int] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 3, "q": "history"}
        if cursor:
            params["before"] = cursor
        page = h.get("/api/chat/conversations", params=params).json()
        assert len(page["data"]) <= 3
        ids += [c["id"] for c in page["data"]]
        cursor = page["next"]
        if cursor is None:
            break
    expected = [made[2]["id"]] + [c["id"] for c in reversed(made) if c is not made[2]]
    assert ids == expected

    def found(q: str) -> list[int]:
        r = h.get("/api/chat/conversations", params={"q": q})
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["data"]]

    assert found("B-TAGGER") == [made[2]["id"]]  # message text, any case
    assert found("history 5") == [made[5]["id"]]  # title
    assert found("100%") == [made[2]["id"]]  # % is a character, not a wildcard
    assert found("1_0") == []  # and so is _
    assert found("no such words anywhere") == []

    r = h.get("/api/chat/conversations", params={"before": "yesterday"})
    assert r.status_code == 400 and "cursor" in r.json()["error"]["message"]


def test_a_long_conversation_opens_on_its_latest_page(users: Users) -> None:
    h = users.alice
    c = new(h, title="long")
    for i in range(1, 131):
        say(h, c["id"], "user" if i % 2 else "assistant", f"message {i}")
    page = h.get(f"/api/chat/conversations/{c['id']}/messages", params={"limit": 50}).json()
    assert [m["seq"] for m in page["data"]] == list(range(81, 131))
    assert page["has_earlier"] is True
    older = h.get(
        f"/api/chat/conversations/{c['id']}/messages", params={"before": 81, "limit": 50}
    ).json()
    assert [m["seq"] for m in older["data"]] == list(range(31, 81))
    oldest = h.get(
        f"/api/chat/conversations/{c['id']}/messages", params={"before": 31, "limit": 50}
    ).json()
    assert [m["seq"] for m in oldest["data"]] == list(range(1, 31))
    assert oldest["has_earlier"] is False


def test_edit_and_regenerate_truncate_the_conversation(users: Users) -> None:
    h = users.alice
    c = new(h)
    cid = c["id"]
    say(h, cid, "user", "q1")
    say(h, cid, "assistant", "a1")
    say(h, cid, "user", "q2")
    say(h, cid, "assistant", "a2")

    # regenerate: the last answer goes, the question stays; the new answer takes its place
    assert h.delete(f"/api/chat/conversations/{cid}/messages/4").status_code == 204
    assert say(h, cid, "assistant", "a2, again")["seq"] == 4

    # edit and resend: the edited question stays at its place, everything after it goes
    r = h.patch(f"/api/chat/conversations/{cid}/messages/1", json={"content": "q1, edited"})
    assert r.status_code == 200 and r.json()["content"] == "q1, edited"
    data = h.get(f"/api/chat/conversations/{cid}/messages").json()["data"]
    assert [(m["seq"], m["content"]) for m in data] == [(1, "q1, edited")]
    assert h.get(f"/api/chat/conversations/{cid}").json()["message_count"] == 1
    assert say(h, cid, "assistant", "a1'")["seq"] == 2

    r = h.patch(f"/api/chat/conversations/{cid}/messages/2", json={"content": "mine now"})
    assert r.status_code == 400 and "only your own messages" in r.json()["error"]["message"]
    r = h.delete(f"/api/chat/conversations/{cid}/messages/9")
    assert r.status_code == 404 and "has no message 9" in r.json()["error"]["message"]


def test_bad_messages_are_refused_with_what_to_do(users: Users) -> None:
    h = users.alice
    cid = new(h)["id"]
    r = h.post(f"/api/chat/conversations/{cid}/messages", json={"role": "system", "content": "x"})
    assert r.status_code == 400 and "system prompt is the conversation's own field" in r.text
    r = h.post(f"/api/chat/conversations/{cid}/messages", json={"role": "user", "content": " "})
    assert r.status_code == 400 and "needs some text" in r.text
    r = h.post(
        f"/api/chat/conversations/{cid}/messages",
        json={"role": "assistant", "content": "x", "finish": "bored"},
    )
    assert r.status_code == 400 and "finish must be one of" in r.text
    # a stream stopped before its first word is kept as an empty, stopped answer
    say(h, cid, "user", "q")
    kept = say(h, cid, "assistant", "", finish="stopped")
    assert kept["finish"] == "stopped" and kept["content"] == ""
    r = h.get(f"/api/chat/conversations/{cid}/export", params={"format": "pdf"})
    assert r.status_code == 400 and "markdown, json" in r.text


def test_exports_as_markdown_and_json(users: Users) -> None:
    h = users.alice
    c = new(h, title="Top quark / W", system_prompt="Be brief.")
    say(h, c["id"], "user", "Top mass?")
    say(h, c["id"], "assistant", "About $173$ GeV.", model="m", completion_tokens=7)
    md = h.get(f"/api/chat/conversations/{c['id']}/export")
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert f'filename="Top-quark-W-{c["id"]}.md"' in md.headers["content-disposition"]
    text = md.text
    assert text.startswith("# Top quark / W\n")
    assert "## System prompt\n\nBe brief." in text
    assert "## You\n\nTop mass?" in text
    assert "## Assistant (m, 7 tokens)\n\nAbout $173$ GeV." in text
    js = h.get(f"/api/chat/conversations/{c['id']}/export", params={"format": "json"}).json()
    assert js["title"] == "Top quark / W" and js["system_prompt"] == "Be brief."
    assert [(m["role"], m["content"]) for m in js["messages"]] == [
        ("user", "Top mass?"),
        ("assistant", "About $173$ GeV."),
    ]


def test_another_user_sees_nothing_but_what_is_shared(users: Users) -> None:
    alice, bob = users.alice, users.bob
    c = new(alice, title="alice's secret plan")
    cid = c["id"]
    say(alice, cid, "user", "the secret")
    base = f"/api/chat/conversations/{cid}"
    for method, path, body in (
        ("GET", base, None),
        ("PATCH", base, {"title": "mine"}),
        ("DELETE", base, None),
        ("GET", f"{base}/messages", None),
        ("POST", f"{base}/messages", {"role": "user", "content": "hi"}),
        ("PATCH", f"{base}/messages/1", {"content": "hi"}),
        ("DELETE", f"{base}/messages/1", None),
        ("GET", f"{base}/export", None),
        ("PUT", f"{base}/share", None),
        ("DELETE", f"{base}/share", None),
    ):
        r = bob.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["code"] == "conversation_not_found"
    assert "secret" not in bob.get("/api/chat/conversations", params={"q": "secret"}).text
    assert alice.get(base).json()["title"] == "alice's secret plan"  # nothing changed

    shared = alice.put(f"{base}/share").json()
    token = shared["share_token"]
    assert shared["share_url"].endswith(f"/chat/shared/{token}")
    assert alice.put(f"{base}/share").json()["share_token"] == token  # sharing again: same link
    seen = bob.get(f"/api/chat/shared/{token}").json()
    assert seen["title"] == "alice's secret plan" and seen["owner"] == "alice"
    msgs = bob.get(f"/api/chat/shared/{token}/messages").json()["data"]
    assert [m["content"] for m in msgs] == ["the secret"]
    assert bob.get(base).status_code == 404  # the link reads it; it does not make it bob's
    assert bob.post(f"/api/chat/shared/{token}/messages", json={}).status_code == 405

    assert alice.delete(f"{base}/share").json()["shared"] is False
    r = bob.get(f"/api/chat/shared/{token}")
    assert r.status_code == 404 and "stopped sharing" in r.json()["error"]["message"]
    with httpx.Client(base_url=users.platform.url) as anonymous:
        assert anonymous.get("/api/chat/conversations").status_code == 401
