"""App sessions: launch an app (Jupyter Lab, a terminal, …) as a job; its card; stop it.

GET  /sessions                 the launch form and your sessions' cards
GET  /sessions/cards           the cards alone (htmx polls them while one is starting/running)
POST /sessions                 launch (AppSessions.launch: a job under the usual policy)
POST /sessions/{id}/extend     more time (`by`: 1800s, 30m, 1h), within the QOS's limits
POST /sessions/{id}/stop       stop it (cancels its job)

A card goes starting (with the scheduler's reason) → running (time left, resources, node,
Connect, Extend) → ended (why, from how its job ended). The app itself is at /apps/<id>/ (the
proxy). Extend offers the steps that still fit in the QOS's MaxWall and the partition's
MaxTime (`cards.extend_choices`); a refusal is shown on its card, kept there (hx-preserve)
while the cards refresh.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from hakutaku.api.deps import ReplicaDep
from hakutaku.apps.cards import Card, card, fresh_cards
from hakutaku.apps.sessions import Launch
from hakutaku.compute.policy_store import read_policy
from hakutaku.compute.request import parse_extra
from hakutaku.compute.units import format_duration, format_mem_mb
from hakutaku.errors import PlatformError
from hakutaku.portal.app_answers import ENDED_NAMES
from hakutaku.portal.auth import Posting, User, WebUser
from hakutaku.portal.i18n import _
from hakutaku.portal.templating import render
from hakutaku.server.replica import Replica

router = APIRouter(include_in_schema=False)


def _cards(replica: Replica, user: WebUser) -> list[Card]:
    with replica.db.session() as s:
        policy = read_policy(s)
        return [
            card(replica.apps, row, job, policy)
            for row, job in replica.apps.listing(s, user.principal)
        ]


async def _fresh_cards(request: Request, replica: Replica, user: WebUser) -> list[Card]:
    """The cards, after asking each app whose job runs but is not known up yet."""
    return await fresh_cards(request.app.state.app_proxy, lambda: _cards(replica, user))


def _context(replica: Replica, cards: list[Card]) -> dict[str, Any]:
    return {
        "cards": cards,
        "apps": list(replica.apps.apps.values()),
        "live": any(c.phase != "ended" for c in cards),
        "ended_names": {k: _(v) for k, v in ENDED_NAMES.items()},
        "duration": format_duration,
        "mem_text": format_mem_mb,
        "extend_label": extend_label,
        "card_errors": {},
    }


def extend_label(seconds: int) -> str:
    """An Extend button's text: `+30 min`, `+1 h`."""
    if seconds % 3600 == 0:
        return _("+%(hours)d h") % {"hours": seconds // 3600}
    return _("+%(minutes)d min") % {"minutes": seconds // 60}


@router.get("/sessions")
async def sessions_page(request: Request, replica: ReplicaDep, user: User) -> Response:
    cards = await _fresh_cards(request, replica, user)
    return render(request, "sessions/list.html", _context(replica, cards))


@router.get("/sessions/cards")
async def sessions_cards(request: Request, replica: ReplicaDep, user: User) -> Response:
    cards = await _fresh_cards(request, replica, user)
    return render(request, "sessions/_cards.html", _context(replica, cards))


@router.post("/sessions")
async def launch_session(
    request: Request,
    replica: ReplicaDep,
    user: Posting,
    app: Annotated[str, Form()],
    cpus: Annotated[str, Form()] = "",
    mem: Annotated[str, Form()] = "",
    time: Annotated[str, Form()] = "",
    partition: Annotated[str, Form()] = "",
    folder: Annotated[str, Form()] = "",
) -> Response:
    def launch() -> str:
        with replica.db.session() as s:
            row = replica.apps.launch(
                s,
                user.principal,
                Launch(
                    app=app,
                    cpus=int(cpus) if cpus.strip().isdigit() else None,
                    mem=mem.strip() or None,
                    time=time.strip() or None,
                    partition=partition.strip() or None,
                    folder=folder.strip() or None,
                ),
            )
            return row.id

    try:
        await asyncio.to_thread(launch)
    except PlatformError as exc:
        cards = await asyncio.to_thread(_cards, replica, user)
        context = {**_context(replica, cards), "error": exc.message}
        return render(request, "sessions/list.html", context, exc.status)
    replica.scheduler.wake()
    return RedirectResponse("/sessions", status_code=303)


@router.post("/sessions/{session_id}/extend")
async def extend_session(
    request: Request,
    replica: ReplicaDep,
    user: Posting,
    session_id: str,
    by: Annotated[str, Form()],
) -> Response:
    def extend() -> None:
        with replica.db.session() as s:
            replica.apps.extend(s, user.principal, session_id, parse_extra(by.strip()))

    try:
        await asyncio.to_thread(extend)
    except PlatformError as exc:
        if exc.status == 404:
            return render(
                request, "error.html", {"title": _("Not found"), "message": exc.message}, 404
            )
        cards = await asyncio.to_thread(_cards, replica, user)
        context = {**_context(replica, cards), "card_errors": {session_id: exc.message}}
        return render(request, "sessions/list.html", context, exc.status)
    return RedirectResponse("/sessions", status_code=303)


@router.post("/sessions/{session_id}/stop")
async def stop_session(
    request: Request, replica: ReplicaDep, user: Posting, session_id: str
) -> Response:
    def stop() -> None:
        with replica.db.session() as s:
            replica.apps.stop(s, user.principal, session_id)

    try:
        await asyncio.to_thread(stop)
    except PlatformError as exc:
        title = _("Not found") if exc.status == 404 else _("Not allowed")
        return render(request, "error.html", {"title": title, "message": exc.message}, exc.status)
    request.app.state.app_proxy.forget(session_id)
    replica.scheduler.wake()
    return RedirectResponse("/sessions", status_code=303)
