"""/api/papers and client.papers against a real server, the real embedding model and the real
offline chat model: upload, retrieve the right page, ask with citations, privacy, quotas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hakutaku import Client
from tests.support.papers import NOTE_PAGES, write_pdf
from tests.support.processes import Platform, wait_until

EMBEDDING = "hakutaku.workers.backends.embedding:SentenceEmbedding"
LOCAL_CHAT = "hakutaku.workers.backends.local_chat:LocalChat"
QUESTION = "What is the measured mass of the top quark?"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = Platform(tmp_path_factory.mktemp("papers") / "home").start()
    try:
        p.start_worker(EMBEDDING, wait=180)
        p.start_worker(LOCAL_CHAT, wait=240)
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def keys(served: Platform) -> dict[str, str]:
    return {name: served.add_user_key(name) for name in ("alice", "bob")}


@pytest.fixture(scope="module")
def note(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pdf(tmp_path_factory.mktemp("pdf") / "top-mass-note.pdf", NOTE_PAGES)


@pytest.fixture(scope="module")
def alices_paper(served: Platform, keys: dict[str, str], note: Path) -> dict:
    with served.http(keys["alice"]) as h:
        r = h.post(
            "/api/papers",
            params={"filename": note.name},
            content=note.read_bytes(),
            headers={"content-type": "application/pdf"},
        )
    assert r.status_code == 201, r.text
    paper: dict = r.json()
    assert paper["pages"] == 4 and paper["path"] == f"papers/{note.name}"
    return paper


def _metered(p: Platform, key: str, model: str) -> int:
    with p.http(key) as h:
        return sum(r["calls"] for r in h.get("/api/usage", params={"model": model}).json())


def test_ask_cites_the_page_with_the_answer_and_is_metered_as_the_user(
    served: Platform, keys: dict[str, str], alices_paper: dict, note: Path
) -> None:
    chats = _metered(served, keys["alice"], "smollm2-135m-instruct")
    with served.http(keys["alice"]) as h:
        r = h.post(
            "/api/papers/ask",
            json={"question": QUESTION, "paper_ids": [alices_paper["id"]], "max_tokens": 16},
        )
        assert r.status_code == 200, r.text
        reply = r.json()
        passages = reply["passages"]
        assert len(passages) == 3
        assert 3 in [p["page"] for p in passages]  # the right page in the top 3...
        top = passages[0]
        assert top["page"] == 3 and "172.5 GeV" in top["text"]  # ...and cited first
        assert top["file"] == note.name
        assert top["link"] == f"/api/papers/{alices_paper['id']}/pdf#page=3"
        assert reply["answer"] and reply["error"] is None
        assert reply["usage"]["completion_tokens"] <= 16
        pdf = h.get(top["link"].split("#")[0])
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content == note.read_bytes()
    # the answer was alice's own /v1 call: her usage grew, not the admin's
    wait_until(
        lambda: _metered(served, keys["alice"], "smollm2-135m-instruct") == chats + 1,
        30,
        "alice's chat call to be metered",
    )
    assert _metered(served, keys["alice"], "all-minilm-l6-v2") >= 2  # the paper, the question


def test_another_user_gets_404_for_the_paper(
    served: Platform, keys: dict[str, str], alices_paper: dict
) -> None:
    pid = alices_paper["id"]
    with served.http(keys["bob"]) as h:
        assert h.get("/api/papers").json() == []
        for r in (
            h.get(f"/api/papers/{pid}"),
            h.get(f"/api/papers/{pid}/pdf"),
            h.delete(f"/api/papers/{pid}"),
            h.post("/api/papers/ask", json={"question": QUESTION, "paper_ids": [pid]}),
        ):
            assert r.status_code == 404, r.text
            assert "among your papers" in r.json()["error"]["message"]
    with served.http(keys["alice"]) as h:
        assert h.get(f"/api/papers/{pid}").status_code == 200  # still there


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"question": "  "}, 400, "question is empty"),
        ({"model": "no-such-model"}, 404, "no-such-model"),
        ({"paper_ids": []}, 422, "paper_ids"),
    ],
)
def test_bad_asks_are_refused_clearly(
    served: Platform, keys: dict[str, str], alices_paper: dict, change: dict, status: int, says: str
) -> None:
    body = {"question": QUESTION, "paper_ids": [alices_paper["id"]], "max_tokens": 4, **change}
    with served.http(keys["alice"]) as h:
        r = h.post("/api/papers/ask", json=body)
    assert r.status_code == status, r.text
    assert says in r.text


def test_a_non_pdf_is_refused_clearly(served: Platform, keys: dict[str, str]) -> None:
    with served.http(keys["bob"]) as h:
        r = h.post("/api/papers", params={"filename": "notes.txt"}, content=b"just some text")
        assert r.status_code == 415, r.text
        assert "not a PDF" in r.json()["error"]["message"]
        listing = h.get("/api/files/list", params={"path": ""}).json()["entries"]
        assert "papers" not in [e["name"] for e in listing]  # nothing was stored


def test_an_upload_over_quota_is_refused_clearly(
    served: Platform, keys: dict[str, str], note: Path
) -> None:
    with served.http() as admin:
        r = admin.put("/api/files/quota/bob", json={"max_bytes": 1000})
        assert r.status_code == 200, r.text
    try:
        with served.http(keys["bob"]) as h:
            r = h.post("/api/papers", params={"filename": note.name}, content=note.read_bytes())
            assert r.status_code in (413, 507), r.text
            assert "quota" in r.json()["error"]["message"]
            assert h.get("/api/papers").json() == []
    finally:
        with served.http() as admin:
            admin.delete("/api/files/quota/bob")


def test_sdk_indexes_a_file_from_the_home_asks_translates_and_deletes(
    served: Platform, keys: dict[str, str], note: Path
) -> None:
    client = Client(served.url, keys["bob"])
    with served.http(keys["bob"]) as h:
        r = h.put("/api/files/home/reading/note.pdf", content=note.read_bytes())
        assert r.status_code in (200, 201), r.text
    paper = client.papers.add("reading/note.pdf")
    assert paper["path"] == "reading/note.pdf" and paper["chunks"] >= 4
    assert [p["id"] for p in client.papers.list()] == [paper["id"]]
    reply = client.papers.ask(
        "How many layers of pixel sensors does the tracker have?",
        [paper["id"]],
        k=2,
        max_tokens=8,
    )
    assert reply["passages"][0]["page"] == 2
    found = client.papers.search("Which crystals make up the calorimeter?", [paper["id"]], k=1)
    assert [p["page"] for p in found] == [2]
    assert client.papers.link(reply["passages"][0]).endswith(f"/{paper['id']}/pdf#page=2")
    translated = client.papers.translate("The top quark is heavy.", to="zh")
    assert translated["text"] and translated["model"] == "smollm2-135m-instruct"
    with pytest.raises(Exception, match="'en' \\(English\\) or 'zh'"):
        client.papers.translate("The top quark is heavy.", to="fr")
    client.papers.delete(paper["id"])
    assert client.papers.list() == []
    assert not list((served.home / "papers").glob(f"*/{paper['id']}.npy"))  # vectors gone
    with pytest.raises(Exception, match="among your papers"):
        client.papers.get(paper["id"])
    # the PDF itself stays in the home
    with httpx.Client(base_url=served.url, headers={"authorization": f"Bearer {keys['bob']}"}) as h:
        assert h.get("/api/files/home/reading/note.pdf").status_code == 200
