"""Retrieval for questions on papers, and the prompts that put passages before the model.

The chat page calls the same functions from a conversation:

    passages = retrieve(session, user_id, paper_ids, question, k, embed=..., vectors=...)
    messages = ask_messages(question, passages)   # then /v1/chat/completions as the user

`embed` turns texts into L2-normalised vectors with the platform's embedding model as the
caller (`GatewayCaller.embed` bound to the model, see service.Papers.embedder); `vectors` is the
index root (`service.Papers.vectors`). Papers that are not `user_id`'s are a 404, the same
answer as papers that do not exist, so ids of other users' papers reveal nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from hakutaku.db.models import Paper, PaperChunk
from hakutaku.errors import NotFound, PlatformError
from hakutaku.papers.vectors import PaperVectors, top_k

MAX_K = 20
Embed = Callable[[list[str]], NDArray[np.float32]]


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved passage: where it is (file, page), what it says, and how close it is."""

    paper_id: int
    file: str  # the PDF's name
    path: str  # in the owner's home
    page: int  # 1-based
    text: str
    score: float  # cosine similarity to the question, in [-1, 1]

    @property
    def link(self) -> str:
        """Opens the PDF at the passage's page (browsers' PDF viewers read #page=N)."""
        return f"/api/papers/{self.paper_id}/pdf#page={self.page}"


def owned_papers(session: Session, user_id: int, paper_ids: Sequence[int]) -> list[Paper]:
    """The papers, in the order asked; 404 for any that is not the user's."""
    if not paper_ids:
        raise PlatformError("Choose at least one paper to ask.", param="paper_ids")
    wanted = list(dict.fromkeys(paper_ids))
    rows = session.scalars(
        select(Paper).where(Paper.id.in_(wanted), Paper.user_id == user_id)
    ).all()
    found = {p.id: p for p in rows}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFound(
            f"No paper {missing[0]} among your papers; list them with GET /api/papers.",
            param="paper_ids",
            code="paper_not_found",
        )
    return [found[i] for i in wanted]


def retrieve(
    session: Session,
    user_id: int,
    paper_ids: Sequence[int],
    question: str,
    k: int,
    *,
    embed: Embed,
    vectors: PaperVectors,
) -> list[Passage]:
    """The k passages of the user's chosen papers closest to the question, best first."""
    question = question.strip()
    if not question:
        raise PlatformError("The question is empty: write what you want to know.", param="question")
    if not 1 <= k <= MAX_K:
        raise PlatformError(f"k must be between 1 and {MAX_K}, got {k}.", param="k")
    papers = owned_papers(session, user_id, paper_ids)
    query = embed([question])[0]
    matrices = [vectors.load(user_id, p.id) for p in papers]
    owners = np.concatenate([np.full(m.shape[0], i) for i, m in enumerate(matrices)])
    offsets = np.concatenate([np.arange(m.shape[0]) for m in matrices])
    hits = top_k(np.concatenate(matrices), query, k) if owners.size else []
    keys = [(papers[int(owners[row])].id, int(offsets[row])) for row, _ in hits]
    chunks = {
        (c.paper_id, c.ordinal): c
        for c in session.scalars(
            select(PaperChunk).where(tuple_(PaperChunk.paper_id, PaperChunk.ordinal).in_(keys))
        )
    }
    by_id = {p.id: p for p in papers}
    out = []
    for (paper_id, ordinal), (_, score) in zip(keys, hits, strict=True):
        chunk, paper = chunks[(paper_id, ordinal)], by_id[paper_id]
        name = PurePosixPath(paper.path).name
        out.append(Passage(paper_id, name, paper.path, chunk.page, chunk.text, score))
    return out


ASK_SYSTEM = (
    "You answer questions about the user's papers. Use only the numbered passages below. "
    "Cite the passages you use as [1], [2], ... If the passages do not answer the question, "
    "say so."
)


def ask_messages(question: str, passages: Sequence[Passage]) -> list[dict[str, str]]:
    """Chat messages asking `question` about `passages` (numbered [1]... as cited)."""
    context = "\n\n".join(
        f"[{i}] ({p.file}, page {p.page}) {p.text}" for i, p in enumerate(passages, start=1)
    )
    return [
        {"role": "system", "content": f"{ASK_SYSTEM}\n\n{context}"},
        {"role": "user", "content": question},
    ]


LANGUAGES = {"en": "English", "zh": "Chinese (简体中文)"}


def translate_messages(text: str, to: str) -> list[dict[str, str]]:
    """Chat messages asking for `text` in language `to` (`en` or `zh`)."""
    if to not in LANGUAGES:
        raise PlatformError(
            f"Unknown target language {to!r}: use 'en' (English) or 'zh' (Chinese).", param="to"
        )
    if not text.strip():
        raise PlatformError("The text to translate is empty.", param="text")
    return [
        {
            "role": "system",
            "content": f"Translate the user's text into {LANGUAGES[to]}. Reply with the "
            "translation only.",
        },
        {"role": "user", "content": text},
    ]
