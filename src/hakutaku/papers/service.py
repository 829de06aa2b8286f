"""Papers as a service: add (upload into the home, or a file already there), list, delete,
ask and translate — always as one user, who never sees another's papers (404).

Every model call is the caller's own /v1 call (gateway.py): embeddings when a paper is added
and for each question, chat for each answer.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import PurePosixPath

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hakutaku.config import Settings
from hakutaku.db.models import Paper, PaperChunk, User
from hakutaku.errors import NotFound, PlatformError
from hakutaku.identity.auth import Principal
from hakutaku.papers.chunks import chunk_pages
from hakutaku.papers.gateway import GatewayCaller
from hakutaku.papers.pdf import page_texts
from hakutaku.papers.retrieval import (
    Embed,
    Passage,
    ask_messages,
    owned_papers,
    retrieve,
    translate_messages,
)
from hakutaku.papers.vectors import PaperVectors
from hakutaku.storage.service import Area
from hakutaku.storage.uploads import Uploads

UPLOAD_FOLDER = "papers"  # in the home: uploads land in papers/<file name>
DEFAULT_K = 3
ANSWER_TOKENS = 256
MAX_ANSWER_TOKENS = 2048


@dataclass(frozen=True)
class Answer:
    """An ask's outcome: the passages always; the answer unless the model could not give one."""

    question: str
    model: str
    passages: list[Passage]
    answer: str | None
    error: str | None  # why there is no answer (the model's refusal), else None
    usage: dict[str, int]


class Papers:
    def __init__(self, settings: Settings, uploads: Uploads) -> None:
        self.settings = settings
        self.uploads = uploads
        self.storage = uploads.storage
        self.vectors = PaperVectors(settings.papers_root)

    def embedder(self, gateway: GatewayCaller) -> Embed:
        model = self.settings.papers_embedding_model
        return lambda texts: gateway.embed(model, texts)

    # -- adding -------------------------------------------------------------------------------

    def upload(
        self,
        s: Session,
        who: Principal,
        filename: str,
        data: bytes,
        gateway: GatewayCaller,
        *,
        overwrite: bool = False,
    ) -> Paper:
        """Store a PDF in the home (papers/<name>, counted against the quota) and index it."""
        name = PurePosixPath(filename.replace("\\", "/")).name.strip()
        if not name:
            raise PlatformError("Give the PDF a file name.", param="filename")
        self._check_size(len(data), name)
        pages = page_texts(data, name)  # refuse what is not a readable PDF before storing it
        path = f"{UPLOAD_FOLDER}/{name}"
        area = self.storage.area(s, who, "home", write=True)
        sha256 = hashlib.sha256(data).hexdigest()
        self.uploads.put_small(s, who, area, path, data, sha256, overwrite=overwrite)
        s.commit()  # the file is in place; the model calls below take a while
        return self._index(s, who, path, len(data), pages, gateway)

    def add_from_home(self, s: Session, who: Principal, path: str, gateway: GatewayCaller) -> Paper:
        """Index a PDF already in the caller's home (it stays where it is)."""
        area = self.storage.area(s, who, "home", write=False)
        fd = self.storage.open_to_read(area, path)
        with os.fdopen(fd, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            self._check_size(size, path)
            data = file.read()
        rel = path.strip("/")
        pages = page_texts(data, rel)
        return self._index(s, who, rel, size, pages, gateway)

    def _check_size(self, size: int, name: str) -> None:
        limit = self.settings.papers_max_bytes
        if size > limit:
            raise PlatformError(
                f"{name!r} is {size} bytes; papers take PDFs up to {limit} bytes "
                "(HAI_PAPERS_MAX_BYTES).",
                param="file",
                code="paper_too_large",
                status=413,
            )

    def _index(
        self,
        s: Session,
        who: Principal,
        path: str,
        size: int,
        pages: list[str],
        gateway: GatewayCaller,
    ) -> Paper:
        chunks = chunk_pages(pages)
        if not chunks:
            raise PlatformError(
                f"{path!r} has no extractable text (a scanned PDF?); papers need a PDF with a "
                "text layer. Run OCR on it first.",
                param="file",
                code="pdf_without_text",
            )
        vectors = self.embedder(gateway)([c.text for c in chunks])
        old = s.scalar(select(Paper).where(Paper.user_id == who.user_id, Paper.path == path))
        if old is not None:  # the same file again: index it anew under the same id
            s.execute(delete(PaperChunk).where(PaperChunk.paper_id == old.id))
            paper = old
        else:
            paper = Paper(user_id=who.user_id, path=path)
            s.add(paper)
        paper.title = PurePosixPath(path).stem[:512]
        paper.pages, paper.chunks, paper.bytes = len(pages), len(chunks), size
        s.flush()
        s.add_all(
            PaperChunk(paper_id=paper.id, ordinal=i, page=c.page, text=c.text)
            for i, c in enumerate(chunks)
        )
        self.vectors.save(who.user_id, paper.id, vectors)
        s.commit()
        return paper

    # -- reading ------------------------------------------------------------------------------

    def mine(self, s: Session, who: Principal) -> list[Paper]:
        return list(
            s.scalars(select(Paper).where(Paper.user_id == who.user_id).order_by(Paper.id.desc()))
        )

    def get(self, s: Session, who: Principal, paper_id: int) -> Paper:
        """The caller's paper; 404 for one that is not theirs (admins included: papers are
        private reading, not platform data)."""
        paper = s.get(Paper, paper_id)
        if paper is None or paper.user_id != who.user_id:
            raise NotFound(
                f"No paper {paper_id} among your papers; list them with GET /api/papers.",
                code="paper_not_found",
            )
        return paper

    def pdf_file(self, s: Session, who: Principal, paper_id: int) -> tuple[str, int]:
        """The paper's PDF: its file name and an opened, checked descriptor to read."""
        paper = self.get(s, who, paper_id)
        return self._pdf_of(paper, self.storage.area(s, who, "home", write=False))

    def owners_pdf_file(self, s: Session, owner_id: int, paper_id: int) -> tuple[str, int]:
        """The PDF of one of `owner_id`'s papers, on the platform's own authority: for a
        conversation its owner shared, once the caller has checked that it cites the paper."""
        paper = s.get(Paper, paper_id)
        owner = s.get(User, owner_id)
        if paper is None or owner is None or paper.user_id != owner.id:
            raise NotFound(f"No paper {paper_id} is cited here.", code="paper_not_found")
        return self._pdf_of(paper, self.storage.home_of(owner))

    def _pdf_of(self, paper: Paper, area: Area) -> tuple[str, int]:
        try:
            return PurePosixPath(paper.path).name, self.storage.open_to_read(area, paper.path)
        except NotFound:
            raise NotFound(
                f"Paper {paper.id}'s file {paper.path!r} is no longer in its owner's home; "
                "delete the paper or put the file back.",
                code="paper_file_missing",
            ) from None

    def delete(self, s: Session, who: Principal, paper_id: int) -> Paper:
        """Forget a paper (its passages and vectors); its PDF stays in the home."""
        paper = self.get(s, who, paper_id)
        s.execute(delete(PaperChunk).where(PaperChunk.paper_id == paper.id))
        s.delete(paper)
        s.commit()
        self.vectors.delete(who.user_id, paper.id)
        return paper

    # -- asking -------------------------------------------------------------------------------

    def retrieve(
        self,
        s: Session,
        who: Principal,
        paper_ids: list[int],
        question: str,
        k: int,
        gateway: GatewayCaller,
    ) -> list[Passage]:
        return retrieve(
            s,
            who.user_id,
            paper_ids,
            question,
            k,
            embed=self.embedder(gateway),
            vectors=self.vectors,
        )

    def ask(
        self,
        s: Session,
        who: Principal,
        paper_ids: list[int],
        question: str,
        gateway: GatewayCaller,
        *,
        k: int = DEFAULT_K,
        model: str | None = None,
        max_tokens: int = ANSWER_TOKENS,
    ) -> Answer:
        """The top-k passages and the chat model's answer from them (as the caller)."""
        if not 1 <= max_tokens <= MAX_ANSWER_TOKENS:
            raise PlatformError(
                f"max_tokens must be between 1 and {MAX_ANSWER_TOKENS}.", param="max_tokens"
            )
        model = model or self.settings.chat_model
        owned_papers(s, who.user_id, paper_ids)  # 404 before any model call
        passages = self.retrieve(s, who, paper_ids, question, k, gateway)
        s.commit()  # no transaction held open while the model writes
        try:
            text, usage = gateway.chat(model, ask_messages(question, passages), max_tokens)
        except PlatformError as exc:
            if exc.status < 500:
                raise  # the caller's to fix (unknown model, no permission, rate limit)
            # The model is loading or down: the passages still answer the question.
            return Answer(question, model, passages, None, str(exc), {})
        return Answer(question, model, passages, text.strip(), None, usage)

    def translate(
        self,
        who: Principal,
        text: str,
        to: str,
        gateway: GatewayCaller,
        *,
        model: str | None = None,
        max_tokens: int = ANSWER_TOKENS,
    ) -> tuple[str, str]:
        """(translation, model) of a passage into English (`en`) or Chinese (`zh`)."""
        model = model or self.settings.chat_model
        messages = translate_messages(text, to)
        translation, _ = gateway.chat(model, messages, max_tokens)
        return translation.strip(), model
