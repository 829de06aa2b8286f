"""Dependencies of the control API: the replica's parts, the caller, the admin check.

Routers take what they need as parameters (`gw: GatewayDep`, `s: SessionDep`, ...); every
part comes from the one `Replica` the app assembled at start-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from hakutaku.compute.scheduler import Scheduler
from hakutaku.compute.service import ComputeService
from hakutaku.config import Settings
from hakutaku.db.session import Database
from hakutaku.errors import Forbidden, Unauthorized
from hakutaku.gateway.context import Gateway
from hakutaku.gateway.http import authenticate
from hakutaku.identity.auth import KeyAuthenticator, Principal
from hakutaku.identity.secrets import SecretBox
from hakutaku.identity.worker_tokens import WorkerCredential
from hakutaku.server.replica import Replica
from hakutaku.storage.uploads import Uploads


def replica(request: Request) -> Replica:
    found: Replica = request.app.state.replica
    return found


ReplicaDep = Annotated[Replica, Depends(replica)]


def _settings(r: ReplicaDep) -> Settings:
    return r.settings


def _database(r: ReplicaDep) -> Database:
    return r.db


def _gateway(r: ReplicaDep) -> Gateway:
    return r.gateway


def _auth(r: ReplicaDep) -> KeyAuthenticator:
    return r.auth


def _box(r: ReplicaDep) -> SecretBox:
    return r.box


def _compute(r: ReplicaDep) -> ComputeService:
    return r.compute


def _scheduler(r: ReplicaDep) -> Scheduler:
    return r.scheduler


def _uploads(r: ReplicaDep) -> Uploads:
    return r.uploads


SettingsDep = Annotated[Settings, Depends(_settings)]
DatabaseDep = Annotated[Database, Depends(_database)]
GatewayDep = Annotated[Gateway, Depends(_gateway)]
AuthDep = Annotated[KeyAuthenticator, Depends(_auth)]
BoxDep = Annotated[SecretBox, Depends(_box)]
ComputeDep = Annotated[ComputeService, Depends(_compute)]
SchedulerDep = Annotated[Scheduler, Depends(_scheduler)]
UploadsDep = Annotated[Uploads, Depends(_uploads)]


def db_session(db: DatabaseDep) -> Iterator[Session]:
    """A session committed when the endpoint returns.

    Use it with `scope="function"`: then the commit happens before the response is sent, so a
    client that got 201 can rely on the next request seeing the row.
    """
    with db.session() as s:
        yield s


# Declared so that /docs offers "Authorize"; the key itself is checked by `authenticate`.
bearer = HTTPBearer(auto_error=False, description="An API key: hai-<prefix>.<secret>")


async def caller(
    request: Request,
    gw: GatewayDep,
    _credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> Principal:
    return await authenticate(gw, request)


async def admin(who: Principal = Depends(caller)) -> Principal:
    if not who.is_admin:
        raise Forbidden("This operation needs an admin key.")
    return who


def worker_auth(request: Request, r: ReplicaDep) -> WorkerCredential:
    """The worker token's credential: the global token, or one scoped to a model."""
    header = request.headers.get("authorization", "")
    token = header.partition(" ")[2].strip()
    with r.db.session() as s:
        credential = r.worker_tokens.check(s, token)
    if credential is None:
        raise Unauthorized(
            "Worker endpoints need a worker token: the server's (HAI_WORKER_TOKEN or "
            "$HAI_HOME/worker.token) or one scoped to the model (`hai models tokens create "
            "MODEL`), not a user API key.",
            code="invalid_worker_token",
        )
    return credential
