"""Model and worker records in the database: what registration and heartbeats change."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import urlparse

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from hakutaku.db.models import Model, Worker
from hakutaku.db.session import affected_rows
from hakutaku.errors import PlatformError
from hakutaku.names import model_name_problem


def check_model_name(name: str) -> None:
    problem = model_name_problem(name)
    if problem is not None:
        raise PlatformError(problem, param="name")


def check_upstream_url(url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise PlatformError(
            f"invalid upstream URL {url!r}: give the OpenAI-compatible base URL, e.g. "
            "http://127.0.0.1:8001/v1",
            param="base_url",
        )


def check_worker_url(url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme != "http" or not parsed.hostname:
        raise PlatformError(
            f"invalid worker URL {url!r}: the gateway reaches workers over plain http://HOST:PORT "
            "(no TLS to workers: keep them on a private network or behind the node's firewall)",
            param="url",
        )


def register_worker(
    s: Session,
    *,
    model: str,
    url: str,
    methods: dict,
    max_inflight: int,
    description: str,
    host: str,
    pid: int | None,
    call_token: str | None = None,
    job_id: int | None = None,
) -> Worker:
    """Record a worker; its model appears (public) the first time any worker serves it.

    `call_token` is stored as given: the caller seals it (it is a secret the gateway needs back).
    """
    check_model_name(model)
    check_worker_url(url)
    existing = s.scalar(select(Model).where(Model.name == model))
    if existing is None:
        s.add(Model(name=model, kind="worker", description=description))
    elif existing.kind != "worker":
        raise PlatformError(
            f"{model!r} is registered as an upstream model; start the worker with another --name"
        )
    elif description and not existing.description:
        existing.description = description
    now = datetime.now(UTC)
    worker = Worker(
        id=str(uuid.uuid4()),
        model=model,
        url=url.rstrip("/"),
        methods=methods,
        max_inflight=max_inflight,
        host=host,
        pid=pid,
        call_token=call_token,
        job_id=job_id,
        registered_at=now,
        last_heartbeat_at=now,
    )
    s.add(worker)
    s.flush()
    return worker


def announce_worker_model(s: Session, model: str, description: str) -> None:
    """Record a worker model before its worker registers (one that loads for a while), so a
    call to it is told it is loading rather than that it does not exist."""
    check_model_name(model)
    existing = s.scalar(select(Model).where(Model.name == model))
    if existing is None:
        s.add(Model(name=model, kind="worker", description=description))
    elif existing.kind != "worker":
        raise PlatformError(
            f"{model!r} is registered as an upstream model; give the offline chat model another "
            "name with HAI_CHAT_MODEL."
        )
    elif description:
        existing.description = description  # the operator may have pointed it elsewhere


def heartbeat(s: Session, worker_id: str, inflight: int, served: int) -> bool:
    """Record a beat; False when the worker is unknown (dropped) and must register again."""
    result = s.execute(
        update(Worker)
        .where(Worker.id == worker_id)
        .values(inflight=inflight, served=served, last_heartbeat_at=datetime.now(UTC))
    )
    return affected_rows(result) > 0


def deregister(s: Session, worker_id: str) -> bool:
    return affected_rows(s.execute(delete(Worker).where(Worker.id == worker_id))) > 0
