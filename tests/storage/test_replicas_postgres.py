"""Two server replicas on one PostgreSQL database and one storage root: an upload begun on one
is continued on the other, and parallel uploads through both cannot overbook a quota (the
row lock on the user serialises the check across processes)."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.storage.conftest import CHUNK
from tests.support.postgres import fresh_database
from tests.support.processes import Platform

pytestmark = pytest.mark.postgres


def storage_database(server_url: str) -> str:
    return fresh_database(server_url, "storage")


def test_two_replicas(postgres_url: str, tmp_path: Path) -> None:
    url = storage_database(postgres_url)
    shared = {"HAI_STORAGE_ROOT": str(tmp_path / "storage"), "HAI_MAX_BODY_BYTES": str(CHUNK)}
    first = Platform(tmp_path / "one", database_url=url, **shared).start()
    secret = (first.home / "server.secret").read_text().strip()
    second = Platform(tmp_path / "two", database_url=url, HAI_SERVER_SECRET=secret, **shared)
    try:
        second.start()
        key = first.add_user_key("erin")
        with first.http() as admin:
            admin.put("/api/files/quota/erin", json={"max_bytes": 100_000})

        def start(i: int) -> int:
            replica = (first, second)[i % 2]
            with replica.http(key) as erin:
                body = {"path": f"part{i}.bin", "size": 30_000}
                return erin.post("/api/files/uploads", json=body).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(start, range(8)))
        assert sorted(statuses) == [201, 201, 201] + [413] * 5

        with first.http() as admin:
            assert (
                admin.get("/api/files/quota", params={"user": "erin"}).json()["reserved_bytes"]
                == 90_000
            )
            admin.delete("/api/files/quota/erin")
        data = os.urandom(2 * CHUNK + 3)
        body = {"path": "x.bin", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        with first.http(key) as one, second.http(key) as two:
            created = one.post("/api/files/uploads", json=body)
            assert created.status_code == 201, created.text
            up = created.json()
            for i, offset in enumerate(range(0, len(data), CHUNK)):
                replica = (one, two)[i % 2]
                r = replica.put(
                    f"/api/files/uploads/{up['id']}",
                    params={"offset": offset},
                    content=data[offset : offset + CHUNK],
                    headers={"content-type": "application/octet-stream"},
                )
                assert r.status_code == 200, r.text
            assert two.post(f"/api/files/uploads/{up['id']}/complete", json={}).status_code == 200
            assert one.get("/api/files/home/x.bin").content == data
    finally:
        second.stop()
        first.stop()
