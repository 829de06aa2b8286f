"""The dashboard in a real browser against a real server on the local backend: the cluster's
totals and what is free (the monitor's snapshot of the capacity model, with a running job),
my jobs with their reasons, my quota bar, my charges and my group's credit, announcements —
and that user A never sees user B's jobs, and that only admins post announcements."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.portal.conftest import add_user, shot, sign_in
from tests.support.processes import Platform, wait_until

MACHINE = {
    "HAI_LOCAL_CPUS": "8",
    "HAI_LOCAL_MEM_MB": "16384",
    "HAI_ACCELERATORS": "gpu:a800:0,1,2,3;dcu:k100ai:0,1",
    "HAI_MONITOR_INTERVAL": "0.5",
    "HAI_PORTAL_LOGIN_ATTEMPTS": "1000",
}


@dataclass
class Site:
    p: Platform
    alice: str  # API keys
    bob: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    p = Platform(tmp_path_factory.mktemp("dashboard") / "home", **MACHINE).start()
    try:
        add_user(p, "alice", groups=("cms",))
        add_user(p, "bob", groups=("atlas",))
        add_user(p, "root", role="admin")
        with p.http() as h:
            keys = [h.post("/api/keys", json={"user": u}).json()["key"] for u in ("alice", "bob")]
        yield Site(p, *keys)
    finally:
        p.stop()


def _submit(site: Site, key: str, **job: Any) -> dict[str, Any]:
    with site.p.http(key) as h:
        r = h.post("/api/jobs", json=job)
        assert r.status_code == 201, r.text
        made: dict[str, Any] = r.json()
        return made


def _job(site: Site, key: str, job_id: int) -> dict[str, Any]:
    with site.p.http(key) as h:
        found: dict[str, Any] = h.get(f"/api/jobs/{job_id}").json()
        return found


def _reload_until(page: Any, url: str, check: Any, what: str) -> None:
    def ready() -> bool:
        page.goto(url)
        return bool(check())

    wait_until(ready, 30, what, interval=0.5)


def test_the_cluster_totals_and_free_cards_follow_a_running_job(site: Site, page: Any) -> None:
    running = _submit(
        site,
        site.alice,
        name="train-tagger",
        command=["sleep", "300"],
        partition="gpu",
        gpus="a800:2",
        cpus=2,
        mem="2G",
    )
    wait_until(lambda: _job(site, site.alice, running["id"])["state"] == "running", 30, "running")
    # Needs every a800 card while two are held: it waits, and says why.
    waiting = _submit(
        site, site.alice, name="big-one", command=["true"], partition="gpu", gpus="a800:4"
    )
    sign_in(page, site.p, "alice")
    cards = page.get_by_role("article", name="GPU cards")
    _reload_until(
        page, f"{site.p.url}/", lambda: cards.inner_text().startswith("2 / 4"), "2 free cards"
    )
    assert cards.inner_text().endswith("GPU cards free")
    assert page.get_by_role("article", name="DCU cards").inner_text().startswith("2 / 2")
    assert page.get_by_role("article", name="CPU cores").inner_text().startswith("6 / 8")
    assert page.get_by_role("article", name="Memory").inner_text().startswith("14 GiB / 16 GiB")
    summary = page.locator(".cluster-summary").inner_text()
    assert "4 GPU cards · 2 DCU cards · 8 CPU cores · 16 GiB memory · 1 node" in summary

    table = page.get_by_role("table").filter(has_text="Cards free")
    gpu = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name="gpu"))
    cells = gpu.get_by_role("cell").all_inner_texts()
    assert cells[0] == "2 of 4 gpu:a800"
    assert cells[1:] == ["6 of 8", "14 GiB of 16 GiB", "1", "1", "1"]  # 1 pending, 1 running
    cpu = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name="cpu"))
    assert cpu.get_by_role("cell").all_inner_texts()[:2] == ["—", "6 of 8"]

    mine = page.get_by_role("region", name="My jobs")
    assert "1 running · 1 pending" in mine.inner_text()
    link = mine.get_by_role("link", name=f"#{running['id']} train-tagger")
    assert link.get_attribute("href") == f"/jobs/{running['id']}"
    row = mine.get_by_role("row").filter(has=page.get_by_role("link", name=f"#{waiting['id']} "))
    assert "waiting for resources (Resources)" in row.inner_text()
    assert "pending" in row.inner_text()
    shot(page, "dashboard")

    # Bob sees the same cluster, none of Alice's jobs — in the page and through the API.
    other = page.context.browser.new_context()
    try:
        bobs = other.new_page()
        sign_in(bobs, site.p, "bob")
        assert "0 running · 0 pending" in bobs.get_by_role("region", name="My jobs").inner_text()
        assert "train-tagger" not in bobs.content()
        assert bobs.get_by_role("article", name="GPU cards").inner_text().startswith("2 / 4")
    finally:
        other.close()
    with site.p.http(site.bob) as h:
        assert h.get(f"/api/jobs/{running['id']}").status_code == 404
        assert h.get("/api/jobs").json() == []

    for job in (running, waiting):
        with site.p.http(site.alice) as h:
            assert h.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    _reload_until(
        page,
        f"{site.p.url}/",
        lambda: cards.inner_text().startswith("4 / 4"),
        "the cards to be free again",
    )


def test_my_quota_bar_shows_what_my_home_holds(site: Site, page: Any) -> None:
    with site.p.http() as h:
        assert h.put("/api/files/quota/bob", json={"max_bytes": 10 * 2**20}).status_code == 200
    with site.p.http(site.bob) as h:
        r = h.put("/api/files/home/data/events.bin", content=b"x" * (3 * 2**20))
        assert r.status_code in (200, 201), r.text
    sign_in(page, site.p, "bob")
    storage = page.get_by_role("meter", name="Storage")
    assert storage.get_attribute("aria-valuetext") == "3 MiB of 10 MiB"
    region = page.get_by_role("region", name="My storage")
    assert "3 MiB of 10 MiB (30 %)" in region.inner_text()
    files = page.get_by_role("meter", name="Files")
    assert files.get_attribute("aria-valuetext") == "1 of 300000 files"
    shot(page, "dashboard-bob")


def test_my_charges_this_month_and_my_groups_credit(site: Site, page: Any) -> None:
    with site.p.http() as h:
        assert h.put("/api/prices/cpu", json={"price": "3600", "unit": "hour"}).status_code == 200
        month = datetime.now(UTC).strftime("%Y-%m")
        r = h.post(
            "/api/contributions",
            json={"account": "cms", "resource": "cpu", "hours_per_month": 10, "since": month},
        )
        assert r.status_code == 201, r.text
    job = _submit(site, site.alice, command=["sleep", "1"], cpus=2, account="cms")
    wait_until(lambda: _job(site, site.alice, job["id"])["state"] == "completed", 30, "the job")
    with site.p.http() as h:
        assert h.post("/api/usage/collect").status_code == 200
    with site.p.http(site.alice) as h:
        expected = h.get("/api/usage/statements").json()
    total = expected["totals"]["CNY"]
    assert float(total) > 0
    sign_in(page, site.p, "alice")
    charges = page.get_by_role("region", name=re.compile("My charges in"))
    assert f"{total} CNY" in charges.inner_text()
    line = charges.get_by_role("row").filter(has_text="cpu").first
    assert "cms" in line.inner_text() and "CNY" in line.inner_text()
    assert charges.get_by_role("heading", name="Credit of group cms").is_visible()
    credit = charges.get_by_role("meter", name="Credit of cms used for cpu")
    assert credit.get_attribute("aria-valuenow") == "0"  # a few seconds of 10 hours
    assert "10.0 h" in charges.inner_text()
    shot(page, "dashboard-charges")
    # Bob (atlas) has neither Alice's charges nor cms's credit.
    with site.p.http(site.bob) as h:
        assert h.get("/api/usage/statements").json()["lines"] == []
        assert h.get("/api/usage/statements", params={"account": "cms"}).status_code == 403


def test_an_announcement_posted_by_an_admin_shows_on_every_dashboard(
    site: Site, page: Any, browser: Any
) -> None:
    sign_in(page, site.p, "root")
    page.goto(f"{site.p.url}/admin/announcements")
    page.get_by_role("button", name="Post").click()  # no title: the browser asks for one
    assert page.get_by_label("Title").evaluate("e => e.validity.valueMissing")
    page.get_by_label("Title").fill("Maintenance on Friday")
    page.get_by_label("Text (optional)").fill("The gpu partition is drained from 08:00 UTC.")
    page.get_by_label("Level").select_option("warning")
    until = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Show until (UTC, optional)").fill(until)
    page.get_by_role("button", name="Post").click()
    assert "on everyone's dashboard" in page.get_by_role("status").inner_text()
    assert page.get_by_role("cell", name=re.compile("^Maintenance on Friday")).is_visible()
    shot(page, "announcements")

    ctx = browser.new_context()
    try:
        user = ctx.new_page()
        sign_in(user, site.p, "bob")
        notice = user.get_by_role("article", name=re.compile("Maintenance on Friday"))
        assert "drained from 08:00 UTC" in notice.inner_text()
        assert "Important" in notice.inner_text()
        # Bob may not open the editor, nor post with his own valid CSRF token...
        assert user.goto(f"{site.p.url}/admin/announcements").status == 403
        user.goto(f"{site.p.url}/")
        token = user.evaluate("document.body.dataset.csrf")
        cookie = next(c for c in ctx.cookies() if c["name"] == "hai_session")
        jar = {"hai_session": cookie["value"]}
        with httpx.Client(base_url=site.p.url, cookies=jar) as h:
            own = h.post("/admin/announcements", data={"title": "Free GPUs!", "csrf_token": token})
            assert own.status_code == 403
            assert "Only admins may write or remove announcements." in own.text
        # ...and a page elsewhere cannot make the admin's browser post one (no CSRF token).
        admin_cookie = next(c for c in page.context.cookies() if c["name"] == "hai_session")
        with httpx.Client(base_url=site.p.url, cookies={"hai_session": admin_cookie["value"]}) as h:
            forged = h.post("/admin/announcements", data={"title": "Forged"})
            assert forged.status_code == 403
            assert h.post("/admin/announcements/1/remove").status_code == 403
        user.goto(f"{site.p.url}/")
        assert "Free GPUs!" not in user.content() and "Forged" not in user.content()
        shot(user, "dashboard-announcement")
    finally:
        ctx.close()

    # A past end is refused with the service's words; removing takes it off the dashboards.
    page.get_by_label("Title").fill("Old news")
    page.get_by_label("Show until (UTC, optional)").fill("2020-01-01T00:00")
    page.get_by_role("button", name="Post").click()
    assert "already past" in page.get_by_role("alert").inner_text()
    page.get_by_role("button", name="Remove Maintenance on Friday").click()
    assert "removed" in page.get_by_role("status").inner_text()
    page.goto(f"{site.p.url}/")
    assert page.get_by_role("article", name=re.compile("Maintenance")).count() == 0
