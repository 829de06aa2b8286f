"""Pages → passages, the PDF check and the exact index, without a server."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from hakutaku.errors import PlatformError
from hakutaku.papers.chunks import chunk_pages
from hakutaku.papers.pdf import page_texts
from hakutaku.papers.vectors import PaperVectors, top_k
from tests.support.papers import NOTE_PAGES, write_pdf


def test_passages_never_cross_a_page_and_overlap_within_one() -> None:
    long_page = " ".join(f"word{i}" for i in range(400))  # ~3 400 characters
    chunks = chunk_pages(["short first page", "", long_page], max_chars=800, overlap=150)
    assert chunks[0].page == 1 and chunks[0].text == "short first page"
    on_three = [c for c in chunks if c.page == 3]
    assert {c.page for c in chunks} == {1, 3}  # the empty page gives nothing
    assert len(on_three) >= 5
    assert all(len(c.text) <= 800 for c in on_three)
    for a, b in pairwise(on_three):
        assert b.text.split()[0] in a.text  # each starts inside the one before
    words = {w for c in on_three for w in c.text.split()}
    assert words == set(long_page.split())  # nothing lost


def test_page_texts_of_a_real_pdf(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "note.pdf", NOTE_PAGES)
    pages = page_texts(pdf.read_bytes(), "note.pdf")
    assert len(pages) == 4
    assert "172.5 GeV" in pages[2]
    assert "172.5" not in pages[1]


@pytest.mark.parametrize("data", [b"hello, not a pdf", b"\x89PNG\r\n\x1a\n....", b""])
def test_not_a_pdf_is_refused_clearly(data: bytes) -> None:
    with pytest.raises(PlatformError) as err:
        page_texts(data, "notes.txt")
    assert err.value.status == 415 and "not a PDF" in str(err.value)


def test_a_truncated_pdf_is_refused_clearly(tmp_path: Path) -> None:
    data = write_pdf(tmp_path / "note.pdf", NOTE_PAGES).read_bytes()
    with pytest.raises(PlatformError) as err:
        page_texts(data[:400], "note.pdf")
    assert err.value.code == "unreadable_pdf" and "could not be read" in str(err.value)


def test_exact_top_k_matches_a_full_sort(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    matrix = rng.normal(size=(500, 16)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    query = matrix[42] + 0.01
    expected = np.argsort(-(matrix @ query))[:5]
    store = PaperVectors(tmp_path)
    store.save(1, 9, matrix)
    assert [i for i, _ in top_k(store.load(1, 9), query, 5)] == list(expected)
    assert top_k(matrix[:0], query, 3) == []
    store.delete(1, 9)
    assert not store.path(1, 9).exists()
