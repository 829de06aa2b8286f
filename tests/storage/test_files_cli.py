"""`hai files` in a subprocess, as a user runs it: upload (resuming one begun elsewhere),
list, download, quota, remove."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.storage.conftest import CHUNK, StoragePlatform


def hai(sp: StoragePlatform, *args: str, key: str) -> subprocess.CompletedProcess[str]:
    env = {**sp.platform.env, "HAI_API_KEY": key}
    return subprocess.run(
        [sys.executable, "-m", "hakutaku", "files", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_round_trip(storage_platform: StoragePlatform, tmp_path: Path) -> None:
    sp = storage_platform
    data = os.urandom(3 * CHUNK + 99)
    local = tmp_path / "events.bin"
    local.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()

    # An upload interrupted after its first chunk (as if the previous run had died there).
    with sp.platform.http(sp.user_key) as alice:
        body = {"path": "cli/events.bin", "size": len(data), "sha256": digest}
        up = alice.post("/api/files/uploads", json=body).json()
        first = alice.put(
            f"/api/files/uploads/{up['id']}",
            params={"offset": 0},
            content=data[:CHUNK],
            headers={"content-type": "application/octet-stream"},
        )
        assert first.status_code == 200

    out = hai(sp, "upload", str(local), "cli/", key=sp.user_key)
    assert out.returncode == 0, out.stderr
    assert "resuming at 64 KiB" in out.stderr
    assert "uploaded" in out.stdout and "home:cli/events.bin" in out.stdout

    listed = hai(sp, "ls", "cli", "--json", key=sp.user_key)
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)["entries"]
    assert [(e["name"], e["size"]) for e in entries] == [("events.bin", len(data))]
    table = hai(sp, "ls", key=sp.user_key)
    assert "cli/" in table.stdout

    copy = tmp_path / "copy.bin"
    got = hai(sp, "download", "cli/events.bin", str(copy), key=sp.user_key)
    assert got.returncode == 0, got.stderr
    assert copy.read_bytes() == data

    nowhere = hai(sp, "download", "cli/events.bin", str(tmp_path / "no" / "x"), key=sp.user_key)
    assert nowhere.returncode == 1 and "No such file or directory" in nowhere.stderr

    again = hai(sp, "upload", str(local), "cli/events.bin", key=sp.user_key)
    assert again.returncode == 1 and "already exists" in again.stderr and "--force" in again.stderr
    forced = hai(sp, "upload", str(local), "cli/events.bin", "--force", "--json", key=sp.user_key)
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["size"] == len(data)

    shown = hai(sp, "quota", "show", "--json", key=sp.user_key)
    assert json.loads(shown.stdout)["used_bytes"] >= len(data)
    assert "default limits" in hai(sp, "quota", key=sp.user_key).stdout

    admin = sp.platform.admin_key
    set_out = hai(sp, "quota", "set", "alice", "--bytes", "10G", "--files", "1000", key=admin)
    assert set_out.returncode == 0, set_out.stderr
    assert "of 10 GiB, " in set_out.stdout and "of 1000 files" in set_out.stdout
    denied = hai(sp, "quota", "set", "alice", "--bytes", "1T", key=sp.user_key)
    assert denied.returncode == 1 and "admin" in denied.stderr
    assert hai(sp, "quota", "reset", "alice", key=admin).returncode == 0

    removed = hai(sp, "rm", "cli", "-r", key=sp.user_key)
    assert removed.returncode == 0, removed.stderr
    assert "deleted home:cli/" in removed.stdout
    missing = hai(sp, "download", "cli/events.bin", str(tmp_path / "x"), key=sp.user_key)
    assert missing.returncode == 1 and "404" in missing.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.part").exists()


def test_cli_mv_and_mkdir(storage_platform: StoragePlatform) -> None:
    sp = storage_platform
    key = sp.user_key
    made = hai(sp, "mkdir", "clidir/sub", key=key)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "folder home:clidir/sub/"
    again = hai(sp, "mkdir", "clidir/sub", key=key)
    assert again.returncode == 1 and "already a folder" in again.stderr
    assert hai(sp, "mkdir", "clidir/sub", "-p", key=key).returncode == 0

    with sp.platform.http(key) as alice:
        assert alice.put("/api/files/home/clidir/a.txt", content=b"a").status_code == 201
        assert alice.put("/api/files/home/clidir/b.txt", content=b"b").status_code == 201
    renamed = hai(sp, "mv", "clidir/a.txt", "clidir/c.txt", key=key)
    assert renamed.returncode == 0, renamed.stderr
    assert renamed.stdout.strip() == "moved home:clidir/a.txt to clidir/c.txt"
    into = hai(sp, "mv", "clidir/c.txt", "clidir/sub/", "--json", key=key)
    assert into.returncode == 0, into.stderr
    assert json.loads(into.stdout)["path"] == "clidir/sub/c.txt"
    clash = hai(sp, "mv", "clidir/b.txt", "clidir/sub/c.txt", key=key)
    assert clash.returncode == 1 and "already exists" in clash.stderr and "--force" in clash.stderr
    forced = hai(sp, "mv", "clidir/b.txt", "clidir/sub/c.txt", "--force", key=key)
    assert forced.returncode == 0, forced.stderr
    folder = hai(sp, "mv", "clidir/sub", "moved", key=key)
    assert folder.stdout.strip() == "moved home:clidir/sub/ to moved/"
    escape = hai(sp, "mv", "moved", "../x", key=key)
    assert escape.returncode == 1 and "climbs above the top" in escape.stderr
    public = hai(sp, "mkdir", "mine", "--public", key=key)
    assert public.returncode == 1 and "read-only for you" in public.stderr
    listed = json.loads(hai(sp, "ls", "moved", "--json", key=key).stdout)["entries"]
    assert [(e["name"], e["size"]) for e in listed] == [("c.txt", 1)]
    assert hai(sp, "rm", "moved", "-r", key=key).returncode == 0
    assert hai(sp, "rm", "clidir", "-r", key=key).returncode == 0
