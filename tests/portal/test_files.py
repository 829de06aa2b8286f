"""The file manager (/files) in a real browser against a real server: browsing and sorting,
uploads through the chunked API (progress, a reload mid-upload that resumes where the server
stands, a dropped connection, a checksum compared after download), quota refusals before any
byte is sent, folder uploads and drops, new folders, rename, delete, the read-only public
area, and that one user never sees another's files."""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.portal.conftest import add_user, shot, sign_in
from tests.support.processes import Platform, wait_until

CHUNK_MAX = 4 * 1024 * 1024  # the server's chunk_size_max here (HAI_MAX_BODY_BYTES)
MIB = 1024 * 1024


class Files:
    """The module's server, its users' API keys, and the storage root on disk."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.url = platform.url
        self.keys: dict[str, str] = {}

    def key(self, user: str) -> str:
        if user not in self.keys:
            with self.platform.http() as admin:
                r = admin.post("/api/keys", json={"user": user})
                assert r.status_code == 201, r.text
                self.keys[user] = r.json()["key"]
        return self.keys[user]

    def api(self, user: str | None = None) -> httpx.Client:
        return self.platform.http(self.key(user) if user else None)

    def home(self, user: str) -> Path:
        return self.platform.home / "storage" / "home" / user


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Files]:
    home = tmp_path_factory.mktemp("files-portal") / "home"
    p = Platform(
        home,
        HAI_PORTAL_LOGIN_ATTEMPTS="1000",
        HAI_MAX_BODY_BYTES=str(CHUNK_MAX),
        HAI_DEMO_WORKERS="false",
    )
    p.start()
    try:
        add_user(p, "alice", groups=("cms",))
        add_user(p, "bob", groups=("atlas",))
        add_user(p, "carol", groups=("data-admins",))
        add_user(p, "root", role="admin")
        yield Files(p)
    finally:
        p.stop()


def random_file(path: Path, size: int) -> str:
    """Random bytes written in blocks; their SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, 8 * MIB))
            f.write(block)
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(8 * MIB):
            digest.update(block)
    return digest.hexdigest()


def open_files(page: Any, files: Files, query: str = "") -> None:
    page.goto(f"{files.url}/files{query}")
    page.get_by_role("meter", name="Storage").wait_for()  # the quota bar has loaded


def chunk_offsets(page: Any) -> list[int]:
    """Offsets of the chunk PUTs the page sends from now on."""
    offsets: list[int] = []

    def seen(request: Any) -> None:
        if request.method == "PUT" and "/api/files/uploads/" in request.url:
            offsets.append(int(parse_qs(urlsplit(request.url).query)["offset"][0]))

    page.on("request", seen)
    return offsets


class Network:
    """Chromium's network emulation for one page: slow uploads, or no network at all."""

    def __init__(self, page: Any) -> None:
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Network.enable")

    def set(self, upload_bytes_per_s: float = -1, *, offline: bool = False) -> None:
        conditions = {
            "offline": offline,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": upload_bytes_per_s,  # -1: not limited
        }
        self.cdp.send("Network.emulateNetworkConditions", conditions)


def throttle(page: Any, upload_bytes_per_s: float) -> Network:
    network = Network(page)
    network.set(upload_bytes_per_s)
    return network


def transfer(page: Any, path: str) -> Any:
    """The newest upload row of `path` in the page's list of uploads."""
    uploads = page.get_by_role("list", name="Uploads")
    return uploads.get_by_role("listitem", name=path, exact=True).first  # the newest


def progress_of(page: Any, path: str) -> int:
    bar = transfer(page, path).get_by_role("progressbar", name=f"Progress of {path}")
    return int(bar.get_attribute("value"))


def wait_uploaded(page: Any, path: str, timeout: float = 60_000) -> None:
    transfer(page, path).get_by_text("Uploaded", exact=True).wait_for(timeout=timeout)


def listed_names(page: Any) -> list[str]:
    cells = page.locator("#browser table.listing tbody tr[data-type] td:first-child")
    return [c.inner_text().strip() for c in cells.all()]


def put(files: Files, user: str, path: str, data: bytes, area: str = "home") -> None:
    with files.api(user) as h:
        r = h.put(f"/api/files/{area}/{path}", content=data)
        assert r.status_code == 201, r.text


# -- browsing ------------------------------------------------------------------------------------


def test_browse_sort_and_breadcrumbs_and_nobody_sees_anothers_files(
    files: Files, page: Any
) -> None:
    put(files, "alice", "data/run1/events.root", os.urandom(3000))
    put(files, "alice", "data/big.h5", os.urandom(200_000))
    put(files, "alice", "data/small.txt", b"x" * 10)
    put(files, "alice", "data/Zeta/readme", b"z")
    put(files, "alice", "alice-secret.txt", b"only alice")

    sign_in(page, files.platform, "alice")
    open_files(page, files)
    assert (
        page.get_by_role("link", name="Files", exact=True).get_attribute("aria-current") == "page"
    )
    areas = page.get_by_role("navigation", name="Areas")
    assert areas.get_by_role("link", name="My files").get_attribute("aria-current") == "page"
    assert listed_names(page) == ["data/", "alice-secret.txt"]  # folders first
    meter = page.get_by_role("meter", name="Storage")
    assert "of 500 GiB" in meter.get_attribute("aria-valuetext")
    shot(page, "files-home")

    page.get_by_role("link", name="data/").click()
    page.wait_for_url("**/files?area=home&path=data")
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    assert crumbs.inner_text().split() == ["My", "files", "data"]
    # Folders first, then files; names compare without case.
    assert listed_names(page) == ["run1/", "Zeta/", "big.h5", "small.txt"]
    page.get_by_role("link", name="Size").click()
    page.wait_for_url("**sort=size&order=asc")
    assert listed_names(page) == ["run1/", "Zeta/", "small.txt", "big.h5"]
    header = page.get_by_role("columnheader", name="Size")
    assert header.get_attribute("aria-sort") == "ascending"
    page.get_by_role("link", name="Size").click()
    page.wait_for_url("**sort=size&order=desc")
    assert listed_names(page) == ["Zeta/", "run1/", "big.h5", "small.txt"]
    shot(page, "files-folder-sorted")
    page.get_by_role("link", name="run1/").click()
    page.wait_for_url("**path=data%2Frun1**")
    assert listed_names(page) == ["events.root"]
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="My files").click()
    page.wait_for_url("**/files?area=home")
    assert listed_names(page) == ["data/", "alice-secret.txt"]
    # Back in history restores the folder (htmx keeps the address of each view).
    page.go_back()
    page.wait_for_url("**path=data%2Frun1**")
    page.locator("#browser").get_by_text("events.root").wait_for()

    missing = page.goto(f"{files.url}/files?area=home&path=nowhere")
    assert missing is not None and missing.status == 404
    expect(page.get_by_role("alert")).to_contain_text("No file or folder 'nowhere'")
    bad = page.goto(f"{files.url}/files?area=home&path=../bob")
    assert bad is not None and bad.status == 400
    expect(page.get_by_role("alert")).to_contain_text("climbs above the top")

    # Bob sees his own (empty) home, never Alice's, in the browser and through the API.
    page.context.clear_cookies()
    sign_in(page, files.platform, "bob")
    open_files(page, files)
    assert listed_names(page) == []
    assert "This folder is empty" in page.locator("#browser").inner_text()
    assert "alice-secret" not in page.content()
    peek = page.goto(f"{files.url}/files?area=home&path=data")
    assert peek is not None and peek.status == 404
    with files.api("bob") as bob:
        assert bob.get("/api/files/list").json()["entries"] == []
        assert bob.get("/api/files/home/alice-secret.txt").status_code == 404
        assert (
            bob.get("/api/files/home/alice-secret.txt", params={"user": "alice"}).status_code == 403
        )
        assert bob.get("/api/files/list", params={"user": "alice"}).status_code == 403
    # The page's cookie reaches /api as Bob, and only as Bob.
    answer = page.request.get(f"{files.url}/api/files/home/alice-secret.txt?user=alice")
    assert answer.status == 403


# -- uploads -------------------------------------------------------------------------------------


def test_a_50_mb_upload_resumes_after_a_reload_and_downloads_byte_identical(
    files: Files, page: Any, tmp_path: Path
) -> None:
    size = 50 * MIB
    local = tmp_path / "big.bin"
    digest = random_file(local, size)
    sign_in(page, files.platform, "alice")
    open_files(page, files)
    page.on("dialog", lambda dialog: dialog.accept())  # "uploads are in progress" on reload

    network = throttle(page, 10 * MIB)  # about 5 s for the whole file: time to reload halfway
    page.get_by_label("Upload files").set_input_files(str(local))
    row = transfer(page, "big.bin")
    row.get_by_text("Uploading").wait_for()
    wait_until(lambda: progress_of(page, "big.bin") > 0, 30, "the progress bar to move")
    first = progress_of(page, "big.bin")

    def received() -> int:
        with files.api("alice") as h:
            open_uploads = h.get("/api/files/uploads").json()
        return open_uploads[0]["received"] if open_uploads else 0

    wait_until(lambda: received() >= 2 * MIB, 60, "two MiB to reach the server")
    stats = row.locator(".transfer-stats").inner_text()
    assert "MiB/s" in stats and "left" in stats and " of 50 MiB" in stats, stats
    assert progress_of(page, "big.bin") >= first
    shot(page, "files-uploading")

    page.reload()
    at_reload = received()
    assert 0 < at_reload < size, at_reload
    time.sleep(0.5)
    assert received() == at_reload  # nothing runs behind the page any more
    unfinished = page.get_by_role("region", name="Unfinished uploads")
    assert "big.bin" in unfinished.inner_text()
    shot(page, "files-unfinished")

    network.set()
    offsets = chunk_offsets(page)
    page.get_by_label("Resume big.bin").set_input_files(str(local))
    wait_uploaded(page, "big.bin")
    assert offsets and offsets[0] == at_reload, (offsets[:3], at_reload)  # not from 0
    assert all(b > a for a, b in itertools.pairwise(offsets))
    assert max(offsets) < size
    assert "Resumed at" in transfer(page, "big.bin").inner_text()
    assert progress_of(page, "big.bin") == 100
    assert not page.get_by_role("region", name="Unfinished uploads").is_visible()
    page.locator("#browser").get_by_text("big.bin").wait_for()  # the listing was refreshed
    shot(page, "files-uploaded")

    with page.expect_download() as waiting:
        page.get_by_role("link", name="Download big.bin").click()
    copy = tmp_path / "copy.bin"
    waiting.value.save_as(copy)
    assert copy.stat().st_size == size and sha256_of(copy) == digest
    assert sha256_of(files.home("alice") / "big.bin") == digest
    put_back = page.request.get(
        f"{files.url}/api/files/home/big.bin", headers={"range": "bytes=10-19"}
    )
    assert put_back.status == 206 and put_back.body() == local.read_bytes()[10:20]
    with files.api("alice") as h:
        assert h.get("/api/files/uploads").json() == []
        assert h.delete("/api/files/home/big.bin").status_code == 200


def test_a_dropped_connection_is_retried_until_the_upload_finishes(
    files: Files, page: Any, tmp_path: Path
) -> None:
    local = tmp_path / "flaky.bin"
    digest = random_file(local, 12 * MIB)
    sign_in(page, files.platform, "bob")
    open_files(page, files)
    network = throttle(page, 2 * MIB)
    page.get_by_label("Upload files").set_input_files(str(local))
    row = transfer(page, "flaky.bin")
    try:
        wait_until(lambda: progress_of(page, "flaky.bin") >= 10, 30, "the upload to start")
        network.set(2 * MIB, offline=True)
        row.get_by_text("Connection lost; retrying in").wait_for()
        shot(page, "files-retrying")
        time.sleep(3)
        assert "Failed" not in row.inner_text()
        network.set()
        wait_uploaded(page, "flaky.bin")
        assert sha256_of(files.home("bob") / "flaky.bin") == digest
    finally:
        with files.api("bob") as h:
            h.delete("/api/files/home/flaky.bin")
            for upload in h.get("/api/files/uploads").json():
                h.delete(f"/api/files/uploads/{upload['id']}")


def test_a_quota_refusal_is_shown_before_any_byte_is_sent(
    files: Files, page: Any, tmp_path: Path
) -> None:
    with files.api() as admin:
        r = admin.put("/api/files/quota/bob", json={"max_bytes": MIB})
        assert r.status_code == 200, r.text
    try:
        local = tmp_path / "too-big.bin"
        random_file(local, 3 * MIB)
        sign_in(page, files.platform, "bob")
        open_files(page, files)
        assert page.get_by_role("meter", name="Storage").get_attribute("aria-valuetext") == (
            "0 B of 1 MiB"
        )
        sent = chunk_offsets(page)
        created: list[str] = []
        page.on(
            "request",
            lambda r: (
                created.append(r.url)
                if r.method == "POST" and r.url.endswith("/api/files/uploads")
                else None
            ),
        )
        page.get_by_label("Upload files").set_input_files(str(local))
        row = transfer(page, "too-big.bin")
        row.get_by_text("Refused: Storage quota exceeded for bob").wait_for()
        text = row.inner_text()
        assert "this upload needs 3 MiB" in text and "of 1 MiB is already used" in text
        assert "Computing the checksum" not in text  # refused before the file was even read
        shot(page, "files-quota-refused")
        assert sent == []  # not one chunk
        assert len(created) == 1  # the one creation call, refused
        with files.api("bob") as h:
            assert h.get("/api/files/uploads").json() == []
            assert h.get("/api/files/list").json()["entries"] == []
        assert not (files.home("bob") / "too-big.bin").exists()

        # A file that fits still goes up under the same quota.
        fits = tmp_path / "fits.bin"
        random_file(fits, 300_000)
        page.get_by_label("Upload files").set_input_files(str(fits))
        wait_uploaded(page, "fits.bin")
        wait_until(
            lambda: (
                "293 KiB of 1 MiB"
                in page.get_by_role("meter", name="Storage").get_attribute("aria-valuetext")
            ),
            10,
            "the quota bar to count the new file",
        )
    finally:
        with files.api() as admin:
            admin.delete("/api/files/quota/bob")
        with files.api("bob") as h:
            h.delete("/api/files/home/fits.bin")


def test_folder_upload_and_drop(files: Files, page: Any, tmp_path: Path) -> None:
    tree = tmp_path / "jets"
    (tree / "train").mkdir(parents=True)
    (tree / "test").mkdir()
    expected = {
        "jets/train/a.npz": os.urandom(70_000),
        "jets/train/b.npz": os.urandom(5),
        "jets/test/c.npz": os.urandom(1_500_000),
        "jets/README": b"QG jets",
    }
    for rel, data in expected.items():
        (tmp_path / rel).write_bytes(data)

    sign_in(page, files.platform, "carol")
    open_files(page, files)
    page.get_by_label("Upload a folder").set_input_files(str(tree))
    for rel in expected:
        wait_uploaded(page, rel)
    for rel, data in expected.items():
        assert (files.home("carol") / rel).read_bytes() == data
    page.locator("#browser").get_by_role("link", name="jets/").wait_for()
    assert page.get_by_text("4 of 4 uploaded").is_visible()
    shot(page, "files-folder-uploaded")

    # Files dropped onto the listing go into the folder shown.
    page.locator("#browser").get_by_role("link", name="jets/").click()
    page.wait_for_url("**path=jets")
    page.evaluate(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File(["dropped bytes"], "dropped.txt", {type: "text/plain"}));
            const zone = document.querySelector("#browser table");
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true,
                                                        cancelable: true}));
            }
        }"""
    )
    wait_uploaded(page, "jets/dropped.txt")
    assert (files.home("carol") / "jets" / "dropped.txt").read_bytes() == b"dropped bytes"

    # The same name again is refused unless replacing was asked for, then replaced.
    again = tmp_path / "README"
    again.write_bytes(b"new readme")
    page.get_by_label("Upload files").set_input_files(str(again))
    row = transfer(page, "jets/README")
    row.get_by_text("'jets/README' already exists").wait_for()
    assert (files.home("carol") / "jets" / "README").read_bytes() == b"QG jets"
    shot(page, "files-exists")
    row.get_by_role("button", name="Replace the existing jets/README").click()
    wait_uploaded(page, "jets/README")
    assert (files.home("carol") / "jets" / "README").read_bytes() == b"new readme"
    page.get_by_role("button", name="Clear finished").click()
    assert not page.get_by_role("list", name="Uploads").is_visible()


def test_new_folder_rename_and_delete(files: Files, page: Any) -> None:
    put(files, "bob", "work/notes.txt", b"notes")
    put(files, "bob", "work/old/x.dat", b"x")
    sign_in(page, files.platform, "bob")
    open_files(page, files, "?area=home&path=work")

    page.get_by_label("New folder").fill("results")
    page.get_by_role("button", name="Create folder").click()
    expect(page.get_by_role("status")).to_have_text("Folder results created.")
    assert (files.home("bob") / "work" / "results").is_dir()
    page.get_by_label("New folder").fill("results")
    page.get_by_role("button", name="Create folder").click()
    expect(page.get_by_role("alert")).to_contain_text("'work/results' is already a folder")
    shot(page, "files-new-folder-refused")

    page.get_by_role("button", name="Rename notes.txt").click()
    dialog = page.get_by_role("dialog", name="Rename")
    assert dialog.get_by_label("New name").input_value() == "notes.txt"
    shot(page, "files-rename-dialog")
    dialog.get_by_label("New name").fill("summary.txt")
    dialog.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("status")).to_have_text("Renamed work/notes.txt to work/summary.txt.")
    assert listed_names(page) == ["old/", "results/", "summary.txt"]
    # Onto a name that is taken: refused with the service's words, nothing moved.
    page.get_by_role("button", name="Rename summary.txt").click()
    page.get_by_role("dialog", name="Rename").get_by_label("New name").fill("old")
    page.get_by_role("dialog", name="Rename").get_by_role("button", name="Rename").click()
    expect(page.get_by_role("alert")).to_contain_text("'work/old' is already a folder")
    assert (files.home("bob") / "work" / "summary.txt").read_bytes() == b"notes"
    page.get_by_role("button", name="Rename summary.txt").click()
    page.get_by_role("dialog", name="Rename").get_by_label("New name").fill("../../escape")
    page.get_by_role("dialog", name="Rename").get_by_role("button", name="Rename").click()
    expect(page.get_by_role("alert")).to_contain_text("climbs above the top of the area")

    page.get_by_role("button", name="Delete summary.txt").click()
    dialog = page.get_by_role("dialog", name="Delete")
    assert "Delete work/summary.txt? This cannot be undone." in dialog.inner_text()
    dialog.get_by_role("button", name="Cancel").click()
    assert not dialog.is_visible() and (files.home("bob") / "work" / "summary.txt").exists()
    page.get_by_role("button", name="Delete summary.txt").click()
    page.get_by_role("dialog", name="Delete").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text("Deleted work/summary.txt.")
    page.get_by_role("button", name="Delete old").click()
    dialog = page.get_by_role("dialog", name="Delete")
    assert "the folder work/old and everything in it" in dialog.inner_text()
    shot(page, "files-delete-folder-dialog")
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted the folder work/old")
    assert not (files.home("bob") / "work" / "old").exists()
    assert listed_names(page) == ["results/"]
    shot(page, "files-after-delete")

    # The actions need the page's CSRF token, like every form of the portal.
    forged = page.request.post(
        f"{files.url}/files/delete", form={"area": "home", "path": "work", "recursive": "true"}
    )
    assert forged.status == 403 and (files.home("bob") / "work").is_dir()


def test_the_public_area_is_read_only_for_users_and_writable_for_data_admins(
    files: Files, page: Any, tmp_path: Path
) -> None:
    put(files, "carol", "datasets/qg/train.npz", b"shared", area="public")
    sign_in(page, files.platform, "alice")
    open_files(page, files)
    page.get_by_role("navigation", name="Areas").get_by_role("link", name="Public data").click()
    page.wait_for_url("**area=public")
    page.get_by_role("link", name="datasets/").click()
    page.wait_for_url("**path=datasets")
    page.get_by_role("link", name="qg/").click()
    page.wait_for_url("**path=datasets%2Fqg")
    assert listed_names(page) == ["train.npz"]
    assert "read-only for you" in page.locator("#browser").inner_text()
    assert page.get_by_role("button", name="Rename train.npz").count() == 0
    assert page.get_by_role("button", name="Create folder").count() == 0
    assert page.get_by_label("Upload files").is_disabled()
    shot(page, "files-public-read-only")
    with page.expect_download() as waiting:
        page.get_by_role("link", name="Download train.npz").click()
    waiting.value.save_as(tmp_path / "train.npz")
    assert (tmp_path / "train.npz").read_bytes() == b"shared"
    # A drop is still asked of the server, which refuses it in its own words.
    page.evaluate(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File(["mine"], "mine.txt"));
            document.querySelector("#browser table").dispatchEvent(
                new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
        }"""
    )
    row = transfer(page, "datasets/qg/mine.txt")
    row.get_by_text("Refused: The public area is read-only for you").wait_for()
    forged = page.request.post(
        f"{files.url}/files/folders",
        form={
            "area": "public",
            "folder": "",
            "name": "x",
            "csrf_token": page.locator("body").get_attribute("data-csrf"),
        },
    )
    assert forged.status == 403 and "read-only for you" in forged.text()

    page.context.clear_cookies()
    sign_in(page, files.platform, "carol")
    open_files(page, files, "?area=public&path=datasets")
    page.get_by_label("New folder").fill("top-tagging")
    page.get_by_role("button", name="Create folder").click()
    expect(page.get_by_role("status")).to_have_text("Folder top-tagging created.")
    with files.api("carol") as h:
        listing = h.get("/api/files/list", params={"area": "public", "path": "datasets"})
        assert [e["name"] for e in listing.json()["entries"]] == ["qg", "top-tagging"]
        assert h.delete("/api/files/public/datasets", params={"recursive": "true"}).is_success
