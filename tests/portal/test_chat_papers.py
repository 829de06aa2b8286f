"""Papers in a conversation, in Chromium and from the SDK, against a real server, the real
embedding model and the real offline chat model: attach a real multi-page PDF, ask, and see
the answer's passages as `file, p. N` links to the page with the answer (also after a
reload); another user cannot attach the paper (404), and reads it through a shared
conversation that cites it, and only then."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hakutaku import Client
from hakutaku.workers.backends.local_chat import DEFAULT_CHAT_MODEL
from tests.portal.conftest import shot, sign_in
from tests.portal.test_chat import ANSWER_TIMEOUT, ask, page_api
from tests.support.papers import NOTE_PAGES, TAGGER_PAGES, write_pdf
from tests.support.processes import Platform

EMBEDDING = "hakutaku.workers.backends.embedding:SentenceEmbedding"
LOCAL_CHAT = "hakutaku.workers.backends.local_chat:LocalChat"
QUESTION = "What is the measured mass of the top quark?"  # answered on page 3


@pytest.fixture(scope="module")
def served(portal: Platform) -> Platform:
    portal.start_worker(EMBEDDING, wait=180)
    portal.start_worker(LOCAL_CHAT, wait=240)
    return portal


@pytest.fixture(scope="module")
def keys(served: Platform) -> dict[str, str]:
    out = {}
    with served.http() as h:
        for name in ("alice", "bob"):
            r = h.post("/api/keys", json={"user": name})
            assert r.status_code == 201, r.text
            out[name] = r.json()["key"]
    return out


@pytest.fixture(scope="module")
def alices_paper(served: Platform, keys: dict[str, str], tmp_path_factory: Any) -> dict:
    note = write_pdf(tmp_path_factory.mktemp("pdf") / "top-mass-note.pdf", NOTE_PAGES)
    with served.http(keys["alice"]) as h:
        r = h.post(
            "/api/papers",
            params={"filename": note.name},
            content=note.read_bytes(),
            headers={"content-type": "application/pdf"},
        )
    assert r.status_code == 201, r.text
    paper: dict = r.json()
    return paper


def citations(page: Any) -> Any:
    return page.locator("#chat-messages li.msg-assistant[data-seq] ol.msg-passages li")


def assert_cites_page_3(page: Any, paper_id: int) -> None:
    first = citations(page).first
    link = first.locator("a.passage-link")
    assert link.inner_text() == "top-mass-note.pdf, p. 3"
    assert link.get_attribute("href") == f"/api/papers/{paper_id}/pdf#page=3"
    assert "172.5 GeV" in first.locator(".passage-text").inner_text()
    assert citations(page).count() == 3


def test_attach_a_paper_ask_and_see_the_cited_page_again_after_a_reload(
    served: Platform, page: Any, keys: dict[str, str], alices_paper: dict, tmp_path: Path
) -> None:
    sign_in(page, served, "alice")
    page.goto(f"{served.url}/chat")
    page.locator("#chat-papers-box summary").click()
    page.get_by_label("top-mass-note").check()  # attaching makes the conversation
    page.wait_for_url(f"{served.url}/chat/*")
    cid = int(page.url.rsplit("/", 1)[1])
    attached = page.locator("#chat-papers-attached")
    attached.wait_for()
    assert attached.inner_text() == "Papers: top-mass-note"

    ask(page, QUESTION, max_tokens=12)
    page.locator("#chat-messages li.msg-assistant[data-seq]").wait_for(timeout=ANSWER_TIMEOUT)
    assert_cites_page_3(page, alices_paper["id"])
    shot(page, "chat-papers")

    # kept with the answer: the page shows them again, and the API has them
    page.reload()
    assert_cites_page_3(page, alices_paper["id"])
    assert page.get_by_label("top-mass-note").is_checked()
    with page_api(page, served) as h:
        answer = h.get(f"/api/chat/conversations/{cid}/messages").json()["data"][-1]
        assert answer["role"] == "assistant"
        assert answer["passages"][0]["page"] == 3
        assert answer["passages"][0]["link"] == f"/api/papers/{alices_paper['id']}/pdf#page=3"
        # the link opens alice's PDF for alice
        pdf = h.get(answer["passages"][0]["link"].split("#")[0])
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"

    # bob cannot attach alice's paper to his own conversation, nor ask her conversation
    with served.http(keys["bob"]) as h:
        mine = h.post("/api/chat/conversations", json={}).json()
        r = h.put(
            f"/api/chat/conversations/{mine['id']}/papers",
            json={"paper_ids": [alices_paper["id"]]},
        )
        assert r.status_code == 404 and r.json()["error"]["code"] == "paper_not_found"
        r = h.post(f"/api/chat/conversations/{cid}/retrieve", json={"question": QUESTION})
        assert r.status_code == 404 and r.json()["error"]["code"] == "conversation_not_found"


def test_passage_text_is_shown_as_text(
    served: Platform, page: Any, keys: dict[str, str], alices_paper: dict
) -> None:
    """A stored passage (the client sends it with the answer) never becomes HTML."""
    with served.http(keys["alice"]) as h:
        cid = h.post("/api/chat/conversations", json={"title": "xss"}).json()["id"]
        h.post(f"/api/chat/conversations/{cid}/messages", json={"role": "user", "content": "?"})
        evil = '<img src=x onerror="window.__owned=1">'
        r = h.post(
            f"/api/chat/conversations/{cid}/messages",
            json={
                "role": "assistant",
                "content": "See [1].",
                "passages": [{"paper_id": 1, "file": evil, "page": 2, "text": evil}],
            },
        )
        assert r.status_code == 201, r.text
    sign_in(page, served, "alice")
    page.goto(f"{served.url}/chat/{cid}")
    first = citations(page).first
    assert first.locator(".passage-text").inner_text() == evil
    assert first.locator("a.passage-link").inner_text() == f"{evil}, p. 2"
    assert page.locator("#chat-messages img").count() == 0
    assert page.evaluate("window.__owned") is None


def test_the_sdk_attaches_papers_and_sends_with_their_passages(
    served: Platform, keys: dict[str, str], alices_paper: dict
) -> None:
    client = Client(served.url, keys["alice"])
    conv = client.chat.create(model=DEFAULT_CHAT_MODEL)
    assert client.chat.attach_papers(conv["id"], [alices_paper["id"]])["paper_ids"] == [
        alices_paper["id"]
    ]
    answer = client.chat.send(conv["id"], QUESTION, max_tokens=8)
    assert answer["role"] == "assistant" and answer["passages"][0]["page"] == 3
    found = client.chat.retrieve(conv["id"], "How many layers of pixel sensors?", k=1)
    assert [p["page"] for p in found["passages"]] == [2]
    assert "[1] (top-mass-note.pdf, page 2)" in found["context"]
    # detached: answers carry no passages, and retrieving says what to do
    assert client.chat.attach_papers(conv["id"], [])["paper_ids"] == []
    assert client.chat.send(conv["id"], "Thanks!", max_tokens=4)["passages"] is None
    with served.http(keys["alice"]) as h:
        r = h.post(f"/api/chat/conversations/{conv['id']}/retrieve", json={"question": "x"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "no_papers_attached"
        assert "PUT" in r.json()["error"]["message"]
        r = h.put(f"/api/chat/conversations/{conv['id']}/papers", json={"paper_ids": [999999]})
        assert r.status_code == 404 and r.json()["error"]["code"] == "paper_not_found"
        passage = {"paper_id": 1, "file": "a.pdf", "page": 1, "text": "t"}
        r = h.post(
            f"/api/chat/conversations/{conv['id']}/messages",
            json={"role": "user", "content": "hi", "passages": [passage]},
        )
        assert r.status_code == 400 and "Only an answer" in r.json()["error"]["message"]


def cite(h: Any, cid: int, paper_id: int) -> None:
    """A question and an answer citing page 3 of `paper_id` (as the chat page keeps them)."""
    h.post(f"/api/chat/conversations/{cid}/messages", json={"role": "user", "content": "m_t?"})
    passage = {"paper_id": paper_id, "file": "top-mass-note.pdf", "page": 3, "text": "172.5 GeV"}
    r = h.post(
        f"/api/chat/conversations/{cid}/messages",
        json={"role": "assistant", "content": "172.5 GeV [1].", "passages": [passage]},
    )
    assert r.status_code == 201, r.text


def test_a_reader_of_a_shared_conversation_opens_the_pdfs_it_cites_and_no_other(
    served: Platform, page: Any, keys: dict[str, str], alices_paper: dict, tmp_path: Path
) -> None:
    paper_id = alices_paper["id"]
    with served.http(keys["alice"]) as h:
        cid = h.post("/api/chat/conversations", json={"title": "top mass"}).json()["id"]
        cite(h, cid, paper_id)
        token = h.put(f"/api/chat/conversations/{cid}/share").json()["share_token"]
        other = write_pdf(tmp_path / "uncited.pdf", TAGGER_PAGES)
        r = h.post(
            "/api/papers",
            params={"filename": other.name},
            content=other.read_bytes(),
            headers={"content-type": "application/pdf"},
        )
        assert r.status_code == 201, r.text
        uncited = r.json()["id"]
    link = f"/api/chat/shared/{token}/papers/{paper_id}/pdf"

    sign_in(page, served, "bob")
    page.goto(f"{served.url}/chat/shared/{token}")
    first = citations(page).first.locator("a.passage-link")
    assert first.get_attribute("href") == f"{link}#page=3"
    assert first.inner_text() == "top-mass-note.pdf, p. 3"  # the shared page has the labels
    box = page.locator("#chat-messages li.msg-assistant .msg-passages-box small").first
    assert box.inner_text() == "Passages given to the model"
    shot(page, "chat-shared-passages")
    with page_api(page, served) as h:
        pdf = h.get(link)
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        answer = h.get(f"/api/chat/shared/{token}/messages").json()["data"][-1]
        assert answer["passages"][0]["link"] == f"{link}#page=3"
        # alice's paper itself stays hers, and the link opens no paper the answers do not cite
        assert h.get(f"/api/papers/{paper_id}/pdf").status_code == 404
        r = h.get(f"/api/chat/shared/{token}/papers/{uncited}/pdf")
        assert r.status_code == 404 and r.json()["error"]["code"] == "paper_not_found"

    # bob's own answer citing alice's paper id, shared, opens nothing of hers
    with served.http(keys["bob"]) as h:
        mine = h.post("/api/chat/conversations", json={}).json()["id"]
        cite(h, mine, paper_id)
        bobs = h.put(f"/api/chat/conversations/{mine}/share").json()["share_token"]
        r = h.get(f"/api/chat/shared/{bobs}/papers/{paper_id}/pdf")
        assert r.status_code == 404 and r.json()["error"]["code"] == "paper_not_found"

    with served.http(keys["alice"]) as h:
        h.delete(f"/api/chat/conversations/{cid}/share")
    with served.http(keys["bob"]) as h:
        r = h.get(link)
        assert r.status_code == 404 and r.json()["error"]["code"] == "share_not_found"
