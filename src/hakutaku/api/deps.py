"""Dependencies of the control API: the database, the caller, the admin check, the worker token."""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from hakutaku.errors import Forbidden, Unauthorized
from hakutaku.gateway.context import Gateway
from hakutaku.gateway.http import authenticate
from hakutaku.identity.auth import Principal


def gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def db_session(request: Request) -> Iterator[Session]:
    """A session committed when the endpoint returns.

    Use it with `scope="function"`: then the commit happens before the response is sent, so a
    client that got 201 can rely on the next request seeing the row.
    """
    with gateway(request).db.session() as s:
        yield s


# Declared so that /docs offers "Authorize"; the key itself is checked by `authenticate`.
bearer = HTTPBearer(auto_error=False, description="An API key: hai-<prefix>.<secret>")


async def caller(
    request: Request, _credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Principal:
    return await authenticate(gateway(request), request)


async def admin(who: Principal = Depends(caller)) -> Principal:
    if not who.is_admin:
        raise Forbidden("This operation needs an admin key.")
    return who


async def worker_auth(request: Request) -> None:
    header = request.headers.get("authorization", "")
    token = header.partition(" ")[2].strip()
    expected = gateway(request).worker_token
    if not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized(
            "Worker endpoints need the worker token (HAI_WORKER_TOKEN or $HAI_HOME/worker.token), "
            "not a user API key.",
            code="invalid_worker_token",
        )
