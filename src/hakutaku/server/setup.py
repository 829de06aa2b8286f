"""Everything a server needs before it serves: home, secrets, schema, bootstrap admin."""

from __future__ import annotations

from dataclasses import dataclass

from hakutaku.accounting.prices import ensure_default_prices
from hakutaku.compute.policy_store import ensure_policy
from hakutaku.config import Settings
from hakutaku.db.migrate import upgrade
from hakutaku.db.session import Database
from hakutaku.identity.bootstrap import (
    check_server_secret,
    ensure_bootstrap_admin,
    first_login_link,
)
from hakutaku.identity.secrets import ensure_server_secret, ensure_worker_token


@dataclass
class Prepared:
    server_secret: bytes
    worker_token: str
    new_admin_key: str | None  # set only on the very first start
    first_login_url: str | None = None  # while the bootstrap admin has no portal password


def prepare(settings: Settings, *, first_login: bool = False) -> Prepared:
    """Idempotent: safe on every start and from several replicas. `first_login`: also make
    the bootstrap admin's one-time portal link while it has no password (`hai up`)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.home.chmod(0o700)
    server_secret = ensure_server_secret(settings)
    worker_token = ensure_worker_token(settings)
    upgrade(settings.sqlalchemy_url)
    db = Database(settings.sqlalchemy_url)
    try:
        check_server_secret(db, server_secret)
        ensure_policy(db, settings)
        ensure_default_prices(db)
        new_key = ensure_bootstrap_admin(db, settings, server_secret)
        wanted = first_login and settings.portal
        link = first_login_link(db, settings, server_secret) if wanted else None
    finally:
        db.dispose()
    return Prepared(server_secret, worker_token, new_key, link)
