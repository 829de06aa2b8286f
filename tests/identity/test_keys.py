"""API key format, hashing and the authenticator against a real SQLite database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hakutaku.db.migrate import upgrade
from hakutaku.db.models import ApiKey
from hakutaku.db.session import Database
from hakutaku.errors import Conflict, NotFound, PlatformError, Unauthorized
from hakutaku.identity import service
from hakutaku.identity.auth import KeyAuthenticator
from hakutaku.identity.keys import generate_key, hash_key, split_prefix, verify_key

SECRET = b"server-secret-for-tests"


@pytest.fixture
def db(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'hai.db'}"
    upgrade(url)
    return Database(url)


def test_key_format_and_hash() -> None:
    a, b = generate_key(), generate_key()
    assert a.secret != b.secret and a.prefix != b.prefix
    assert split_prefix(a.secret) == a.prefix
    assert split_prefix("sk-abc") is None and split_prefix("hai-nodot") is None
    digest = hash_key(SECRET, a.secret)
    assert a.secret not in digest and len(digest) == 64
    assert verify_key(SECRET, a.secret, digest)
    assert not verify_key(SECRET, b.secret, digest)
    assert not verify_key(b"other-secret", a.secret, digest)


def test_only_the_hash_is_stored(db: Database) -> None:
    with db.session() as s:
        service.add_user(s, "alice")
        created = service.create_key(s, SECRET, "alice", name="laptop")
    with db.session() as s:
        row = s.scalar(select(ApiKey))
        assert row is not None
        assert created.secret not in (row.secret_hash, row.prefix, row.name)
        assert row.secret_hash == hash_key(SECRET, created.secret)


def test_authenticate_revoke_expire_disable(db: Database) -> None:
    auth = KeyAuthenticator(db, SECRET, ttl=60)
    with db.session() as s:
        service.add_user(s, "bob", groups=["cms"])
        good = service.create_key(s, SECRET, "bob").secret
        soon = service.create_key(
            s, SECRET, "bob", expires_at=datetime.now(UTC) + timedelta(hours=1)
        )
    who = auth.lookup(good)
    assert who.user == "bob" and who.groups == frozenset({"cms"}) and not who.is_admin
    assert auth.cached(good) == who
    with pytest.raises(Unauthorized, match="Incorrect"):
        auth.lookup(good[:-2] + "xx")
    with db.session() as s:
        service.revoke_key(s, str(who.key_id))
    auth.forget_key(who.key_id)
    with pytest.raises(Unauthorized, match="revoked"):
        auth.lookup(good)
    with db.session() as s:
        row = s.get(ApiKey, soon.row.id)
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    with pytest.raises(Unauthorized, match="expired"):
        auth.lookup(soon.secret)
    with db.session() as s:
        service.add_user(s, "eve")
        eve = service.create_key(s, SECRET, "eve").secret
        service.set_user_disabled(s, "eve")
    with pytest.raises(Unauthorized, match="disabled"):
        auth.lookup(eve)


def test_service_refusals(db: Database) -> None:
    with db.session() as s:
        service.add_user(s, "dana")
    with db.session() as s, pytest.raises(Conflict):
        service.add_user(s, "dana")
    with db.session() as s, pytest.raises(PlatformError, match="invalid user name"):
        service.add_user(s, "../root")
    with db.session() as s, pytest.raises(PlatformError, match="role"):
        service.add_user(s, "x", role="god")
    with db.session() as s, pytest.raises(NotFound):
        service.create_key(s, SECRET, "nobody")
    with db.session() as s, pytest.raises(PlatformError, match="past"):
        service.create_key(s, SECRET, "dana", expires_at=datetime.now(UTC) - timedelta(days=1))
