"""Migrations apply on a fresh database, are idempotent, and match the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from hakutaku.accounting.prices import (
    FROM_THE_START,
    get_price,
    make_spec,
    price_history,
    set_price,
)
from hakutaku.db.migrate import alembic_config, upgrade
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


def _upgrade_keeps_prices(url: str) -> None:
    """0004 (prices by month): prices set before it keep applying to every month."""
    config = alembic_config(url)
    command.upgrade(config, "0003")
    db = Database(url)
    try:
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO prices (resource, unit, price, currency, description) "
                    "VALUES ('gpu:a800', 'hour', 7.5, 'CNY', 'card-hour'), "
                    "('cpu', 'hour', 0.05, 'CNY', '')"
                )
            )
        upgrade(url)
        with db.session() as s:
            rows = [(r.resource, r.since, r.price) for r in price_history(s)]
            assert rows == [("cpu", FROM_THE_START, 0.05), ("gpu:a800", FROM_THE_START, 7.5)]
            assert get_price(s, "gpu:a800", "1999-01").description == "card-hour"
            set_price(s, make_spec("gpu:a800", "9"), "2030-01")
        command.downgrade(config, "0003")  # back to one price each: the one in effect now
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT resource, price FROM prices ORDER BY resource"))
            assert rows.all() == [("cpu", 0.05), ("gpu:a800", 7.5)]
        upgrade(url)
    finally:
        db.dispose()


def test_prices_survive_the_upgrade_to_prices_by_month_on_sqlite(tmp_path: Path) -> None:
    _upgrade_keeps_prices(f"sqlite:///{tmp_path / 'old.db'}")


@pytest.mark.postgres
def test_prices_survive_the_upgrade_to_prices_by_month_on_postgres(postgres_url: str) -> None:
    admin = create_engine(normalise_url(postgres_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS hai_migrate_0004"))
            conn.execute(text("CREATE DATABASE hai_migrate_0004"))
    finally:
        admin.dispose()
    base, _, _ = postgres_url.rpartition("/")
    _upgrade_keeps_prices(f"{base}/hai_migrate_0004")
