"""Statements: prices by resource and by kind, credit before charges, numbers that add up."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from sqlalchemy import select

from hakutaku.accounting.contributions import (
    add_contribution,
    end_contribution,
    remove_contribution,
)
from hakutaku.accounting.ledger import collect
from hakutaku.accounting.prices import PriceTable, delete_price, make_spec, set_price
from hakutaku.accounting.resources import to_decimal
from hakutaku.accounting.statements import Statement, statement
from hakutaku.db.models import LedgerEntry
from hakutaku.db.session import Database
from hakutaku.errors import PlatformError
from tests.accounting.conftest import T0, add_call, add_job

PERIOD = "2025-03"


def prices(db: Database, since: str = "2025-01", **table: str) -> None:
    with db.session() as s:
        for resource, price in table.items():
            set_price(s, make_spec(resource.replace("__", ":").replace("_", "-"), price), since)


def lines(result: Statement) -> dict[tuple[str | None, str], tuple[Decimal, ...]]:
    """(account, resource) -> (quantity, credit, unit price, charge)."""
    return {
        (line.account, line.resource): (line.quantity, line.credit, line.unit_price, line.charge)
        for line in result.lines
    }


def run(db: Database, period: str = PERIOD, **who: str) -> Statement:
    with db.session() as s:
        collect(s, now=T0)
    with db.session() as s:
        return statement(s, period, **who)


def test_price_by_exact_resource_else_by_kind_else_unpriced(db: Database) -> None:
    prices(db, gpu__a800="7", gpu="4", cpu="0.05")
    with db.session() as s:
        add_job(s, "alice", account="cms", cpus=4, accelerator="gpu", model="a800", cards=2)
        add_job(s, "alice", account="cms", cpus=1, accelerator="gpu", model="l40", cards=1)
        add_job(s, "alice", account="cms", cpus=1, accelerator="dcu", model="k100ai", cards=1)
    result = run(db, account="cms")
    assert lines(result) == {
        ("cms", "cpu"): (Decimal(6), 0, Decimal("0.05"), Decimal("0.30")),
        ("cms", "gpu:a800"): (Decimal(2), 0, Decimal(7), Decimal("14.00")),
        ("cms", "gpu:l40"): (Decimal(1), 0, Decimal(4), Decimal("4.00")),  # the kind's price
        ("cms", "dcu:k100ai"): (Decimal(1), 0, Decimal(0), Decimal("0.00")),
    }
    by_resource = {line.resource: line for line in result.lines}
    assert by_resource["gpu:l40"].price_resource == "gpu"
    assert by_resource["gpu:a800"].price_resource == "gpu:a800"
    assert not by_resource["dcu:k100ai"].priced and by_resource["dcu:k100ai"].currency is None
    assert result.unpriced == ["dcu:k100ai"]
    assert result.totals == {"CNY": Decimal("18.30")}


def test_credit_is_deducted_before_charging_and_never_below_zero(db: Database) -> None:
    prices(db, gpu__a800="7", cpu="0.05")
    with db.session() as s:
        # cms: 2 cards x 3 h = 6 card-hours against 10 credit hours: charged nothing.
        add_job(
            s, "alice", account="cms", accelerator="gpu", model="a800", cards=2, seconds=3 * 3600
        )
        # atlas: 4 cards x 10 h = 40 card-hours against 5 + 10 credit hours: 25 charged.
        add_job(
            s, "carol", account="atlas", accelerator="gpu", model="a800", cards=4, seconds=36000
        )
        add_contribution(s, "cms", "gpu:a800", 10, "2025-01")
        add_contribution(s, "atlas", "gpu:a800", 5, "2025-03", "2025-03")
        add_contribution(s, "atlas", "gpu:a800", 10, "2024-06")
        add_contribution(s, "atlas", "gpu:a800", 1000, "2024-01", "2025-02")  # ended: no credit
        add_contribution(s, "atlas", "gpu:a800", 1000, "2025-04")  # not yet: no credit
    cms = run(db, account="cms")
    assert lines(cms)[("cms", "gpu:a800")] == (6, 6, 7, Decimal("0.00"))
    assert [(c.available, c.used) for c in cms.credits] == [(10, 6)]  # the rest lapses
    atlas = run(db, account="atlas")
    assert lines(atlas)[("atlas", "gpu:a800")] == (40, 15, 7, Decimal("175.00"))
    everyone = run(db)
    assert lines(everyone)[("cms", "gpu:a800")][1:] == (6, 7, Decimal("0.00"))
    assert lines(everyone)[("atlas", "gpu:a800")][1:] == (15, 7, Decimal("175.00"))
    # A user's statement is at list price: the credit belongs to the group.
    carol = run(db, user="carol")
    assert lines(carol)[("atlas", "gpu:a800")] == (40, 0, 7, Decimal("280.00"))
    assert not carol.credit_applied and carol.credits == []


def test_contributions_are_checked(db: Database) -> None:
    with db.session() as s:
        for args in (
            ("cms", "model:tokens", 10, "2025-01"),  # credit is hours of a job resource
            ("cms", "gpu:a800", 0, "2025-01"),
            ("cms", "gpu:a800", 10, "2025-13"),
            ("cms", "gpu:a800", 10, "2025-05", "2025-04"),
            ("no spaces", "gpu:a800", 10, "2025-01"),
        ):
            with pytest.raises(PlatformError):
                add_contribution(s, *args)


def test_model_calls_are_in_user_statements(db: Database) -> None:
    prices(db, model__tokens="0.002", model__qwen__calls="0.01")
    with db.session() as s:
        add_call(s, "bob", "qwen", T0, prompt=120_000, completion=30_500)
        add_call(s, "bob", "qwen", T0 + timedelta(hours=1), prompt=1)
        add_call(s, "bob", "tagger", T0)  # no price for its calls: flagged
        add_job(s, "bob", account="atlas", cpus=2)
    bob = run(db, user="bob")
    assert lines(bob) == {
        (None, "model:qwen:calls"): (Decimal(2), 0, Decimal("0.01"), Decimal("0.02")),
        (None, "model:qwen:tokens"): (Decimal("150.501"), 0, Decimal("0.002"), Decimal("0.30")),
        (None, "model:tagger:calls"): (Decimal(1), 0, Decimal(0), Decimal("0.00")),
        ("atlas", "cpu"): (Decimal(2), 0, Decimal(0), Decimal("0.00")),
    }
    assert bob.unpriced == ["cpu", "model:tagger:calls"]
    assert bob.totals == {"CNY": Decimal("0.32")}
    # Model calls carry no account: a group's statement has only the jobs billed to it.
    assert {line.resource for line in run(db, account="atlas").lines} == {"cpu"}


def test_numbers_add_up_from_jobs_to_ledger_to_statements(db: Database) -> None:
    prices(db, gpu__a800="7.3", gpu="4.1", dcu="3", npu__ascend910b="5.25", cpu="0.05")
    rng = random.Random(7)
    kinds = [
        ("gpu", "a800"),
        ("gpu", "l40"),
        ("dcu", "k100ai"),
        ("npu", "ascend910b"),
        ("cpu", None),
    ]
    accounts = {"alice": ["cms"], "bob": ["cms", "atlas"], "carol": ["atlas"]}
    # What the jobs used, computed here independently with exact fractions.
    expected: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    with db.session() as s:
        add_contribution(s, "cms", "gpu:a800", 3, "2025-01")
        add_contribution(s, "atlas", "cpu", 50, "2025-03")
        for _ in range(60):
            user = rng.choice(sorted(accounts))
            account = rng.choice(accounts[user])
            kind, model = rng.choice(kinds)
            cpus, cards = rng.randint(1, 16), (rng.randint(1, 8) if kind != "cpu" else 0)
            seconds = rng.randint(1, 20_000) + rng.randint(0, 999_999) / 1e6
            start = T0 + timedelta(seconds=rng.randint(0, 86400))
            job = add_job(
                s,
                user,
                account=account,
                cpus=cpus,
                accelerator=kind,
                model=model,
                cards=cards,
                start=start,
                seconds=seconds,
            )
            elapsed = job.ended_at - job.started_at  # type: ignore[operator]
            exact = Fraction(elapsed.days * 86400 + elapsed.seconds) + Fraction(
                elapsed.microseconds, 10**6
            )
            expected[(account, "cpu")] += _hours(cpus * exact)
            if cards:
                expected[(account, f"{kind}:{model}")] += _hours(cards * exact)

    platform = run(db)
    assert {k: v[0] for k, v in lines(platform).items()} == {
        k: Decimal(v.numerator) / Decimal(v.denominator) for k, v in expected.items()
    }
    # The ledger holds the same sums.
    with db.session() as s:
        ledger: dict[tuple[str | None, str], Decimal] = defaultdict(Decimal)
        for e in s.scalars(select(LedgerEntry)):
            ledger[(e.account, e.resource)] += to_decimal(e.quantity)
    assert ledger == {k: v[0] for k, v in lines(platform).items()}
    # Each line is its billable quantity times its price, to the cent; totals are their sum.
    for statement_ in (platform, run(db, account="cms"), run(db, user="bob")):
        for line in statement_.lines:
            assert line.billable == line.quantity - line.credit >= 0
            assert line.charge == (line.billable * line.unit_price).quantize(
                Decimal("0.01"), ROUND_HALF_UP
            )
        assert statement_.totals == {
            "CNY": sum((line.charge for line in statement_.lines), Decimal(0))
        }
    # The platform's statement is the sum of the groups'; the users' add up to it before credit.
    groups = [run(db, account=a) for a in ("cms", "atlas")]
    assert platform.totals["CNY"] == sum(g.totals["CNY"] for g in groups)
    users = [run(db, user=u) for u in accounts]
    assert sum(u.lines[i].quantity for u in users for i in range(len(u.lines))) == sum(
        line.quantity for line in platform.lines
    )
    list_price = sum(line.quantity * line.unit_price for u in users for line in u.lines)
    assert platform.totals["CNY"] < list_price.quantize(Decimal("0.01"))
    assert run(db, period="2025-02").lines == []


def _hours(unit_seconds: Fraction) -> Fraction:
    """Unit-seconds as hours kept to a millionth, as the ledger keeps them."""
    hours = Decimal(unit_seconds.numerator) / Decimal(unit_seconds.denominator) / 3600
    return Fraction(hours.quantize(Decimal("0.000001"), ROUND_HALF_EVEN))


def test_a_billed_month_keeps_its_prices_and_credit(db: Database) -> None:
    prices(db, gpu__a800="7")
    with db.session() as s:
        add_job(s, "alice", account="cms", accelerator="gpu", model="a800", cards=2, seconds=7200)
        credit = add_contribution(s, "cms", "gpu:a800", 1, "2025-01").id
        mistake = add_contribution(s, "cms", "gpu:a800", 2, "2025-02").id
    march = run(db, account="cms")
    assert lines(march)[("cms", "gpu:a800")] == (4, 3, 7, Decimal("7.00"))

    # April: the price rises, the hardware is withdrawn, a price is removed
    prices(db, since="2025-04", gpu__a800="9")
    with db.session() as s:
        end_contribution(s, credit, "2025-03")
        end_contribution(s, credit, "2025-06")  # a later end never extends an earlier one
        delete_price(s, "gpu:a800", "2025-05")
    assert run(db, account="cms") == march
    with db.session() as s:
        assert statement(s, "2025-04", account="cms").credits[0].available == 2
        assert PriceTable.load(s, "2025-04").lookup("gpu:a800").price == 9  # type: ignore[union-attr]
        assert PriceTable.load(s, "2025-05").lookup("gpu:a800") is None
        with pytest.raises(PlatformError, match="remove it instead"):
            end_contribution(s, mistake, "2025-01")
        # removing erases a contribution from every month: for one recorded by mistake
        remove_contribution(s, mistake)
    assert lines(run(db, account="cms"))[("cms", "gpu:a800")] == (4, 1, 7, Decimal("21.00"))
