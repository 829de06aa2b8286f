"""Worker tokens: the platform's global one, and tokens scoped to one model.

The global token (HAI_WORKER_TOKEN or $HAI_HOME/worker.token) registers any model: it is an
operator's tool. A scoped token, `hai-wt.<id>.<secret>`, registers and keeps alive workers of
one model only, so a worker holding it cannot take another model's traffic. Deployments give
their jobs one; an admin or the model's owner creates one for a worker started by hand. The
database keeps the HMAC-SHA256 of the token under the server secret, as for API keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hakutaku.db.models import Model, WorkerToken
from hakutaku.errors import Forbidden, NotFound, PlatformError
from hakutaku.identity.auth import Principal
from hakutaku.names import model_name_problem

TOKEN_SCHEME = "hai-wt."


@dataclass(frozen=True)
class WorkerCredential:
    """Who a worker request comes from: the global token (model None) or a scoped one."""

    token_id: str | None
    model: str | None

    def may_serve(self, model: str) -> bool:
        return self.model is None or self.model == model

    def refusal(self, model: str) -> Forbidden:
        return Forbidden(
            f"This worker token is scoped to the model {self.model!r} and cannot serve "
            f"{model!r}; ask the owner of {model!r} or an admin for a token of that model "
            f"(`hai models tokens create {model}`).",
            code="worker_token_scope",
        )


GLOBAL = WorkerCredential(token_id=None, model=None)


def _split(token: str) -> str | None:
    if not token.startswith(TOKEN_SCHEME):
        return None
    token_id, dot, secret = token[len(TOKEN_SCHEME) :].partition(".")
    if not dot or not secret or not token_id or len(token_id) > 16:
        return None
    return token_id


class WorkerTokens:
    """Creates and checks worker tokens with the server secret."""

    def __init__(self, server_secret: bytes, global_token: str) -> None:
        self._key = server_secret
        self._global = global_token.encode()

    def _hash(self, token: str) -> str:
        message = b"hai-worker-token:" + token.encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def check(self, s: Session, presented: str) -> WorkerCredential | None:
        """The credential a presented token stands for, or None when it is not a valid one."""
        if not presented:
            return None
        if hmac.compare_digest(presented.encode(), self._global):
            return GLOBAL
        token_id = _split(presented)
        if token_id is None:
            return None
        row = s.get(WorkerToken, token_id)
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(self._hash(presented), row.secret_hash):
            return None
        return WorkerCredential(token_id=row.id, model=row.model)

    def create(
        self,
        s: Session,
        model: str,
        *,
        user_id: int | None,
        deployment_id: int | None = None,
        note: str = "",
    ) -> tuple[WorkerToken, str]:
        """A new token for `model`; the token itself is returned once and never stored."""
        token_id = secrets.token_hex(6)
        token = f"{TOKEN_SCHEME}{token_id}.{secrets.token_urlsafe(32)}"
        row = WorkerToken(
            id=token_id,
            model=model,
            secret_hash=self._hash(token),
            user_id=user_id,
            deployment_id=deployment_id,
            note=note,
            created_at=datetime.now(UTC),
        )
        s.add(row)
        s.flush()
        return row, token


def claim_model(s: Session, who: Principal, model: str) -> Model:
    """The model's row, created (owned by `who`) when nobody has the name yet.

    A user may hold tokens, and deployments, only for models they own; admins for any.
    """
    problem = model_name_problem(model)
    if problem is not None:
        raise PlatformError(problem, param="model")
    row = s.scalar(select(Model).where(Model.name == model).with_for_update())
    if row is None:
        row = Model(name=model, kind="worker", owner_id=who.user_id, created_at=datetime.now(UTC))
        s.add(row)
        s.flush()
        return row
    if row.kind != "worker":
        raise PlatformError(
            f"{model!r} is an upstream model, not one served by workers; choose another name.",
            param="model",
        )
    if not who.is_admin and row.owner_id != who.user_id:
        raise Forbidden(
            f"The model {model!r} belongs to another user (or to the operators); choose another "
            "name, or ask an admin.",
            code="model_not_yours",
        )
    return row


def list_tokens(s: Session, who: Principal, model: str | None = None) -> list[WorkerToken]:
    query = select(WorkerToken).where(WorkerToken.revoked_at.is_(None))
    if model is not None:
        query = query.where(WorkerToken.model == model)
    if not who.is_admin:
        query = query.where(WorkerToken.user_id == who.user_id)
    return list(s.scalars(query.order_by(WorkerToken.created_at)))


def revoke_token(s: Session, who: Principal, token_id: str) -> WorkerToken:
    row = s.get(WorkerToken, token_id)
    if (
        row is None
        or row.revoked_at is not None
        or (not who.is_admin and row.user_id != who.user_id)
    ):
        raise NotFound(f"No worker token {token_id} of yours; `hai models tokens list` lists them.")
    row.revoked_at = datetime.now(UTC)
    return row
