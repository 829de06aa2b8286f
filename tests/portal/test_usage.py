"""The usage page in a real browser, from real usage: calls through a real worker, a real job,
the real collector. The charts draw what /api/usage/daily and /monthly say, the statement
table and its CSV are the API's statement, and no user sees another's usage."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_MODELS
from tests.portal.conftest import add_user, shot, sign_in
from tests.support.processes import Platform, wait_until

TODAY = datetime.now(UTC).date().isoformat()
MONTH = TODAY[:7]


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """alice (cms) made 5 calls (one failed, one chat with tokens) and a 2 s job for cms; bob
    (atlas) made 2 calls. CPU and model calls are priced; the ledger is collected."""
    p = Platform(
        tmp_path_factory.mktemp("usage") / "home",
        HAI_DEMO_WORKERS="false",
        HAI_SCHEDULER_INTERVAL="0.2",
    )
    p.start()
    try:
        add_user(p, "alice", groups=("cms",))
        add_user(p, "bob", groups=("atlas",))
        add_user(p, "root", role="admin")
        p.start_worker(TEST_MODELS + ":Lab")
        with p.http() as h:
            for resource, price in (("cpu", "100"), ("model:calls", "0.01")):
                assert h.put(f"/api/prices/{resource}", json={"price": price}).status_code == 200
            keys = {
                u: h.post("/api/keys", json={"user": u}).json()["key"] for u in ("alice", "bob")
            }
        with p.http(keys["alice"]) as h:
            for i in range(3):
                assert h.post("/v1/models/lab/add", json={"a": i, "b": 1}).status_code == 200
            assert h.post("/v1/models/lab/fail", json={}).status_code == 500
            chat = {"model": "lab", "messages": [{"role": "user", "content": "b tagging works"}]}
            assert h.post("/v1/chat/completions", json=chat).status_code == 200
            job = h.post("/api/jobs", json={"command": ["sleep", "2"], "account": "cms", "cpus": 1})
            assert job.status_code == 201, job.text
        with p.http(keys["bob"]) as h:
            for _ in range(2):
                assert h.post("/v1/models/lab/add", json={"a": 1, "b": 1}).status_code == 200
        with p.http() as h:
            job_id = job.json()["id"]
            wait_until(
                lambda: h.get(f"/api/jobs/{job_id}").json()["state"] == "completed", 60, "the job"
            )
            # the usage writer flushes every 0.5 s: wait for every call, then collect
            wait_until(
                lambda: sum(r["calls"] for r in h.get("/api/usage/daily").json()) == 7, 10, "usage"
            )
            assert h.post("/api/usage/collect").status_code == 200
        yield p
    finally:
        p.stop()


def cookie_client(p: Platform, page: Any) -> httpx.Client:
    cookie = next(c for c in page.context.cookies() if c["name"] == "hai_session")
    return httpx.Client(base_url=p.url, cookies={"hai_session": cookie["value"]})


def chart(page: Any, name: str) -> Any:
    """A chart, once its script has drawn it (or said why not)."""
    found = page.get_by_role("img", name=name)
    found.and_(page.locator("[data-state]")).wait_for()
    return found


def api_statement(p: Platform, page: Any, **params: str) -> dict[str, Any]:
    with cookie_client(p, page) as h:
        r = h.get("/api/usage/statements", params={"period": MONTH, **params})
        assert r.status_code == 200, r.text
        return dict(r.json())


def statement_rows(page: Any) -> list[list[str]]:
    table = page.get_by_role("table", name="Statement lines")
    rows = table.locator("tbody").get_by_role("row").all()
    return [[c.inner_text().strip() for c in r.get_by_role("cell").all()] for r in rows]


def downloaded_csv(page: Any) -> list[dict[str, str]]:
    with page.expect_download() as info:
        page.get_by_role("button", name="Download the statement as CSV").click()
    download = info.value
    assert download.suggested_filename.startswith(f"statement-{MONTH}")
    return list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))


def test_the_charts_are_drawn_from_real_usage(portal: Platform, page: Any) -> None:
    sign_in(page, portal, "alice")
    page.get_by_role("link", name="Usage", exact=True).click()
    page.wait_for_url(f"{portal.url}/usage")
    calls = chart(page, "Chart: calls per day and model")
    assert calls.get_attribute("data-state") == "drawn"
    assert calls.locator("canvas").count() == 1
    assert calls.get_attribute("data-series") == "lab" and calls.get_attribute("data-total") == "5"
    # the chart's data endpoint has the numbers of the calls made
    with cookie_client(portal, page) as h:
        rows = h.get(str(calls.get_attribute("data-source"))).json()
        summary = h.get("/api/usage", params={"model": "lab"}).json()
    assert [(r["day"], r["model"], r["calls"], r["errors"]) for r in rows] == [(TODAY, "lab", 5, 1)]
    tokens = sum(r["prompt_tokens"] + r["completion_tokens"] for r in summary)
    assert tokens > 0
    tokens_chart = chart(page, "Chart: tokens per day and model")
    assert tokens_chart.get_attribute("data-total") == str(tokens)
    hours = chart(page, "Chart: card- and CPU-hours per month")
    assert (
        hours.get_attribute("data-state") == "drawn" and hours.get_attribute("data-series") == "cpu"
    )
    assert hours.locator("canvas").count() == 1

    # the same numbers in the table under the chart
    page.get_by_text("Calls per day as a table").click()
    table = page.get_by_role("table", name="Model calls per day")
    cells = [c.inner_text() for c in table.locator("tbody tr").first.get_by_role("cell").all()]
    assert cells[:4] == [TODAY, "lab", "5", "1"]
    page.get_by_text("Hours per month as a table").click()
    with cookie_client(portal, page) as h:
        hours_rows = h.get(str(hours.get_attribute("data-source"))).json()
    table = page.get_by_role("table", name="Card- and CPU-hours per month")
    assert [
        [c.inner_text() for c in row.get_by_role("cell").all()]
        for row in table.locator("tbody tr").all()
    ] == [[r["period"], r["resource"], r["quantity"]] for r in hours_rows]
    assert [r["resource"] for r in hours_rows] == ["cpu"]
    shot(page, "usage")


def test_a_statement_table_and_its_csv_are_the_apis_statement(portal: Platform, page: Any) -> None:
    sign_in(page, portal, "alice")
    page.goto(f"{portal.url}/usage")
    mine = api_statement(portal, page)
    assert {line["resource"] for line in mine["lines"]} == {
        "cpu",
        "model:lab:calls",
        "model:lab:tokens",
    }
    expected = [
        [line["account"] or "—", line["resource"], line["quantity"], line["charge"]]
        for line in mine["lines"]
    ]
    shown = statement_rows(page)
    assert [[r[0], r[1], r[2], r[7].split()[0]] for r in shown] == expected
    calls_line = next(r for r in shown if r[1] == "model:lab:calls")
    assert calls_line[2] == "4" and calls_line[7] == "0.04 CNY"  # the failed call is not billed
    page_total = page.get_by_role("table", name="Statement lines").locator("tfoot").inner_text()
    assert f"{mine['totals']['CNY']} CNY" in page_total

    rows = downloaded_csv(page)
    lines = [r for r in rows if r["resource"] != "total"]
    assert [(r["account"], r["resource"], r["quantity"], r["charge"]) for r in lines] == [
        (line["account"] or "", line["resource"], line["quantity"], line["charge"])
        for line in mine["lines"]
    ]
    assert [r["charge"] for r in rows if r["resource"] == "total"] == [mine["totals"]["CNY"]]

    # the group view: cms's statement, its credit rule, its CSV
    page.get_by_label("Whose", exact=True).select_option("cms")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/usage?*account=cms*")
    group = api_statement(portal, page, account="cms")
    assert group["credit_applied"] is True
    assert [[r[0], r[1], r[2]] for r in statement_rows(page)] == [
        [line["account"], line["resource"], line["quantity"]] for line in group["lines"]
    ]
    assert page.get_by_role("heading", level=1).inner_text().endswith("group cms")
    assert page.get_by_role("img", name="Chart: calls per day and model").count() == 0
    assert chart(page, "Chart: card- and CPU-hours per month").get_attribute("data-series") == "cpu"
    group_csv = downloaded_csv(page)
    assert [(r["account"], r["resource"]) for r in group_csv] == [
        ("cms", "cpu"),
        ("", "total"),
    ]
    shot(page, "usage-group")


def test_a_user_never_sees_another_users_usage(portal: Platform, page: Any) -> None:
    sign_in(page, portal, "bob")
    page.goto(f"{portal.url}/usage")
    calls = chart(page, "Chart: calls per day and model")
    assert calls.get_attribute("data-total") == "2"  # his own two calls, not alice's five
    assert (
        chart(page, "Chart: card- and CPU-hours per month").get_attribute("data-state") == "empty"
    )
    assert "cms" not in page.get_by_label("Whose", exact=True).inner_text()  # only his own groups
    assert all(r[0] != "cms" for r in statement_rows(page))
    shot(page, "usage-bob")

    answer = page.goto(f"{portal.url}/usage?account=cms")
    assert answer is not None and answer.status == 403
    assert page.get_by_role("alert").inner_text() == "You are not a member of 'cms'; ask an admin."
    assert page.get_by_role("table", name="Statement lines").count() == 0
    shot(page, "usage-refused")
    answer = page.goto(f"{portal.url}/usage?user=alice")
    assert answer is not None and answer.status == 403
    assert page.get_by_role("alert").inner_text() == "Only admins may read other users' usage."
    with cookie_client(portal, page) as h:
        assert h.get("/usage/statement.csv", params={"account": "cms"}).status_code == 403
        assert h.get("/usage/statement.csv", params={"user": "alice"}).status_code == 403
        assert h.get("/api/usage/daily", params={"user": "alice"}).status_code == 403
        assert h.get("/api/usage/monthly", params={"account": "cms"}).status_code == 403
        assert h.get("/api/usage/statements", params={"account": "cms"}).status_code == 403
        own = h.get("/usage/statement.csv")
        assert own.status_code == 200 and own.headers["content-type"].startswith("text/csv")
        assert "cpu" not in own.text and "model:lab:calls" in own.text


def test_admins_read_anyones_usage_and_the_platforms(portal: Platform, page: Any) -> None:
    sign_in(page, portal, "root")
    page.goto(f"{portal.url}/usage")
    assert page.get_by_label("User", exact=True).input_value() == "root"  # their own, first
    assert chart(page, "Chart: calls per day and model").get_attribute("data-state") == "empty"

    page.get_by_label("User", exact=True).fill("alice")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**user=alice*")
    assert chart(page, "Chart: calls per day and model").get_attribute("data-total") == "5"

    page.get_by_label("User", exact=True).fill("")
    page.get_by_label("Group", exact=True).fill("")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**user=&account=*")
    assert chart(page, "Chart: calls per day and model").get_attribute("data-total") == "7"
    platform = api_statement(portal, page)  # an admin without user or account: everything
    assert [r[1] for r in statement_rows(page)] == [line["resource"] for line in platform["lines"]]
    assert page.get_by_role("heading", level=1).inner_text().endswith("everyone")
    shot(page, "usage-admin-everyone")

    page.get_by_label("User", exact=True).fill("nobody")
    page.get_by_role("button", name="Show").click()
    assert "no user named 'nobody'" in page.get_by_role("alert").inner_text()
    answer = page.goto(f"{portal.url}/usage?period=2025-13")
    assert answer is not None and answer.status == 400
    assert "write a month as YYYY-MM" in page.get_by_role("alert").inner_text()
