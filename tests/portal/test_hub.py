"""The hub page in a real browser: weights and datasets pushed through the API are listed with
their cards, the search (server-side, through htmx) narrows them, downloads are the files
pushed, and private weights stay their owner's."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.portal.conftest import add_user, shot, sign_in
from tests.support.processes import Platform


def weights_file(tag: str) -> bytes:
    """What torch.save writes, as far as the server checks: a zip holding data.pkl."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("archive/data.pkl", f"not really a pickle: {tag}")
        archive.writestr("archive/version", "3")
    return out.getvalue()


FILES = {tag: weights_file(tag) for tag in ("pfn-1", "pfn-2", "pnet")}
DATASET = {
    "name": "top-landscape",
    "version": "2019",
    "description": "Boosted top quark jets against QCD jets, 14 TeV.",
    "licence": "CC-BY-4.0",
    "citation": "G. Kasieczka, T. Plehn et al., SciPost Phys. 7 (2019) 014",
    "format": "h5",
    "files": [
        {"path": "public/top/train.h5", "sha256": "a" * 64, "bytes": 2_000_000, "split": "train"},
        {"path": "public/top/test.h5", "sha256": "b" * 64, "bytes": 500_000, "split": "test"},
    ],
    "splits": {"train": 1_200_000, "test": 400_000},
}


def push(h: httpx.Client, arch: str, version: str, tag: str, **card: str) -> None:
    data = FILES[tag]
    params = {"sha256": hashlib.sha256(data).hexdigest(), **card}
    r = h.post(f"/api/hub/weights/{arch}/{version}", params=params, content=data)
    assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = Platform(tmp_path_factory.mktemp("hub") / "home", HAI_DEMO_WORKERS="false")
    p.start()
    try:
        add_user(p, "alice", groups=("cms",))
        add_user(p, "bob", groups=("atlas",))
        alice_key = p.add_user_key("alice-bot")  # another user, pushing through the API
        with p.http(alice_key) as h:
            push(
                h,
                "pfn",
                "1.0",
                "pfn-1",
                author="A. Physicist",
                licence="MIT",
                metrics='{"auc": 0.98123, "accuracy": 0.93}',
                training_data="top-landscape 2019",
            )
            push(
                h,
                "particlenet",
                "jetclass-1",
                "pnet",
                author="Huilin Qu",
                licence="MIT",
                description="ParticleNet trained on JetClass",
                metrics='{"auc": 0.9861}',
            )
            r = h.post("/api/hub/datasets", json=DATASET)
            assert r.status_code == 201, r.text
            r = h.post(
                "/api/hub/architectures",
                json={
                    "name": "tiny-tagger",
                    "builder": "tiny.models:build",
                    "description": "a very small tagger for tests",
                },
            )
            assert r.status_code == 201, r.text
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def private_pushed(portal: Platform) -> None:
    """alice's own private weights: hers and admins' only."""
    key = _key_of(portal, "alice")
    with portal.http(key) as h:
        push(h, "pfn", "2.0-private", "pfn-2", author="Alice", public="false")


def _key_of(p: Platform, user: str) -> str:
    with p.http() as h:
        r = h.post("/api/keys", json={"user": user})
        assert r.status_code == 201, r.text
        return str(r.json()["key"])


def weights_rows(page: Any) -> list[str]:
    section = page.get_by_role("region", name="Weights")
    return [r.inner_text() for r in section.get_by_role("rowheader").all()]


def test_the_hub_lists_weights_and_datasets_pushed_through_the_api(
    portal: Platform, page: Any, private_pushed: None
) -> None:
    sign_in(page, portal, "alice")
    page.get_by_role("link", name="Hub", exact=True).click()
    page.wait_for_url(f"{portal.url}/hub")
    rows = weights_rows(page)
    assert [r.split("\n")[0].strip() for r in rows] == [
        "particlenet jetclass-1",
        "pfn 2.0-private private",
        "pfn 1.0",
    ]
    weights = page.get_by_role("region", name="Weights")
    pfn = weights.get_by_role("row").filter(has=page.get_by_role("rowheader", name="pfn 1.0"))
    text = pfn.inner_text()
    for shown in ("auc 0.9812", "accuracy 0.93", "top-landscape 2019", "MIT", "A. Physicist"):
        assert shown in text
    assert hashlib.sha256(FILES["pfn-1"]).hexdigest() in text
    # the download link is the file pushed, opened with the session cookie
    link = page.get_by_role("link", name="Download pfn 1.0")
    answer = page.request.get(f"{portal.url}{link.get_attribute('href')}")
    assert answer.ok and answer.body() == FILES["pfn-1"]

    architectures = page.get_by_role("region", name="Architectures")
    names = [h.inner_text() for h in architectures.get_by_role("rowheader").all()]
    assert names == ["part", "particlenet", "pcnn", "pfn", "tiny-tagger"]

    dataset = page.get_by_role("article", name="top-landscape version 2019")
    card = dataset.inner_text()
    for shown in ("CC-BY-4.0", "Kasieczka", "train: 1200000 jets", "h5", "Boosted top"):
        assert shown in card
    files = dataset.get_by_role("table", name="Files of top-landscape 2019")
    assert files.get_by_role("row").count() == 3
    assert "a" * 64 in files.inner_text() and "public/top/test.h5" in files.inner_text()
    shot(page, "hub")


def test_the_search_narrows_the_hub_on_the_server(
    portal: Platform, page: Any, private_pushed: None
) -> None:
    sign_in(page, portal, "alice")
    page.goto(f"{portal.url}/hub")
    search = page.get_by_label("Search the hub")
    status = page.get_by_role("status", name="Search result")

    search.fill("huilin")  # an author, in another case
    status.filter(has_text="“huilin”").wait_for()
    assert "?q=huilin" in page.url  # the search is in the address: it can be shared
    assert [r.split("\n")[0].strip() for r in weights_rows(page)] == ["particlenet jetclass-1"]
    assert page.get_by_role("region", name="Datasets").inner_text().endswith("No dataset matches.")
    shot(page, "hub-search")

    search.fill("KASIECZKA")  # the dataset's citation
    status.filter(has_text="“KASIECZKA”").wait_for()
    assert weights_rows(page) == []
    assert page.get_by_role("article", name="top-landscape version 2019").is_visible()

    search.fill("small tagger")  # an architecture's description
    status.filter(has_text="“small tagger”").wait_for()
    architectures = page.get_by_role("region", name="Architectures")
    assert [h.inner_text() for h in architectures.get_by_role("rowheader").all()] == ["tiny-tagger"]

    search.fill("%")  # a wildcard is a plain character
    status.filter(has_text="“%”").wait_for()
    assert "architectures 0, weights 0, datasets 0" in status.inner_text()

    # without JavaScript's help: the address alone gives the same page
    page.goto(f"{portal.url}/hub?q=Physicist")
    assert [r.split("\n")[0].strip() for r in weights_rows(page)] == ["pfn 1.0"]
    assert page.get_by_label("Search the hub").input_value() == "Physicist"


def test_private_weights_stay_their_owners(
    portal: Platform, page: Any, private_pushed: None
) -> None:
    sign_in(page, portal, "bob")
    page.goto(f"{portal.url}/hub")
    rows = [r.split("\n")[0].strip() for r in weights_rows(page)]
    assert rows == ["particlenet jetclass-1", "pfn 1.0"]
    assert "2.0-private" not in page.content()
    page.goto(f"{portal.url}/hub?q=private")
    assert weights_rows(page) == []
    cookie = next(c for c in page.context.cookies() if c["name"] == "hai_session")
    with httpx.Client(base_url=portal.url, cookies={"hai_session": cookie["value"]}) as h:
        assert h.get("/api/hub/weights/pfn/2.0-private/file").status_code == 404
        assert [w["version"] for w in h.get("/api/hub/weights").json()] == ["1.0", "jetclass-1"]
    with portal.http(_key_of(portal, "bob")) as h:
        assert h.get("/api/hub/weights/pfn/2.0-private").status_code == 404
