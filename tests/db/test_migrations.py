"""Migrations apply on a fresh database, are idempotent, and match the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from hakutaku.db.migrate import upgrade
from hakutaku.db.models import Base
from hakutaku.db.session import Database, normalise_url

TABLES = {"users", "groups", "group_members", "api_keys", "models", "workers", "usage_events"}


def _check(url: str) -> None:
    upgrade(url)
    upgrade(url)  # a second start is a no-op
    db = Database(url)
    try:
        assert set(inspect(db.engine).get_table_names()) >= TABLES
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
    finally:
        db.dispose()


def test_sqlite_fresh_database_in_wal_mode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hai.db'}"
    _check(url)
    db = Database(url)
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    db.dispose()


@pytest.mark.postgres
def test_postgres_fresh_database(postgres_url: str) -> None:
    _check(postgres_url)


def test_plain_postgres_urls_use_psycopg3() -> None:
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"
