"""`/api/chat`: the caller's chat conversations, kept on the server (hakutaku.chat).

The model is not called here: a client calls `POST /v1/chat/completions` as the user (the
gateway meters it) and keeps the question and the answer here. Someone else's conversation
is 404, as one that does not exist; a shared one is read through `/api/chat/shared/{token}`.

    GET    /api/chat/conversations                 list, newest first (?q= searches, ?before=)
    POST   /api/chat/conversations                 create
    GET    /api/chat/conversations/{id}            one conversation
    PATCH  /api/chat/conversations/{id}            rename, system prompt, model
    DELETE /api/chat/conversations/{id}
    GET    /api/chat/conversations/{id}/messages   a page of messages (?before=seq&limit=)
    POST   /api/chat/conversations/{id}/messages   append a message
    PATCH  /api/chat/conversations/{id}/messages/{seq}   edit a user message (truncates after)
    DELETE /api/chat/conversations/{id}/messages/{seq}   delete it and every later one
    GET    /api/chat/conversations/{id}/export     ?format=markdown|json
    PUT    /api/chat/conversations/{id}/share      share read-only (a link for signed-in users)
    DELETE /api/chat/conversations/{id}/share      stop sharing
    PUT    /api/chat/conversations/{id}/papers     attach your papers {paper_ids} ([] detaches)
    POST   /api/chat/conversations/{id}/retrieve   {question, k} → the attached papers' best
                                                   passages and the system message citing them
    GET    /api/chat/shared/{token}                a shared conversation (read-only)
    GET    /api/chat/shared/{token}/messages       its messages
    GET    /api/chat/shared/{token}/papers/{paper_id}/pdf   a PDF one of its answers cites
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hakutaku.api.deps import caller, db_session
from hakutaku.api.papers import GatewayCallerDep, PapersDep, pdf_response
from hakutaku.chat import export, store
from hakutaku.db.models import ChatConversation, User
from hakutaku.errors import NotFound, PlatformError
from hakutaku.identity.auth import Principal
from hakutaku.papers.retrieval import MAX_K, ask_messages
from hakutaku.papers.service import DEFAULT_K

router = APIRouter(prefix="/api/chat", tags=["chat"])

Limit = Query(50, ge=1, le=store.PAGE_MAX)


class ConversationIn(BaseModel):
    title: str = Field("", max_length=store.TITLE_MAX)
    model: str | None = Field(None, max_length=128)
    system_prompt: str = Field("", max_length=store.SYSTEM_PROMPT_MAX)


class ConversationChange(BaseModel):
    title: str | None = Field(None, max_length=store.TITLE_MAX)
    model: str | None = Field(None, max_length=128)
    system_prompt: str | None = Field(None, max_length=store.SYSTEM_PROMPT_MAX)


class PassageIn(BaseModel):
    paper_id: int
    file: str = Field(max_length=512)
    page: int = Field(ge=1)
    text: str = Field(max_length=store.PASSAGE_TEXT_MAX)
    score: float = 0.0


class MessageIn(BaseModel):
    role: str = Field(description="user | assistant")
    content: str = Field(max_length=store.CONTENT_MAX)
    model: str | None = Field(None, max_length=128, description="The model that answered.")
    prompt_tokens: int | None = Field(None, ge=0, description="usage.prompt_tokens of the call")
    completion_tokens: int | None = Field(None, ge=0)
    finish: str | None = Field(
        None, description="stop | length | stopped (the user stopped the stream) | error"
    )
    passages: list[PassageIn] | None = Field(
        None, max_length=MAX_K, description="An answer's cited passages (from /retrieve)."
    )


class PapersIn(BaseModel):
    paper_ids: list[int] = Field(max_length=100, description="Your papers; [] detaches all.")


class RetrieveIn(BaseModel):
    question: str = Field(max_length=store.CONTENT_MAX)
    k: int = Field(default=DEFAULT_K, ge=1, le=MAX_K, description="Passages to retrieve.")


class MessageEdit(BaseModel):
    content: str = Field(max_length=store.CONTENT_MAX)


def share_path(row: ChatConversation) -> str | None:
    return f"/chat/shared/{row.share_token}" if row.share_token else None


def conversation_out(row: ChatConversation) -> dict[str, Any]:
    return {**export.conversation_record(row), "share_path": share_path(row)}


@router.get("/conversations")
def listing(
    q: str | None = Query(None, max_length=200, description="Words in the title or messages"),
    before: str | None = Query(None, description="The `next` cursor of the previous page"),
    limit: int = Limit,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Your conversations, most recently changed first, a page at a time."""
    page = store.listing(s, who, q=q, before=before, limit=limit)
    return {"data": [conversation_out(c) for c in page.conversations], "next": page.next}


@router.post("/conversations", status_code=201)
def create(
    body: ConversationIn,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    row = store.create(s, who, title=body.title, model=body.model, system_prompt=body.system_prompt)
    return conversation_out(row)


@router.get("/conversations/{conversation_id}")
def one(
    conversation_id: int,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    return conversation_out(store.get(s, who, conversation_id))


@router.patch("/conversations/{conversation_id}")
def change(
    conversation_id: int,
    body: ConversationChange,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Rename it, set its system prompt, or the model it uses."""
    row = store.change(s, who, conversation_id, **body.model_dump(exclude_none=True))
    return conversation_out(row)


@router.delete("/conversations/{conversation_id}", status_code=204)
def remove(
    conversation_id: int,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> None:
    store.remove(s, who, conversation_id)


def _messages_out(page: store.MessagePage, share_token: str | None = None) -> dict[str, Any]:
    return {
        "data": [export.message_record(m, share_token) for m in page.messages],
        "has_earlier": page.has_earlier,
    }


@router.get("/conversations/{conversation_id}/messages")
def messages(
    conversation_id: int,
    before: int | None = Query(None, ge=1, description="Messages before this seq"),
    limit: int = Limit,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """The latest `limit` messages (or those before `before`), oldest first."""
    row = store.get(s, who, conversation_id)
    return _messages_out(store.messages(s, row, before=before, limit=limit))


@router.post("/conversations/{conversation_id}/messages", status_code=201)
def append(
    conversation_id: int,
    body: MessageIn,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Add a message at the end: your question, or the answer the gateway gave."""
    message = store.append(s, who, conversation_id, **body.model_dump())
    return export.message_record(message)


@router.put("/conversations/{conversation_id}/papers")
def attach_papers(
    conversation_id: int,
    body: PapersIn,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Attach your papers (the list replaces the old one; [] detaches them all). Someone
    else's paper is 404 `paper_not_found`, as one that does not exist."""
    return conversation_out(store.attach_papers(s, who, conversation_id, body.paper_ids))


@router.post("/conversations/{conversation_id}/retrieve")
def retrieve(
    conversation_id: int,
    body: RetrieveIn,
    papers: PapersDep,
    gateway: GatewayCallerDep,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """The `k` passages of the attached papers closest to the question (one embedding call,
    as you: metered like /api/papers/search) and `context`, the system message that gives
    them to the model numbered [1], [2], ... (papers' own prompt). Send it first, with the
    conversation, to POST /v1/chat/completions; keep the passages with the answer."""
    row = store.get(s, who, conversation_id)
    paper_ids = store.attached_papers(s, row)
    if not paper_ids:
        raise PlatformError(
            f"Conversation {row.id} has no papers attached: PUT "
            f"/api/chat/conversations/{row.id}/papers first.",
            code="no_papers_attached",
        )
    found = papers.retrieve(s, who, paper_ids, body.question, body.k, gateway)
    context = ask_messages(body.question, found)[0]["content"]
    passages = [
        {"paper_id": p.paper_id, "file": p.file, "page": p.page, "text": p.text, "score": p.score}
        for p in found
    ]
    return {"passages": [export.passage_record(p) for p in passages], "context": context}


@router.patch("/conversations/{conversation_id}/messages/{seq}")
def edit(
    conversation_id: int,
    seq: int,
    body: MessageEdit,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Change one of your messages; every message after it is deleted (resend it next)."""
    return export.message_record(store.edit(s, who, conversation_id, seq, body.content))


@router.delete("/conversations/{conversation_id}/messages/{seq}", status_code=204)
def truncate(
    conversation_id: int,
    seq: int,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> None:
    """Delete message `seq` and every later one (to regenerate an answer)."""
    store.truncate(s, who, conversation_id, seq)


@router.get("/conversations/{conversation_id}/export")
def export_file(
    conversation_id: int,
    format: str = Query("markdown", description="markdown | json"),
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> Response:
    """The whole conversation as a file to download."""
    if format not in export.FORMATS:
        raise PlatformError(
            f"format must be one of {', '.join(export.FORMATS)}, got {format!r}.", param="format"
        )
    row = store.get(s, who, conversation_id)
    rows = store.all_messages(s, row)
    if format == "json":
        body = orjson.dumps(export.as_json(row, rows), option=orjson.OPT_INDENT_2)
        media, name = "application/json", export.filename(row, "json")
    else:
        body = export.as_markdown(row, rows).encode()
        media, name = "text/markdown; charset=utf-8", export.filename(row, "md")
    return Response(
        body, media_type=media, headers={"content-disposition": f'attachment; filename="{name}"'}
    )


@router.put("/conversations/{conversation_id}/share")
def share(
    conversation_id: int,
    request: Request,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Share it read-only: anyone signed in to the platform with the link may read it."""
    row = store.share(s, who, conversation_id)
    out = conversation_out(row)
    return {**out, "share_url": str(request.base_url).rstrip("/") + out["share_path"]}


@router.delete("/conversations/{conversation_id}/share")
def unshare(
    conversation_id: int,
    who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    return conversation_out(store.unshare(s, who, conversation_id))


def shared_out(s: Session, row: ChatConversation) -> dict[str, Any]:
    owner = s.get(User, row.user_id)
    record = export.conversation_record(row)
    return {**record, "owner": owner.name if owner else None, "share_path": share_path(row)}


@router.get("/shared/{token}")
def shared(
    token: str,
    _who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """A conversation someone shared (read-only; any signed-in user or key with the link)."""
    return shared_out(s, store.shared(s, token))


@router.get("/shared/{token}/messages")
def shared_messages(
    token: str,
    before: int | None = Query(None, ge=1),
    limit: int = Limit,
    _who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    row = store.shared(s, token)
    return _messages_out(store.messages(s, row, before=before, limit=limit), token)


@router.get("/shared/{token}/papers/{paper_id}/pdf", response_class=FileResponse)
def shared_paper_pdf(
    token: str,
    paper_id: int,
    papers: PapersDep,
    _who: Principal = Depends(caller),
    s: Session = Depends(db_session, scope="function"),
) -> FileResponse:
    """The PDF of a paper the shared conversation's answers cite (its owner's paper): the
    reader opens the cited page as the owner does. Any other paper is 404."""
    row = store.shared(s, token)
    if not store.cites(s, row, paper_id):
        raise NotFound(
            f"This shared conversation cites no paper {paper_id}.", code="paper_not_found"
        )
    name, fd = papers.owners_pdf_file(s, row.user_id, paper_id)
    return pdf_response(name, fd)
