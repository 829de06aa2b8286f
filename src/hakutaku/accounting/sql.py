"""INSERT ... ON CONFLICT for the database in use, so concurrent replicas never collide."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session


def insert_on_conflict(session: Session, table: Any) -> Any:
    """An INSERT of the dialect in use, which has `on_conflict_do_nothing/do_update`."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    raise RuntimeError(f"accounting supports SQLite and PostgreSQL, not {dialect}")
