"""A job's log, followed live in the browser: server-sent events from the log file.

GET /jobs/{id}/log/events   text/event-stream, for the job's owner (and admins), like
                            GET /api/jobs/{id}/logs?follow=1

The stream tails the file the way the API's log stream does — the job's state is looked at
before each read, so the last bytes written before the end are sent — and speaks SSE:

- unnamed events carry text (lines as `data:` lines, so the browser gets the text back
  exactly); each has the byte offset after it as its `id`, so a browser that reconnects
  (EventSource sends Last-Event-ID) resumes where it was, without a byte twice;
- `skipped` says how many bytes of a long log were left out (the page shows the last
  TAIL_BYTES and links to the whole file);
- `state` carries {"state", "reason", "exit_code"} whenever one of them changes, so the page
  refreshes its details only then (no polling);
- `end` comes once the job has ended and its log has been sent, and the stream closes.
"""

from __future__ import annotations

import asyncio
import codecs
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select

from hakutaku.api.deps import ReplicaDep
from hakutaku.compute.states import JobState
from hakutaku.db.models import Job
from hakutaku.errors import PlatformError
from hakutaku.portal.auth import User
from hakutaku.server.replica import Replica

router = APIRouter(include_in_schema=False)

TAIL_BYTES = 256 * 1024  # a new viewer gets the last this many bytes of a long log
LOG_CHUNK = 64 * 1024
READ_EVERY = 0.25  # seconds between looks at a growing file
STATE_EVERY = 1.0  # seconds between looks at the job's state (a database read)
PING_EVERY = 15.0  # a comment now and then keeps proxies from closing a quiet stream
RETRY_MS = 2000

Status = dict[str, object] | None  # the job's state, reason and exit code; None: gone


def sse_event(data: str, *, event: str | None = None, event_id: int | None = None) -> bytes:
    """One event. SSE ends lines at CR, LF or CRLF, so the text's lines go as `data:` lines
    with LF only (the browser joins them with LF and drops the last one)."""
    head = []
    if event:
        head.append(f"event: {event}\n")
    if event_id is not None:
        head.append(f"id: {event_id}\n")
    text = data.replace("\r\n", "\n").replace("\r", "\n")
    body = "".join(f"data: {line}\n" for line in text.split("\n"))
    return ("".join(head) + body + "\n").encode()


def start_offset(path: Path, last_event_id: str | None, offset: int | None) -> tuple[int, int]:
    """(where to start reading, bytes left out): a resumed stream goes on from its last id; a
    new one starts at the beginning, or TAIL_BYTES before the end at a line's start."""
    for given in (last_event_id, offset):
        if given is not None and str(given).strip().isdigit():
            return int(str(given).strip()), 0
    try:
        size = path.stat().st_size
    except OSError:
        return 0, 0
    if size <= TAIL_BYTES:
        return 0, 0
    start = size - TAIL_BYTES
    with open(path, "rb") as f:
        f.seek(start)
        newline = f.read(4096).find(b"\n")
    if newline >= 0:
        start += newline + 1
    return start, start


def read_from(path: Path, position: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(position)
            return f.read(LOG_CHUNK)
    except (FileNotFoundError, IsADirectoryError):
        return b""


async def log_events(
    path: Path, start: int, skipped: int, status: Callable[[], Status]
) -> AsyncIterator[bytes]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    position = start
    yield f"retry: {RETRY_MS}\n\n".encode()
    if skipped:
        yield sse_event(str(skipped), event="skipped")
    seen: Status = {}
    checked = pinged = 0.0
    done = False
    while True:
        now = time.monotonic()
        if now - checked >= STATE_EVERY:
            # before the read: once the job is seen ended, what follows is its whole log
            current = await asyncio.to_thread(status)
            checked = now
            done = current is None or JobState(str(current["state"])).final
            if current != seen:
                seen = current
                yield sse_event(orjson.dumps(current).decode(), event="state")
        chunk = await asyncio.to_thread(read_from, path, position)
        while chunk:
            position += len(chunk)
            text = decoder.decode(chunk)
            undecoded = len(decoder.getstate()[0])  # a character cut at the chunk's end
            if text:
                yield sse_event(text, event_id=position - undecoded)
            chunk = await asyncio.to_thread(read_from, path, position)
        if done:
            rest = decoder.decode(b"", final=True)
            if rest:
                yield sse_event(rest, event_id=position)
            yield sse_event(str(seen["state"]) if seen else "gone", event="end")
            return
        if now - pinged >= PING_EVERY:
            pinged = now
            yield b": still here\n\n"
        await asyncio.sleep(READ_EVERY)


def job_status(replica: Replica, job_id: int) -> Status:
    with replica.db.session() as s:
        row = s.execute(
            select(Job.state, Job.reason, Job.exit_code).where(Job.id == job_id)
        ).first()
    if row is None:
        return None
    return {"state": row.state, "reason": row.reason, "exit_code": row.exit_code}


@router.get("/jobs/{job_id:int}/log/events")
async def log_stream(
    request: Request,
    replica: ReplicaDep,
    user: User,
    job_id: int,
    offset: int | None = None,
) -> Response:
    def find() -> Path:
        with replica.db.session() as s:
            job = replica.compute.get(s, user.principal, job_id)  # 404 unless mine (or admin)
            return Path(job.log_path or "")

    try:
        path = await asyncio.to_thread(find)
    except PlatformError as exc:
        return Response(exc.message, status_code=exc.status, media_type="text/plain")
    start, skipped = await asyncio.to_thread(
        start_offset, path, request.headers.get("last-event-id"), offset
    )
    return StreamingResponse(
        log_events(path, start, skipped, lambda: job_status(replica, job_id)),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
