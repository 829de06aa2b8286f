"""The Papers page in Chromium: upload a real multi-page PDF, ask it, follow the citation to
the right page, translate a cited passage; a non-PDF is refused on the page; another user
cannot see or open the paper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.portal.conftest import shot, sign_in
from tests.support.papers import NOTE_PAGES, write_pdf
from tests.support.processes import Platform

EMBEDDING = "hakutaku.workers.backends.embedding:SentenceEmbedding"
LOCAL_CHAT = "hakutaku.workers.backends.local_chat:LocalChat"


@pytest.fixture(scope="module")
def served(portal: Platform) -> Platform:
    portal.start_worker(EMBEDDING, wait=180)
    portal.start_worker(LOCAL_CHAT, wait=240)
    return portal


@pytest.fixture(scope="module")
def note(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pdf(tmp_path_factory.mktemp("pdf") / "top-mass-note.pdf", NOTE_PAGES)


def test_upload_ask_and_follow_the_citation(
    served: Platform, page: Any, browser: Any, note: Path, tmp_path: Path
) -> None:
    sign_in(page, served, "alice")
    page.get_by_role("link", name="Papers").click()
    page.wait_for_url(f"{served.url}/papers")
    assert page.get_by_text("No papers yet").is_visible()

    # a text file is refused on the page, saying why
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a pdf at all")
    page.get_by_label("Upload a PDF").set_input_files(str(text_file))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_role("alert").wait_for()
    assert "not a PDF" in page.get_by_role("alert").inner_text()

    page.get_by_label("Upload a PDF").set_input_files(str(note))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_url(f"{served.url}/papers?done=uploaded")
    row = page.get_by_role("row").filter(has_text="top-mass-note")
    assert "4" in row.inner_text()  # pages
    shot(page, "papers-uploaded")

    page.get_by_label("Question").fill("What is the measured mass of the top quark?")
    page.get_by_label("Longest answer (tokens)").fill("12")
    # the answer comes when the model has written it: wait for the page, not the click
    page.get_by_role("button", name="Ask", exact=True).click(no_wait_after=True)
    page.get_by_role("heading", name="Answer").wait_for(timeout=120_000)
    citations = page.locator("ol.citations li")
    assert citations.count() == 3
    first = citations.first.get_by_role("link")
    assert first.inner_text() == "top-mass-note.pdf, page 3"
    href = first.get_attribute("href")
    assert href is not None and href.endswith("/pdf#page=3")
    assert "172.5 GeV" in citations.first.locator("blockquote").inner_text()
    assert page.get_by_test_id("answer").inner_text().strip()

    # Translate: the passage (English) into Chinese by the chat model, shown under it as text
    translation = citations.first.locator(".passage-translation")
    citations.first.get_by_role("button", name="Translate into Chinese").click()
    page.wait_for_function(
        "el => el.textContent.trim() && el.textContent !== 'Translating…'",
        arg=translation.element_handle(),
        timeout=180_000,
    )
    assert translation.get_attribute("lang") == "zh-CN"
    assert "error" not in (translation.get_attribute("class") or "")
    assert "Translation failed" not in translation.inner_text()
    shot(page, "papers-answer")

    pdf = page.request.get(f"{served.url}{href.split('#')[0]}")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body() == note.read_bytes()

    # bob: no papers of his, and alice's is not found for him (page and API)
    other = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        bob = other.new_page()
        sign_in(bob, served, "bob")
        bob.goto(f"{served.url}/papers")
        assert bob.get_by_text("No papers yet").is_visible()
        assert "top-mass-note" not in bob.content()
        assert bob.request.get(f"{served.url}{href.split('#')[0]}").status == 404
        paper_id = href.split("/")[3]
        assert bob.request.get(f"{served.url}/api/papers/{paper_id}").status == 404
        csrf = bob.locator("body").get_attribute("data-csrf")
        r = bob.request.post(
            f"{served.url}/papers/{paper_id}/delete", form={"csrf_token": csrf or ""}
        )
        assert r.status == 404
        assert "among your papers" in r.text()
    finally:
        other.close()
