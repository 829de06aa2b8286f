"""`hai up` records the chat model before its worker has loaded it (gateway/catalog.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from hakutaku.db.migrate import upgrade
from hakutaku.db.models import Model
from hakutaku.db.session import Database
from hakutaku.errors import PlatformError
from hakutaku.gateway.catalog import announce_worker_model


def test_announce_records_once_and_keeps_the_description_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hai.db'}"
    upgrade(url)
    db = Database(url)
    try:
        for description in ("first", "second"):
            with db.session() as s:
                announce_worker_model(s, "chat-a", description)
        with db.session() as s:
            rows = s.scalars(select(Model).where(Model.name == "chat-a")).all()
            assert [(r.kind, r.description, r.public) for r in rows] == [("worker", "second", True)]
            s.add(Model(name="chat-b", kind="upstream", description=""))
        upstream_taken = pytest.raises(PlatformError, match="another name with HAI_CHAT_MODEL")
        with upstream_taken, db.session() as s:
            announce_worker_model(s, "chat-b", "x")
        with pytest.raises(PlatformError), db.session() as s:
            announce_worker_model(s, "bad name!", "x")
    finally:
        db.dispose()
