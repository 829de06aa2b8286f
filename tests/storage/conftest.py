"""A storage-ready server shared by the module's tests, with a small body cap (64 KiB) so that
multi-chunk uploads stay fast, and a user, a data admin and keys for them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import Platform

CHUNK = 64 * 1024


@dataclass
class StoragePlatform:
    platform: Platform
    user_key: str  # the user "alice"
    other_key: str  # the user "bob"
    data_admin_key: str  # "carol", member of data-admins

    @property
    def root(self) -> Path:
        return self.platform.home / "storage"


@pytest.fixture(scope="module")
def storage_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoragePlatform]:
    home = tmp_path_factory.mktemp("storage") / "home"
    p = Platform(home, HAI_MAX_BODY_BYTES=str(CHUNK)).start()
    try:
        yield StoragePlatform(
            p,
            p.add_user_key("alice"),
            p.add_user_key("bob"),
            p.add_user_key("carol", ("data-admins",)),
        )
    finally:
        p.stop()
