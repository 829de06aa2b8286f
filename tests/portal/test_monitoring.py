"""The monitoring page in a real browser against a real server, a real worker and real calls:
the charts are drawn from the samples the monitor wrote, and the alerts show a killed worker
and a home over 90 % of its quota; users who are not admins get neither page nor data."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_MODELS
from tests.portal.conftest import add_user, shot, sign_in
from tests.support.processes import Platform, Proc, wait_until


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, Proc]]:
    p = Platform(
        tmp_path_factory.mktemp("monitoring") / "home",
        HAI_MONITOR_INTERVAL="0.5",
        HAI_MONITOR_HOMES_INTERVAL="1",
        HAI_PORTAL_LOGIN_ATTEMPTS="1000",
    ).start()
    try:
        add_user(p, "alice")
        add_user(p, "root", role="admin")
        worker = p.start_worker(TEST_MODELS + ":Lab")
        with p.http() as h:
            for i in range(20):
                assert h.post("/v1/models/lab/add", json={"a": i, "b": 1}).status_code == 200
            assert h.post("/v1/models/lab/nope", json={}).status_code == 404  # a refusal
        yield p, worker
    finally:
        p.stop()


def _series(page: Any, url: str) -> dict[str, Any]:
    r = page.request.get(f"{url}/admin/monitoring/series.json?hours=1")
    assert r.status == 200, r.text()
    data: dict[str, Any] = r.json()
    return data


def test_the_charts_are_drawn_from_real_samples(site: tuple[Platform, Proc], page: Any) -> None:
    p, _worker = site
    sign_in(page, p, "root")

    def sampled() -> bool:
        data = _series(page, p.url)
        return bool(data["cluster"]["t"]) and sum(data["gateway"]["calls"]) > 0

    wait_until(sampled, 30, "samples of the calls")
    data = _series(page, p.url)
    cluster, gateway = data["cluster"], data["gateway"]
    assert set(cluster["partitions"]) >= {"", "cpu"}
    assert len(cluster["partitions"]["cpu"]["util"]) == len(cluster["t"])
    assert max(gateway["refused"]) > 0  # the unknown method's 404
    assert any(ms is not None and ms > 0 for ms in gateway["mean_ms"])

    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{p.url}/admin/monitoring?hours=1")
    try:
        page.locator("#charts[data-loaded=true]").wait_for()
    finally:
        assert errors == []  # no script error, nothing the CSP refused
    for title in (
        "Card utilisation by partition",
        "Queue: jobs pending by partition",
        "Model calls per second",
        "Errors, in % of calls",
        "Latency of model calls (ms)",
    ):
        figure = page.get_by_role("figure").filter(has_text=title)
        assert figure.locator("canvas").count() == 1, title
        assert figure.get_by_role("img", name=re.compile(re.escape(title))).is_visible()
    calls = page.get_by_role("img", name=re.compile("Model calls per second"))
    assert re.search(r"latest: calls/s [0-9.]+", calls.get_attribute("aria-label") or "") or (
        "latest: calls/s" in page.locator("#chart-calls-summary").inner_text()
    )
    assert page.get_by_role("link", name="last 1 hour").get_attribute("aria-current") == "true"
    now = page.get_by_role("region", name="The cluster now")
    assert "this one" in now.inner_text()  # one replica: it holds the monitor's lease
    shot(page, "monitoring")


def test_a_killed_worker_and_a_home_over_90_percent_are_alerts(
    site: tuple[Platform, Proc], page: Any
) -> None:
    p, worker = site
    with p.http() as h:
        assert h.put("/api/files/quota/alice", json={"max_bytes": 2**20}).status_code == 200
        r = h.put("/api/files/quota/alice", json={"max_files": 100})
        assert r.status_code == 200
    with p.http(p.add_user_key("carol")) as h:  # someone else's home stays quiet
        assert h.put("/api/files/home/small.txt", content=b"x").status_code in (200, 201)
    alice = _key(p, "alice")
    with p.http(alice) as h:
        r = h.put("/api/files/home/run/events.h5", content=b"x" * 980_000)
        assert r.status_code in (200, 201), r.text
    worker.stop(signal.SIGKILL)

    sign_in(page, p, "root")
    alerts = page.get_by_role("region", name="Alerts")

    def both() -> bool:
        page.goto(f"{p.url}/admin/monitoring")
        text = alerts.inner_text()
        return "Model lab has no live worker" in text and "The home of alice is at 93 %" in text

    wait_until(both, 40, "both alerts", interval=0.5)
    worker_alert = alerts.get_by_role("article", name=re.compile("Model lab has no live worker"))
    assert "Critical" in (worker_alert.text_content() or "")
    assert "hai worker TARGET --name lab" in worker_alert.inner_text()
    home = alerts.get_by_role("article", name=re.compile("The home of alice"))
    assert "957 KiB of 1 MiB" in home.inner_text() and "What to do:" in home.inner_text()
    assert "carol" not in alerts.inner_text()
    shot(page, "monitoring-alerts")

    # The alerts refresh themselves (htmx): a worker that comes back clears its alert.
    p.start_worker(TEST_MODELS + ":Lab")
    wait_until(
        lambda: "Model lab has no live worker" not in alerts.inner_text(),
        60,
        "the alert to clear",
        interval=1,
    )


def _key(p: Platform, user: str) -> str:
    with p.http() as h:
        r = h.post("/api/keys", json={"user": user})
        assert r.status_code == 201, r.text
        key: str = r.json()["key"]
        return key


def test_users_get_neither_the_page_nor_its_data(site: tuple[Platform, Proc], page: Any) -> None:
    p, _ = site
    sign_in(page, p, "alice")
    assert page.goto(f"{p.url}/admin/monitoring").status == 403
    assert "This page is for admins." in page.content()
    assert page.request.get(f"{p.url}/admin/monitoring/series.json").status == 403
    assert page.request.get(f"{p.url}/admin/monitoring/alerts").status == 403
    assert page.get_by_role("link", name="Monitoring").count() == 0  # not in her menu
    # Not signed in: the sign-in page, never the data.
    r = httpx.get(f"{p.url}/admin/monitoring/series.json", follow_redirects=False)
    assert r.status_code == 303 and "/login" in r.headers["location"]
