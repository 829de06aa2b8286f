"""`/api/papers`: your PDFs, indexed for questions answered with citations (HaiChat papers).

GET    /api/papers                       your papers
POST   /api/papers?filename=NAME.pdf     upload a PDF (body = its bytes) into papers/ in your
                                         home (your quota applies) and index it
POST   /api/papers/from-file             index a PDF already in your home {path}
GET    /api/papers/{id}                  one paper
GET    /api/papers/{id}/pdf              the PDF itself (inline; add #page=N to open a page)
DELETE /api/papers/{id}                  forget the paper (the PDF stays in your files)
POST   /api/papers/ask                   {question, paper_ids, k, model, max_tokens} → the
                                         answer and the cited passages (file, page, text, score)
POST   /api/papers/search                {question, paper_ids, k} → the passages alone
POST   /api/papers/translate             {text, to: en|zh, model} → the translation

Another user's paper is a 404, as if it did not exist. Embeddings and answers are /v1 calls
made with your own credentials: metered, billed and rate limited as yours.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.responses import FileResponse

from hakutaku.api.deps import DatabaseDep, SettingsDep, UploadsDep, caller, db_session
from hakutaku.api.opened_file import OpenedFileResponse
from hakutaku.api.schemas import RAW_BODY
from hakutaku.db.models import Paper
from hakutaku.gateway.http import read_body
from hakutaku.identity.auth import Principal
from hakutaku.papers.gateway import Credentials, GatewayCaller
from hakutaku.papers.retrieval import MAX_K, Passage
from hakutaku.papers.service import ANSWER_TOKENS, DEFAULT_K, MAX_ANSWER_TOKENS, Answer, Papers

router = APIRouter(prefix="/api/papers", tags=["papers"])


class PaperOut(BaseModel):
    id: int
    title: str
    path: str = Field(description="The PDF in your home.")
    pages: int
    chunks: int = Field(description="Passages indexed.")
    bytes: int
    created_at: datetime
    pdf_url: str = Field(description="Opens the PDF; add #page=N for page N.")


class FromFileIn(BaseModel):
    path: str = Field(description="A PDF in your home, e.g. papers/atlas-higgs.pdf.")


class AskIn(BaseModel):
    question: str
    paper_ids: list[int] = Field(min_length=1, description="Which of your papers to ask.")
    k: int = Field(default=DEFAULT_K, ge=1, le=MAX_K, description="Passages to retrieve.")
    model: str | None = Field(default=None, description="Chat model; default HAI_CHAT_MODEL.")
    max_tokens: int = Field(default=ANSWER_TOKENS, ge=1, le=MAX_ANSWER_TOKENS)


class SearchIn(BaseModel):
    question: str
    paper_ids: list[int] = Field(min_length=1, description="Which of your papers to search.")
    k: int = Field(default=DEFAULT_K, ge=1, le=MAX_K, description="Passages to retrieve.")


class PassageOut(BaseModel):
    paper_id: int
    file: str
    page: int = Field(description="1-based.")
    text: str
    score: float = Field(description="Cosine similarity to the question.")
    link: str = Field(description="Opens the PDF at this page.")


class AnswerOut(BaseModel):
    question: str
    model: str
    answer: str | None = Field(description="Null when the model could not answer (see error).")
    error: str | None = Field(description="Why there is no answer; the passages still are.")
    passages: list[PassageOut] = Field(description="Best first; cited as [1], [2], ...")
    usage: dict[str, int]


class TranslateIn(BaseModel):
    text: str
    to: str = Field(description="en (English) or zh (Chinese).")
    model: str | None = None
    max_tokens: int = Field(default=ANSWER_TOKENS, ge=1, le=MAX_ANSWER_TOKENS)


class TranslationOut(BaseModel):
    text: str
    to: str
    model: str


def papers_service(settings: SettingsDep, uploads: UploadsDep) -> Papers:
    return Papers(settings, uploads)


PapersDep = Annotated[Papers, Depends(papers_service)]


def gateway_caller(request: Request, settings: SettingsDep) -> GatewayCaller:
    return GatewayCaller(settings.server_url, Credentials.of_request(request))


GatewayCallerDep = Annotated[GatewayCaller, Depends(gateway_caller)]


def paper_out(p: Paper) -> PaperOut:
    return PaperOut(
        id=p.id,
        title=p.title,
        path=p.path,
        pages=p.pages,
        chunks=p.chunks,
        bytes=p.bytes,
        created_at=p.created_at,
        pdf_url=f"/api/papers/{p.id}/pdf",
    )


def passage_out(p: Passage) -> PassageOut:
    return PassageOut(
        paper_id=p.paper_id, file=p.file, page=p.page, text=p.text, score=p.score, link=p.link
    )


def answer_out(a: Answer) -> AnswerOut:
    return AnswerOut(
        question=a.question,
        model=a.model,
        answer=a.answer,
        error=a.error,
        passages=[passage_out(p) for p in a.passages],
        usage=a.usage,
    )


@router.get("", response_model=list[PaperOut])
def list_papers(
    papers: PapersDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> list[PaperOut]:
    """Your papers, newest first."""
    return [paper_out(p) for p in papers.mine(s, who)]


@router.post("", response_model=PaperOut, status_code=201, openapi_extra=RAW_BODY)
async def upload_paper(
    request: Request,
    papers: PapersDep,
    db: DatabaseDep,
    gateway: GatewayCallerDep,
    filename: str = Query(description="The PDF's file name; it is stored as papers/NAME."),
    overwrite: bool = Query(default=False, description="Replace papers/NAME if it exists."),
    who: Principal = Depends(caller),
) -> PaperOut:
    """Upload a PDF (the body, raw bytes) into papers/ in your home and index it (201).

    Your storage quota applies (413/507 as for /api/files); a file that is not a PDF is 415
    `not_a_pdf`; one without a text layer 400 `pdf_without_text`."""
    data = await read_body(request, papers.settings.papers_max_bytes)

    def add() -> PaperOut:
        with db.session() as s:
            return paper_out(papers.upload(s, who, filename, data, gateway, overwrite=overwrite))

    return await asyncio.to_thread(add)


@router.post("/from-file", response_model=PaperOut, status_code=201)
def paper_from_file(
    body: FromFileIn,
    papers: PapersDep,
    gateway: GatewayCallerDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> PaperOut:
    """Index a PDF that is already in your home (it is not copied)."""
    return paper_out(papers.add_from_home(s, who, body.path, gateway))


@router.post("/ask", response_model=AnswerOut)
def ask(
    body: AskIn,
    papers: PapersDep,
    gateway: GatewayCallerDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> AnswerOut:
    """Retrieve the passages of the chosen papers closest to the question and let the chat
    model answer from them. The passages come back even when the model cannot answer."""
    answer = papers.ask(
        s,
        who,
        body.paper_ids,
        body.question,
        gateway,
        k=body.k,
        model=body.model,
        max_tokens=body.max_tokens,
    )
    return answer_out(answer)


@router.post("/search", response_model=list[PassageOut])
def search(
    body: SearchIn,
    papers: PapersDep,
    gateway: GatewayCallerDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> list[PassageOut]:
    """The k passages of the chosen papers closest to the question, best first (no answer:
    one embedding call, no chat call)."""
    found = papers.retrieve(s, who, body.paper_ids, body.question, body.k, gateway)
    return [passage_out(p) for p in found]


@router.post("/translate", response_model=TranslationOut)
def translate(
    body: TranslateIn,
    papers: PapersDep,
    gateway: GatewayCallerDep,
    who: Principal = Depends(caller),
) -> TranslationOut:
    """A passage in English (`en`) or Chinese (`zh`), by the chat model (as you)."""
    text, model = papers.translate(
        who, body.text, body.to, gateway, model=body.model, max_tokens=body.max_tokens
    )
    return TranslationOut(text=text, to=body.to, model=model)


@router.get("/{paper_id}", response_model=PaperOut)
def get_paper(
    paper_id: int,
    papers: PapersDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> PaperOut:
    return paper_out(papers.get(s, who, paper_id))


@router.get("/{paper_id}/pdf", response_class=FileResponse)
def paper_pdf(
    paper_id: int,
    papers: PapersDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> FileResponse:
    """The PDF, shown inline by the browser (append #page=N to the link to open page N)."""
    name, fd = papers.pdf_file(s, who, paper_id)
    return pdf_response(name, fd)


def pdf_response(name: str, fd: int) -> OpenedFileResponse:
    """A paper's PDF, shown inline by the browser (an opened, checked file)."""
    return OpenedFileResponse(
        fd, media_type="application/pdf", content_disposition_type="inline", filename=name
    )


@router.delete("/{paper_id}", response_model=PaperOut)
def delete_paper(
    paper_id: int,
    papers: PapersDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> PaperOut:
    """Forget a paper: its passages and vectors go; the PDF stays in your home."""
    return paper_out(papers.delete(s, who, paper_id))
