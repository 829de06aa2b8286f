"""Real jobs on the local backend, then the group's statement: the numbers must add up."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

from hakutaku.accounting.periods import current_period
from tests.support.processes import Platform, wait_until

FINAL = {"completed", "failed", "cancelled", "timeout"}


def hours(job: dict) -> Decimal:
    start = datetime.fromisoformat(job["started_at"])
    end = datetime.fromisoformat(job["ended_at"])
    return Decimal(str((end - start).total_seconds())) / 3600


def test_a_statement_matches_the_jobs_that_ran(tmp_path: Path) -> None:
    platform = Platform(
        tmp_path / "home",
        HAI_ACCELERATORS="gpu:a800:0,1,2,3",
        HAI_LOCAL_CPUS="8",
        HAI_SCHEDULER_INTERVAL="0.2",
        HAI_ACCOUNTING_INTERVAL="0.5",
        HAI_DEMO_WORKERS="false",
    ).start()
    try:
        key = platform.add_user_key("dora", ("cms",))
        with platform.http() as admin, platform.http(key) as dora:
            for resource, price in (("gpu:a800", "7.5"), ("cpu", "0.05")):
                assert admin.put(f"/api/prices/{resource}", json={"price": price}).is_success
            runs = [
                {"command": ["sleep", "1"], "cpus": 2},
                {"command": ["bash", "-c", "sleep 1; exit 2"], "cpus": 1},
                {"command": ["sleep", "1.5"], "partition": "gpu", "gpus": "a800:2", "cpus": 3},
                {"command": ["sleep", "60"], "cpus": 1, "time": "0:01"},  # stopped at 1 s
            ]
            ids = [dora.post("/api/jobs", json=run).json()["id"] for run in runs]
            jobs = [
                wait_until(
                    lambda i=i: (j := dora.get(f"/api/jobs/{i}").json())["state"] in FINAL and j,
                    60,
                    f"job {i} to end",
                )
                for i in ids
            ]
            assert [j["state"] for j in jobs] == ["completed", "failed", "completed", "timeout"]

            def ledger_has_all() -> list[dict]:
                rows = dora.get("/api/usage/ledger").json()
                return rows if {r["ref"] for r in rows} >= {str(i) for i in ids} else []

            rows = wait_until(ledger_has_all, 30, "the collector to record the four jobs")
            statement = dora.get(
                "/api/usage/statements", params={"account": "cms", "period": current_period()}
            ).json()

        cpu_hours = sum(j["cpus"] * hours(j) for j in jobs)
        card_hours = sum(j["accelerators"] * hours(j) for j in jobs)
        ledger = {
            res: sum(Decimal(r["quantity"]) for r in rows if r["resource"] == res)
            for res in ("cpu", "gpu:a800")
        }
        # the ledger keeps hours to a millionth per row
        assert abs(ledger["cpu"] - cpu_hours) <= Decimal("0.000001") * len(jobs)
        assert abs(ledger["gpu:a800"] - card_hours) <= Decimal("0.000001")
        lines = {line["resource"]: line for line in statement["lines"]}
        assert Decimal(lines["cpu"]["quantity"]) == ledger["cpu"]
        assert Decimal(lines["gpu:a800"]["quantity"]) == ledger["gpu:a800"]
        expected = {
            res: (ledger[res] * Decimal(price)).quantize(Decimal("0.01"), "ROUND_HALF_UP")
            for res, price in (("cpu", "0.05"), ("gpu:a800", "7.5"))
        }
        assert {res: Decimal(lines[res]["charge"]) for res in expected} == expected
        assert Decimal(statement["totals"]["CNY"]) == sum(expected.values())
    finally:
        platform.stop()
