"""Database: SQLAlchemy models, engine/session, Alembic migrations applied at start."""

from hakutaku.db.migrate import upgrade
from hakutaku.db.session import Database

__all__ = ["Database", "upgrade"]
