"""Billing through a real server: admins set prices and credit, users read their statements."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from hakutaku.accounting.periods import current_period, next_period
from hakutaku.cli.billing import contributions, prices
from hakutaku.cli.usage import usage
from hakutaku.db.models import Job
from hakutaku.db.session import Database
from hakutaku.identity.service import get_user
from tests.support.processes import Platform


def add_finished_job(db: Database, user: str, account: str, cpus: int, cards: int) -> None:
    """A job as the scheduler leaves it, 1.5 h long, ended just now (this month)."""
    ended = datetime.now(UTC) - timedelta(seconds=1)
    with db.session() as s:
        s.add(
            Job(
                user_id=get_user(s, user).id,
                account=account,
                partition="gpunormal",
                qos="normal",
                cpus=cpus,
                accelerator="gpu" if cards else "cpu",
                accelerator_model="a800" if cards else None,
                accelerators=cards,
                time_limit=7200,
                backend="local",
                state="completed",
                started_at=ended - timedelta(hours=1.5),
                ended_at=ended,
            )
        )


def test_prices_contributions_and_statements_over_http(platform: Platform) -> None:
    alice_key = platform.add_user_key("alice", ("cms",))
    carol_key = platform.add_user_key("carol", ("atlas",))
    period = current_period()
    next_month = next_period(period)
    with platform.http() as admin, platform.http(alice_key) as alice:
        for resource, price in (("gpu:a800", "7.5"), ("cpu", "0.05")):
            r = admin.put(f"/api/prices/{resource}", json={"price": price})
            assert r.status_code == 200, r.text
        assert r.json() == {
            "resource": "cpu",
            "since": period,
            "unit": "hour",
            "price": "0.05",
            "currency": "CNY",
            "description": "",
        }
        refused = alice.put("/api/prices/gpu:a800", json={"price": "0.01"})
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["type"] == "permission_error"
        assert {p["resource"]: p["price"] for p in alice.get("/api/prices").json()}[
            "gpu:a800"
        ] == "7.5"
        bad = admin.put("/api/prices/gpu:a800", json={"price": "7", "unit": "call"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "unit"

        credit = {"account": "cms", "resource": "gpu:a800", "hours_per_month": 2, "since": period}
        assert alice.post("/api/contributions", json=credit).status_code == 403
        r = admin.post("/api/contributions", json=credit)
        assert r.status_code == 201, r.text
        assert (
            admin.post("/api/contributions", json={**credit, "account": "atlas"}).status_code == 201
        )
        assert [c["account"] for c in alice.get("/api/contributions").json()] == ["cms"]
        # a price set from next month on leaves this month's alone
        upcoming = admin.put("/api/prices/gpu:a800", json={"price": "9", "since": next_month})
        assert upcoming.status_code == 200 and upcoming.json()["since"] == next_month
        now = {p["resource"]: p["price"] for p in alice.get("/api/prices").json()}
        later = alice.get("/api/prices", params={"period": next_month}).json()
        assert now["gpu:a800"] == "7.5"
        assert {p["resource"]: p["price"] for p in later}["gpu:a800"] == "9"
        history = alice.get("/api/prices", params={"history": "true"}).json()
        assert [p["since"] for p in history if p["resource"] == "gpu:a800"] == [
            "0001-01",  # the shipped example table, from the start
            period,
            next_month,
        ]
        bad_month = admin.put("/api/prices/cpu", json={"price": "1", "since": "2026-13"})
        assert bad_month.status_code == 400 and bad_month.json()["error"]["param"] == "since"
        bad_period = alice.get("/api/prices", params={"period": "2026-1"})
        assert bad_period.status_code == 400 and bad_period.json()["error"]["param"] == "period"
        gone = admin.delete("/api/prices/gpu:h20")
        assert gone.status_code == 404 and "no price for 'gpu:h20'" in gone.text

        db = Database(f"sqlite:///{platform.home / 'hakutaku.db'}")
        try:
            add_finished_job(db, "alice", "cms", cpus=4, cards=2)  # 6 core-h, 3 card-h
            add_finished_job(db, "carol", "atlas", cpus=2, cards=0)  # 3 core-h
        finally:
            db.dispose()
        assert alice.post("/api/usage/collect").status_code == 403
        collected = admin.post("/api/usage/collect")
        assert collected.status_code == 200, collected.text
        assert collected.json()["jobs"] == 2

        mine = alice.get("/api/usage/statements", params={"period": period})
        assert mine.status_code == 200, mine.text
        body = mine.json()
        assert (body["user"], body["credit_applied"]) == ("alice", False)
        assert [(line["resource"], line["quantity"], line["charge"]) for line in body["lines"]] == [
            ("cpu", "6", "0.30"),
            ("gpu:a800", "3", "22.50"),
        ]
        assert body["totals"] == {"CNY": "22.80"}

        group = alice.get("/api/usage/statements", params={"account": "cms"}).json()
        a800 = next(line for line in group["lines"] if line["resource"] == "gpu:a800")
        assert (a800["credit"], a800["billable"], a800["charge"]) == ("2", "1", "7.50")
        assert group["totals"] == {"CNY": "7.80"}

        assert alice.get("/api/usage/statements", params={"account": "atlas"}).status_code == 403
        assert alice.get("/api/usage/statements", params={"user": "carol"}).status_code == 403
        assert alice.get("/api/usage/statements", params={"period": "2025-3"}).status_code == 400
        carol = admin.get("/api/usage/statements", params={"user": "carol"}).json()
        assert carol["totals"] == {"CNY": "0.15"}
        everyone = admin.get("/api/usage/statements").json()
        assert everyone["totals"] == {"CNY": "7.95"}  # cms 7.80 + atlas 0.15 (no atlas a800)

        # cms's hardware is withdrawn: ending the contribution keeps this month's credit
        contribution = alice.get("/api/contributions").json()[0]["id"]
        early = admin.post(f"/api/contributions/{contribution}/end", json={"until": "2020-01"})
        assert early.status_code == 400 and "remove it instead" in early.text
        for missing in (
            admin.post("/api/contributions/9999/end"),
            admin.delete("/api/contributions/9999"),
        ):
            assert missing.status_code == 404 and "no contribution" in missing.text
        assert admin.post(f"/api/contributions/{contribution}/end").status_code == 200
        ended = admin.post(f"/api/contributions/{contribution}/end")  # again: nothing changes
        assert ended.status_code == 200 and ended.json()["until"] == period
        again = alice.get("/api/usage/statements", params={"account": "cms"}).json()
        assert again["totals"] == {"CNY": "7.80"}

        rows = alice.get("/api/usage/ledger").json()
        assert {(r["user"], r["resource"], r["quantity"]) for r in rows} == {
            ("alice", "cpu", "6"),
            ("alice", "gpu:a800", "3"),
        }

    # The CLI, as a user would run it.
    runner = CliRunner()
    env = {"HAI_URL": platform.url, "HAI_API_KEY": carol_key, "HAI_HOME": str(platform.home)}
    result = runner.invoke(usage, ["statement", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"] == {"CNY": "0.15"}
    result = runner.invoke(usage, ["statement"], env=env)
    assert result.exit_code == 0 and "total: 0.15 CNY" in result.stdout, result.output
    result = runner.invoke(prices, ["set", "cpu", "0.01"], env=env)
    assert result.exit_code == 1 and "admin" in result.output
    admin_env = {**env, "HAI_API_KEY": platform.admin_key}
    result = runner.invoke(prices, ["remove", "cpu"], env=admin_env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        contributions, ["end", str(contribution), "--until", "2020-01"], env=admin_env
    )
    assert result.exit_code != 0 and "remove it instead" in result.output
    result = runner.invoke(prices, ["list", "--history"], env=env)
    assert result.exit_code == 0 and "(removed)" in result.stdout, result.output
    with platform.http(carol_key) as carol_http:
        assert carol_http.get("/api/prices/cpu").status_code == 404
        # Without a price, carol's core-hours are flagged and charged nothing.
        after = carol_http.get("/api/usage/statements").json()
        assert after["unpriced"] == ["cpu"] and after["totals"] == {}
