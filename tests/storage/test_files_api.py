"""`/api/files` against a real server: uploads (small, chunked, resumed across a restart),
checksums, quotas, path traversal, the public area and permissions."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from tests.storage.conftest import CHUNK, StoragePlatform

OCTETS = {"content-type": "application/octet-stream"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def error(response: httpx.Response) -> dict[str, Any]:
    return response.json()["error"]


def raw_request(url: str, method: str, target: str, key: str) -> tuple[int, bytes]:
    """Send `target` exactly as written (httpx would fold `..` and re-encode)."""
    parsed = httpx.URL(url)
    conn = http.client.HTTPConnection(parsed.host, parsed.port, timeout=30)
    try:
        conn.request(method, target, headers={"authorization": f"Bearer {key}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def upload_chunks(h: httpx.Client, upload_id: str, data: bytes, start: int = 0) -> None:
    for offset in range(start, len(data), CHUNK):
        r = h.put(
            f"/api/files/uploads/{upload_id}",
            params={"offset": offset},
            content=data[offset : offset + CHUNK],
            headers=OCTETS,
        )
        assert r.status_code == 200, r.text
        assert r.json()["received"] == min(offset + CHUNK, len(data))


def test_small_upload_list_download_delete(storage_platform: StoragePlatform) -> None:
    sp = storage_platform
    data = os.urandom(5000)
    with sp.platform.http(sp.user_key) as alice:
        r = alice.put("/api/files/home/notes/a.bin", content=data, headers=OCTETS)
        assert r.status_code == 201, r.text
        assert r.json()["path"] == "notes/a.bin" and r.json()["size"] == 5000
        assert (sp.root / "home" / "alice" / "notes" / "a.bin").read_bytes() == data

        top = alice.get("/api/files/list").json()
        assert top["user"] == "alice" and top["type"] == "dir"
        assert [(e["name"], e["type"]) for e in top["entries"]] == [("notes", "dir")]
        inner = alice.get("/api/files/list", params={"path": "notes"}).json()
        assert [(e["path"], e["size"]) for e in inner["entries"]] == [("notes/a.bin", 5000)]

        got = alice.get("/api/files/home/notes/a.bin")
        assert got.status_code == 200 and got.content == data
        part = alice.get("/api/files/home/notes/a.bin", headers={"range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == data[100:200]

        again = alice.put("/api/files/home/notes/a.bin", content=b"new", headers=OCTETS)
        assert again.status_code == 409 and error(again)["code"] == "file_exists"
        again = alice.put(
            "/api/files/home/notes/a.bin", params={"overwrite": "true"}, content=b"new"
        )
        assert again.status_code == 201 and again.json()["size"] == 3

        bad = alice.put("/api/files/home/x.bin", params={"sha256": "0" * 64}, content=b"abc")
        assert bad.status_code == 400 and error(bad)["code"] == "checksum_mismatch"
        assert alice.get("/api/files/home/x.bin").status_code == 404
        assert alice.get("/api/files/uploads").json() == []  # the failed one is not left open

        empty = alice.post("/api/files/uploads", json={"path": "notes/empty", "size": 0}).json()
        done = alice.post(f"/api/files/uploads/{empty['id']}/complete", json={})
        assert done.status_code == 200 and done.json()["size"] == 0
        assert alice.get("/api/files/home/notes/empty").content == b""
        assert alice.delete("/api/files/home/notes/empty").status_code == 200

        folder = alice.get("/api/files/home/notes")
        assert folder.status_code == 400 and "is a folder" in error(folder)["message"]
        full = alice.delete("/api/files/home/notes")
        assert full.status_code == 409 and error(full)["code"] == "folder_not_empty"
        assert alice.delete("/api/files/home/notes/a.bin").status_code == 200
        assert alice.get("/api/files/home/notes/a.bin").status_code == 404
        assert alice.delete("/api/files/home/notes").status_code == 200

        alice.put("/api/files/home/mine.txt", content=b"private")
    with sp.platform.http(sp.other_key) as bob:
        assert bob.get("/api/files/home/mine.txt").status_code == 404  # his own home
        peek = bob.get("/api/files/home/mine.txt", params={"user": "alice"})
        assert peek.status_code == 403
    with sp.platform.http() as admin:
        read = admin.get("/api/files/home/mine.txt", params={"user": "alice"})
        assert read.status_code == 200 and read.content == b"private"
        write = admin.delete("/api/files/home/mine.txt", params={"user": "alice"})
        assert write.status_code == 403 and "not write" in error(write)["message"]
    with sp.platform.http(sp.user_key) as alice:
        assert alice.delete("/api/files/home/mine.txt").status_code == 200


def test_chunked_upload_with_checksum(storage_platform: StoragePlatform) -> None:
    sp = storage_platform
    data = os.urandom(3 * CHUNK + 1234)
    with sp.platform.http(sp.user_key) as alice:
        body = {"path": "runs/big.bin", "size": len(data), "sha256": sha(data)}
        created = alice.post("/api/files/uploads", json=body)
        assert created.status_code == 201, created.text
        up = created.json()
        assert up["received"] == 0 and up["chunk_size_max"] == CHUNK and not up["resumed"]
        # The part file is out of sight, not in the home.
        assert not (sp.root / "home" / "alice" / "runs").exists()
        assert (sp.root / ".uploads" / f"{up['id']}.part").exists()

        url = f"/api/files/uploads/{up['id']}"
        wrong = alice.put(url, params={"offset": 10}, content=b"x", headers=OCTETS)
        assert wrong.status_code == 409 and error(wrong)["code"] == "offset_mismatch"
        assert "offset=0" in error(wrong)["message"]
        upload_chunks(alice, up["id"], data[: 2 * CHUNK])
        assert alice.get(url).json()["received"] == 2 * CHUNK

        early = alice.post(f"{url}/complete", json={})
        assert early.status_code == 409 and error(early)["code"] == "upload_incomplete"
        too_much = alice.put(
            url, params={"offset": 2 * CHUNK}, content=os.urandom(CHUNK), headers=OCTETS
        )
        assert too_much.status_code == 200  # still within the declared size
        over = alice.put(
            url, params={"offset": 3 * CHUNK}, content=os.urandom(2000), headers=OCTETS
        )
        assert over.status_code == 413 and error(over)["code"] == "size_exceeded"
        # Resend the right third chunk: a chunk goes where `received` says, so rewind with a
        # fresh upload of the same file instead (the corrupted one fails its checksum).
        last = alice.put(
            url, params={"offset": 3 * CHUNK}, content=data[3 * CHUNK :], headers=OCTETS
        )
        assert last.status_code == 200
        mismatch = alice.post(f"{url}/complete", json={})
        assert mismatch.status_code == 400 and error(mismatch)["code"] == "checksum_mismatch"
        assert alice.get(url).json()["state"] == "failed"
        assert not (sp.root / ".uploads" / f"{up['id']}.part").exists()
        assert alice.get("/api/files/list", params={"path": "runs"}).status_code == 404

        up = alice.post("/api/files/uploads", json=body).json()
        assert up["received"] == 0
        upload_chunks(alice, up["id"], data)
        done = alice.post(f"/api/files/uploads/{up['id']}/complete", json={})
        assert done.status_code == 200, done.text
        assert done.json() == {**done.json(), "path": "runs/big.bin", "size": len(data)}
        assert alice.get("/api/files/home/runs/big.bin").content == data
        assert alice.get(f"/api/files/uploads/{up['id']}").json()["state"] == "done"
        closed = alice.put(
            f"/api/files/uploads/{up['id']}", params={"offset": 0}, content=b"x", headers=OCTETS
        )
        assert closed.status_code == 409 and error(closed)["code"] == "upload_closed"

    with sp.platform.http(sp.other_key) as bob:  # someone else's upload is not found
        assert bob.get(f"/api/files/uploads/{up['id']}").status_code == 404


def test_resume_after_server_restart(storage_platform: StoragePlatform) -> None:
    sp = storage_platform
    data = os.urandom(4 * CHUNK + 7)
    body = {"path": "resumed.bin", "size": len(data), "sha256": sha(data)}
    with sp.platform.http(sp.user_key) as alice:
        up = alice.post("/api/files/uploads", json=body).json()
        upload_chunks(alice, up["id"], data[: 2 * CHUNK])

    sp.platform.stop()
    sp.platform.start()

    with sp.platform.http(sp.user_key) as alice:
        # Asking again for the same file finds the open upload and where it stands.
        again = alice.post("/api/files/uploads", json=body)
        assert again.status_code == 200, again.text
        assert again.json()["id"] == up["id"] and again.json()["resumed"] is True
        assert again.json()["received"] == 2 * CHUNK
        listed = alice.get("/api/files/uploads").json()
        assert [u["id"] for u in listed] == [up["id"]]
        upload_chunks(alice, up["id"], data, start=2 * CHUNK)
        done = alice.post(f"/api/files/uploads/{up['id']}/complete", json={"sha256": sha(data)})
        assert done.status_code == 200, done.text
        assert alice.get("/api/files/home/resumed.bin").content == data
        assert alice.delete("/api/files/home/resumed.bin").status_code == 200


def test_quota_refused_before_any_byte(storage_platform: StoragePlatform) -> None:
    sp = storage_platform
    parts = sp.root / ".uploads"
    with sp.platform.http() as admin:
        r = admin.put("/api/files/quota/bob", json={"max_bytes": 100_000, "max_files": 3})
        assert r.status_code == 200, r.text
        assert r.json()["custom"] is True and r.json()["max_files"] == 3
    with sp.platform.http(sp.other_key) as bob:
        assert bob.put("/api/files/quota/bob", json={"max_bytes": 10**12}).status_code == 403
        parts_before = set(os.listdir(parts)) if parts.exists() else set()

        refused = bob.post("/api/files/uploads", json={"path": "big.bin", "size": 100_001})
        assert refused.status_code == 413
        err = error(refused)
        assert err["code"] == "quota_exceeded" and "97.66 KiB" in err["message"]
        assert "hai files quota set bob" in err["message"]
        assert bob.get("/api/files/uploads").json() == []
        assert (set(os.listdir(parts)) if parts.exists() else set()) == parts_before
        small = bob.put("/api/files/home/direct.bin", content=os.urandom(CHUNK))
        assert small.status_code == 201
        direct = bob.put("/api/files/home/direct2.bin", content=os.urandom(40_000))
        assert direct.status_code == 413 and error(direct)["code"] == "quota_exceeded"
        assert bob.get("/api/files/list").json()["entries"][0]["name"] == "direct.bin"
        assert len(bob.get("/api/files/list").json()["entries"]) == 1

        # An unfinished upload reserves its declared size: a second one cannot squeeze in.
        first = bob.post("/api/files/uploads", json={"path": "one.bin", "size": 30_000})
        assert first.status_code == 201
        second = bob.post("/api/files/uploads", json={"path": "two.bin", "size": 10_000})
        assert second.status_code == 413 and "unfinished uploads" in error(second)["message"]
        quota = bob.get("/api/files/quota").json()
        assert quota["used_bytes"] == CHUNK and quota["used_files"] == 1
        assert quota["reserved_bytes"] == 30_000 and quota["reserved_files"] == 1
        # A new upload of the same path replaces the unfinished one (and its reservation).
        replaced = bob.post("/api/files/uploads", json={"path": "one.bin", "size": 34_000})
        assert replaced.status_code == 201, replaced.text
        assert bob.get(f"/api/files/uploads/{first.json()['id']}").json()["state"] == "failed"
        assert bob.delete(f"/api/files/uploads/{replaced.json()['id']}").status_code == 200
        two = bob.post("/api/files/uploads", json={"path": "two.bin", "size": 10_000})
        assert two.status_code == 201
        assert bob.delete(f"/api/files/uploads/{two.json()['id']}").status_code == 200

        # The file count: 3 files allowed.
        assert bob.put("/api/files/home/f2", content=b"2").status_code == 201
        assert bob.put("/api/files/home/f3", content=b"3").status_code == 201
        fourth = bob.put("/api/files/home/f4", content=b"4")
        assert fourth.status_code == 413 and "3 of 3 files" in error(fourth)["message"]
        # Replacing an existing file adds no file, so it is allowed at the limit.
        swap = bob.put("/api/files/home/f3", params={"overwrite": "true"}, content=b"33")
        assert swap.status_code == 201
    with sp.platform.http() as admin:
        reset = admin.delete("/api/files/quota/bob").json()
        assert reset["custom"] is False and reset["max_files"] == 300_000
        assert admin.get("/api/files/quota", params={"user": "bob"}).json()["used_files"] == 3
    with sp.platform.http(sp.other_key) as bob:
        assert bob.put("/api/files/home/f4", content=b"4").status_code == 201
        assert bob.get("/api/files/quota", params={"user": "alice"}).status_code == 403


def test_path_traversal_refused(storage_platform: StoragePlatform, tmp_path: Path) -> None:
    sp = storage_platform
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("TOP SECRET")
    home = sp.root / "home" / "alice"
    home.mkdir(parents=True, exist_ok=True)
    (home / "escape").symlink_to(outside)
    before = sorted(os.listdir(outside))

    key = sp.user_key
    url = sp.platform.url
    tries = [
        "/api/files/home/../secret.txt",
        "/api/files/home/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/api/files/home/a/..%2f..%2f..%2fsecret.txt",
        "/api/files/home//etc/passwd",
        "/api/files/home/escape/secret.txt",
        "/api/files/list?path=../x",
        "/api/files/list?path=a/../../x",
        "/api/files/list?path=/etc",
        "/api/files/list?path=%2e%2e/%2e%2e",
        "/api/files/list?path=escape",
        "/api/files/list?path=a%00b",
    ]
    for target in tries:
        status, body = raw_request(url, "GET", target, key)
        assert status in (400, 404), (target, status, body)
        assert b"TOP SECRET" not in body and b"root:" not in body
        if status == 400:
            assert json.loads(body)["error"]["code"] == "invalid_path", target
    # The ones that reach the path check are refused as paths (not merely not found).
    for target in tries[1:]:
        status, body = raw_request(url, "GET", target, key)
        assert status == 400, (target, body)

    with sp.platform.http(key) as alice:
        for path in ("../evil", "a/../../evil", "/tmp/evil", "escape/evil", "escape/new/evil"):
            r = alice.post("/api/files/uploads", json={"path": path, "size": 4})
            assert r.status_code == 400 and error(r)["code"] == "invalid_path", path
            # httpx folds `..` in URLs itself (the raw requests above and below do not).
            r = alice.put(f"/api/files/home/{path}", content=b"evil", follow_redirects=True)
            assert r.status_code >= 400, (path, r.text)
        bad = alice.post("/api/files/uploads", json={"path": "a\u0000b", "size": 1})
        assert bad.status_code == 400 and "NUL" in error(bad)["message"]
        r = alice.delete("/api/files/home/escape/secret.txt")
        assert r.status_code == 400 and error(r)["code"] == "invalid_path"
        # Deleting the planted link removes the link, not what it points at.
        assert alice.delete("/api/files/home/escape").json()["type"] == "link"

    for target in ("/api/files/home/%2e%2e/escape2", "/api/files/home/..%2fx"):
        assert raw_request(url, "PUT", target, key)[0] == 400
        assert raw_request(url, "DELETE", target, key)[0] == 400
    assert secret.read_text() == "TOP SECRET"
    assert sorted(os.listdir(outside)) == before
    assert not (sp.root / "home" / "evil").exists() and not (sp.root / "evil").exists()


def test_a_fifo_in_a_home_is_refused_not_waited_on(storage_platform: StoragePlatform) -> None:
    """A FIFO (which a user's job can make in its home) is not a file: a download of it is
    refused at once, where an open for reading would hang the request for a writer."""
    sp = storage_platform
    home = sp.root / "home" / "alice"
    home.mkdir(parents=True, exist_ok=True)
    os.mkfifo(home / "pipe")
    with sp.platform.http(sp.user_key) as alice:
        r = alice.get("/api/files/home/pipe")
        assert r.status_code == 400 and "not a regular file" in error(r)["message"]
        assert alice.put("/api/files/home/ok.txt", content=b"fine").status_code == 201
        assert alice.get("/api/files/home/ok.txt").content == b"fine"


def test_public_area(storage_platform: StoragePlatform) -> None:
    sp = storage_platform
    data = os.urandom(2 * CHUNK + 5)
    with sp.platform.http(sp.data_admin_key) as carol:
        body = {"path": "jets/train.bin", "size": len(data), "sha256": sha(data), "area": "public"}
        up = carol.post("/api/files/uploads", json=body).json()
        upload_chunks(carol, up["id"], data)
        done = carol.post(f"/api/files/uploads/{up['id']}/complete", json={})
        assert done.status_code == 200, done.text
        # The public area is not charged to the uploader's home.
        assert carol.get("/api/files/quota").json()["used_bytes"] == 0
    with sp.platform.http(sp.user_key) as alice:
        assert alice.get("/api/files/public/jets/train.bin").content == data
        listing = alice.get("/api/files/list", params={"area": "public", "path": "jets"}).json()
        assert listing["user"] is None and listing["entries"][0]["name"] == "train.bin"
        refused = [
            alice.put("/api/files/public/jets/mine.bin", content=b"x"),
            alice.post("/api/files/uploads", json={**body, "path": "jets/mine.bin"}),
            alice.delete("/api/files/public/jets/train.bin"),
        ]
        for r in refused:
            assert r.status_code == 403, r.text
            assert "data-admins" in error(r)["message"]
        unknown = alice.get("/api/files/list", params={"area": "scratch"})
        assert unknown.status_code == 400 and "use 'home' or 'public'" in error(unknown)["message"]
    with sp.platform.http() as admin:
        assert admin.put("/api/files/public/readme.txt", content=b"hello").status_code == 201
    with sp.platform.http(sp.data_admin_key) as carol:
        tree = carol.delete("/api/files/public/jets", params={"recursive": "true"})
        assert tree.status_code == 200 and tree.json()["type"] == "dir"
        assert carol.delete("/api/files/public/readme.txt").status_code == 200


def test_parallel_uploads_cannot_overbook_the_quota(storage_platform: StoragePlatform) -> None:
    sp = storage_platform
    key = sp.platform.add_user_key("dave")
    with sp.platform.http() as admin:
        admin.put("/api/files/quota/dave", json={"max_bytes": 100_000})

    def start(i: int) -> int:
        with sp.platform.http(key) as dave:
            body = {"path": f"part{i}.bin", "size": 30_000}
            return dave.post("/api/files/uploads", json=body).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(start, range(8)))
    assert sorted(statuses) == [201, 201, 201] + [413] * 5
    with sp.platform.http(key) as dave:
        assert dave.get("/api/files/quota").json()["reserved_bytes"] == 90_000


def test_move_and_rename(storage_platform: StoragePlatform, tmp_path: Path) -> None:
    sp = storage_platform
    home = sp.root / "home" / "alice"
    with sp.platform.http(sp.user_key) as alice:
        assert alice.put("/api/files/home/mv/a.txt", content=b"A").status_code == 201
        assert alice.put("/api/files/home/mv/b.txt", content=b"B").status_code == 201

        renamed = alice.post("/api/files/move", json={"path": "mv/a.txt", "to": "mv/c.txt"})
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["path"] == "mv/c.txt" and renamed.json()["size"] == 1
        assert alice.get("/api/files/home/mv/c.txt").content == b"A"
        assert alice.get("/api/files/home/mv/a.txt").status_code == 404

        # A taken name is refused unless asked, and nothing moves.
        taken = alice.post("/api/files/move", json={"path": "mv/c.txt", "to": "mv/b.txt"})
        assert taken.status_code == 409 and error(taken)["code"] == "file_exists"
        assert error(taken)["param"] == "to" and "overwrite" in error(taken)["message"]
        assert alice.get("/api/files/home/mv/b.txt").content == b"B"
        replaced = alice.post(
            "/api/files/move", json={"path": "mv/c.txt", "to": "mv/b.txt", "overwrite": True}
        )
        assert replaced.status_code == 200 and alice.get("/api/files/home/mv/b.txt").content == b"A"
        assert sorted(os.listdir(home / "mv")) == ["b.txt"]

        # Folders: into a new place (parents made), never onto a folder, never into itself.
        moved = alice.post("/api/files/move", json={"path": "mv", "to": "deep/er/mv2"})
        assert moved.status_code == 200 and moved.json()["type"] == "dir"
        assert alice.get("/api/files/home/deep/er/mv2/b.txt").content == b"A"
        assert alice.post("/api/files/folders", json={"path": "other"}).status_code == 201
        onto = alice.post(
            "/api/files/move", json={"path": "deep/er/mv2", "to": "other", "overwrite": True}
        )
        assert onto.status_code == 409 and error(onto)["code"] == "folder_exists"
        assert "other/mv2" in error(onto)["message"]
        file_onto = alice.post(
            "/api/files/move", json={"path": "deep/er/mv2/b.txt", "to": "other", "overwrite": True}
        )
        assert file_onto.status_code == 409 and error(file_onto)["code"] == "folder_exists"
        itself = alice.post("/api/files/move", json={"path": "deep", "to": "deep/er/x"})
        assert itself.status_code == 400 and error(itself)["code"] == "move_into_itself"
        same = alice.post("/api/files/move", json={"path": "deep", "to": "deep/"})
        assert same.status_code == 200 and same.json()["path"] == "deep"
        missing = alice.post("/api/files/move", json={"path": "nothing", "to": "x"})
        assert missing.status_code == 404
        assert alice.put("/api/files/home/plain", content=b"p").status_code == 201
        under_file = alice.post(
            "/api/files/move", json={"path": "deep/er/mv2/b.txt", "to": "plain/b.txt"}
        )
        assert under_file.status_code == 409 and error(under_file)["code"] == "not_a_folder"

        # The quota is unchanged by moves.
        before = alice.get("/api/files/quota").json()
        alice.post("/api/files/move", json={"path": "deep", "to": "deep2"})
        after = alice.get("/api/files/quota").json()
        assert (before["used_bytes"], before["used_files"]) == (
            after["used_bytes"],
            after["used_files"],
        )


def test_move_refuses_traversal_and_others_files(
    storage_platform: StoragePlatform, tmp_path: Path
) -> None:
    sp = storage_platform
    outside = tmp_path / "outside"
    outside.mkdir()
    home = sp.root / "home" / "alice"
    home.mkdir(parents=True, exist_ok=True)
    (home / "door").symlink_to(outside)
    with sp.platform.http(sp.user_key) as alice:
        assert alice.put("/api/files/home/t/f.txt", content=b"F").status_code == 201
        for path, to in (
            ("t/f.txt", "../f.txt"),
            ("t/f.txt", "a/../../f.txt"),
            ("t/f.txt", "/tmp/f.txt"),
            ("t/f.txt", "door/f.txt"),
            ("t/f.txt", "door/new/f.txt"),
            ("t/f.txt", "a\u0000b"),
            ("../x", "y"),
            ("door/x", "y"),
            ("", "y"),
        ):
            r = alice.post("/api/files/move", json={"path": path, "to": to})
            assert r.status_code == 400 and error(r)["code"] == "invalid_path", (path, to, r.text)
            assert error(r)["param"] == ("to" if path == "t/f.txt" else "path")
        for bad in ("../x", "door/x", "/etc/x", "a/../../b"):
            r = alice.post("/api/files/folders", json={"path": bad})
            assert r.status_code == 400 and error(r)["code"] == "invalid_path", bad
        assert os.listdir(outside) == []
        # The link itself may be renamed (not what it points at), and stays a link.
        link = alice.post("/api/files/move", json={"path": "door", "to": "door2"})
        assert link.status_code == 200 and link.json()["type"] == "link"
        assert (home / "door2").is_symlink() and outside.is_dir()
        assert alice.delete("/api/files/home/door2").status_code == 200
        assert alice.put("/api/files/home/t/mine.txt", content=b"alice's").status_code == 201

    with sp.platform.http(sp.other_key) as bob:
        # Bob's paths name his own home: Alice's file is not there for him.
        r = bob.post("/api/files/move", json={"path": "t/mine.txt", "to": "stolen.txt"})
        assert r.status_code == 404
        r = bob.post("/api/files/move", json={"path": "x", "to": "y", "area": "public"})
        assert r.status_code == 403 and "data-admins" in error(r)["message"]
        r = bob.post("/api/files/folders", json={"path": "shared", "area": "public"})
        assert r.status_code == 403
    with sp.platform.http() as admin:
        # Admins read other homes but write only their own: `user` is not accepted here.
        r = admin.post("/api/files/move", json={"path": "t/mine.txt", "to": "x", "user": "alice"})
        assert r.status_code == 404  # in the admin's own home, where there is no such file
    with sp.platform.http(sp.user_key) as alice:
        assert alice.get("/api/files/home/t/mine.txt").content == b"alice's"
        assert alice.delete("/api/files/home/t", params={"recursive": "true"}).status_code == 200


def test_new_folders(storage_platform: StoragePlatform) -> None:
    sp = storage_platform
    with sp.platform.http(sp.user_key) as alice:
        made = alice.post("/api/files/folders", json={"path": "nf/a/b"})
        assert made.status_code == 201, made.text
        assert made.json() == {**made.json(), "path": "nf/a/b", "type": "dir", "size": 0}
        again = alice.post("/api/files/folders", json={"path": "nf/a/b"})
        assert again.status_code == 409 and error(again)["code"] == "folder_exists"
        ok = alice.post("/api/files/folders", json={"path": "nf/a/b", "exist_ok": True})
        assert ok.status_code == 200 and ok.json()["path"] == "nf/a/b"
        assert alice.put("/api/files/home/nf/file", content=b"x").status_code == 201
        on_file = alice.post("/api/files/folders", json={"path": "nf/file", "exist_ok": True})
        assert on_file.status_code == 409 and error(on_file)["code"] == "file_exists"
        below_file = alice.post("/api/files/folders", json={"path": "nf/file/sub"})
        assert below_file.status_code == 409 and error(below_file)["code"] == "not_a_folder"
        top = alice.post("/api/files/folders", json={"path": ""})
        assert top.status_code == 400 and error(top)["code"] == "invalid_path"
        # Folders are neither bytes nor files in the quota.
        quota = alice.get("/api/files/quota").json()
        assert alice.post("/api/files/folders", json={"path": "nf/c"}).status_code == 201
        assert alice.get("/api/files/quota").json()["used_files"] == quota["used_files"]
        listing = alice.get("/api/files/list", params={"path": "nf"}).json()
        assert [(e["name"], e["type"]) for e in listing["entries"]] == [
            ("a", "dir"),
            ("c", "dir"),
            ("file", "file"),
        ]
        assert alice.delete("/api/files/home/nf", params={"recursive": "true"}).status_code == 200
    with sp.platform.http(sp.data_admin_key) as carol:
        shared = carol.post("/api/files/folders", json={"path": "datasets/qg", "area": "public"})
        assert shared.status_code == 201
        moved = carol.post(
            "/api/files/move",
            json={"path": "datasets/qg", "to": "datasets/quark-gluon", "area": "public"},
        )
        assert moved.status_code == 200 and moved.json()["path"] == "datasets/quark-gluon"
        gone = carol.delete("/api/files/public/datasets", params={"recursive": "true"})
        assert gone.status_code == 200
