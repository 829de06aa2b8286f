"""Papers: upload PDFs, see them listed, ask them a question, read the cited passages.

GET  /papers                   your papers, the upload form and the ask form
POST /papers/upload            upload a PDF (multipart: file) into papers/ in your home
POST /papers/ask               ask the chosen papers (question, paper_ids); the answer and its
                               citations, each a link that opens the PDF at its page
POST /papers/{id}/delete       forget a paper (the PDF stays in your files)

Everything goes through the papers service as the signed-in user, and its model calls through
/v1 with this session (hakutaku.papers.gateway): metered and rate limited as the user's own.
Another user's paper is not found here either.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from hakutaku.api.deps import ReplicaDep
from hakutaku.errors import PlatformError
from hakutaku.papers.gateway import Credentials, GatewayCaller
from hakutaku.papers.service import ANSWER_TOKENS, MAX_ANSWER_TOKENS, Answer, Papers
from hakutaku.portal.auth import Posting, User, WebUser
from hakutaku.portal.i18n import N_, _
from hakutaku.portal.templating import render
from hakutaku.server.replica import Replica

router = APIRouter(include_in_schema=False)

DONE = {
    "uploaded": N_("The paper is uploaded and indexed."),
    "deleted": N_("The paper was removed from your papers; its PDF is still in your files."),
}


def _service(replica: Replica) -> Papers:
    return Papers(replica.settings, replica.uploads)  # one Uploads: its locks are shared


def _gateway(request: Request, replica: Replica, user: WebUser) -> GatewayCaller:
    return GatewayCaller(replica.settings.server_url, Credentials.of_request(request, user.csrf))


async def _page(
    request: Request,
    replica: Replica,
    user: WebUser,
    *,
    status: int = 200,
    answer: Answer | None = None,
    **extra: Any,
) -> Response:
    papers = _service(replica)

    def rows() -> list[Any]:
        with replica.db.session() as s:
            return papers.mine(s, user.principal)

    listed = await asyncio.to_thread(rows)
    done = request.query_params.get("done")
    if done in DONE and "notice" not in extra:
        extra["notice"] = _(DONE[done])
    chosen = {p.paper_id for p in answer.passages} if answer else set()
    context = {
        "papers": listed,
        "answer": answer,
        "chosen": extra.pop("chosen", chosen),
        "chat_model": replica.settings.chat_model,
        "answer_tokens": ANSWER_TOKENS,
        "max_answer_tokens": MAX_ANSWER_TOKENS,
        **extra,
    }
    return render(request, "papers/page.html", context, status=status)


@router.get("/papers")
async def papers_page(request: Request, replica: ReplicaDep, user: User) -> Response:
    return await _page(request, replica, user)


@router.post("/papers/upload")
async def upload(
    request: Request, replica: ReplicaDep, user: Posting, file: UploadFile
) -> Response:
    papers = _service(replica)
    data = await file.read(replica.settings.papers_max_bytes + 1)
    gateway = _gateway(request, replica, user)

    def add() -> None:
        with replica.db.session() as s:
            papers.upload(s, user.principal, file.filename or "", data, gateway)

    try:
        await asyncio.to_thread(add)
    except PlatformError as exc:
        return await _page(request, replica, user, error=exc.message, status=exc.status)
    return RedirectResponse("/papers?done=uploaded", status_code=303)


@router.post("/papers/ask")
async def ask(
    request: Request,
    replica: ReplicaDep,
    user: Posting,
    question: Annotated[str, Form()] = "",
    paper_ids: Annotated[list[int] | None, Form()] = None,
    max_tokens: Annotated[int, Form()] = ANSWER_TOKENS,
) -> Response:
    papers = _service(replica)
    gateway = _gateway(request, replica, user)
    ids = paper_ids or []

    def run() -> Answer:
        with replica.db.session() as s:
            return papers.ask(s, user.principal, ids, question, gateway, max_tokens=max_tokens)

    try:
        answer = await asyncio.to_thread(run)
    except PlatformError as exc:
        return await _page(
            request,
            replica,
            user,
            error=exc.message,
            status=exc.status,
            question=question,
            chosen=set(ids),
            max_tokens=max_tokens,
        )
    return await _page(
        request, replica, user, answer=answer, question=question, max_tokens=max_tokens
    )


@router.post("/papers/{paper_id}/delete")
async def delete(request: Request, replica: ReplicaDep, user: Posting, paper_id: int) -> Response:
    papers = _service(replica)

    def remove() -> None:
        with replica.db.session() as s:
            papers.delete(s, user.principal, paper_id)

    try:
        await asyncio.to_thread(remove)
    except PlatformError as exc:
        return await _page(request, replica, user, error=exc.message, status=exc.status)
    return RedirectResponse("/papers?done=deleted", status_code=303)
