"""One real server for the SDK's resource tests (module-scoped: each test uses its own names),
an admin client and clients of two plain users: alice (in cms) and bob (in atlas)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from hakutaku import Client
from tests.support.processes import Platform


@dataclass
class Lab:
    platform: Platform
    admin: Client
    alice: Client
    bob: Client


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    home = tmp_path_factory.mktemp("sdk") / "home"
    platform = Platform(home, HAI_SCHEDULER_INTERVAL="0.2", HAI_DEMO_WORKERS="false").start()
    clients: list[Client] = []
    try:
        admin = platform.client()
        clients.append(admin)
        for name, group in (("alice", "cms"), ("bob", "atlas")):
            admin.users.add(name, groups=[group])
            clients.append(platform.client(admin.keys.create(name)["key"]))
        yield Lab(platform, *clients)
    finally:
        for client in clients:
            client.close()
        platform.stop()
