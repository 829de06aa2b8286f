"""The price table: checked prices, the shipped example file, applying a file."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hakutaku.accounting.periods import current_period, next_period
from hakutaku.accounting.prices import (
    DEFAULT_PRICE_FILE,
    FROM_THE_START,
    PriceTable,
    apply_prices,
    delete_price,
    ensure_default_prices,
    get_price,
    list_prices,
    make_spec,
    parse_price_file,
    price_history,
    set_price,
)
from hakutaku.accounting.resources import kind_of
from hakutaku.db.session import Database
from hakutaku.errors import NotFound, PlatformError


def test_kinds() -> None:
    assert kind_of("gpu:a800") == "gpu"
    assert kind_of("gpu") is None
    assert kind_of("model:qwen2.5:7b:tokens") == "model:tokens"
    assert kind_of("model:Qwen/Qwen2.5-7B:calls") == "model:calls"
    assert kind_of("model:tokens") is None


def test_a_price_is_checked() -> None:
    assert make_spec("gpu:a800", "7.5").unit == "hour"
    assert make_spec("model:tokens", 0.002).price == Decimal("0.002")
    assert make_spec("model:x:calls", "0.01", unit="call").unit == "call"
    for args in (
        ("gpu:a800", "-1"),
        ("gpu:a800", "cheap"),
        ("gpu:a800", "NaN"),
        ("gpu:a800", "7", "call"),  # a card is priced per hour
        ("model:tokens", "1", "hour"),
        ("gpu a800", "7"),
        ("gpu:a800", "7", None, "yuan"),
    ):
        with pytest.raises(PlatformError):
            make_spec(*args)


def test_the_shipped_prices_are_plausible() -> None:
    table = {spec.resource: spec for spec in parse_price_file(DEFAULT_PRICE_FILE.read_text())}
    assert {spec.currency for spec in table.values()} == {"CNY"}
    # At or below on-demand cloud rates (docs/accounting.md says where they come from).
    assert Decimal(6) <= table["gpu:a800"].price <= Decimal(10)
    assert table["gpu:l40"].price <= Decimal(4)
    assert table["dcu:k100ai"].price <= Decimal(3)
    assert table["npu:ascend910b"].price <= Decimal(5)
    assert table["cpu"].price <= Decimal("0.05")
    assert table["model:tokens"].unit == "1k-tokens" and table["model:tokens"].price < 1
    for kind in ("gpu", "dcu", "npu", "cpu", "model:tokens", "model:calls"):
        assert kind in table  # every resource has at least its kind's price


def test_default_prices_fill_an_empty_table_once(db: Database) -> None:
    assert ensure_default_prices(db) == len(parse_price_file(DEFAULT_PRICE_FILE.read_text()))
    with db.session() as s:
        set_price(s, make_spec("gpu:a800", "6.5"))
    assert ensure_default_prices(db) == 0  # the operator's table is left alone
    with db.session() as s:
        table = PriceTable.load(s)
        assert table.lookup("gpu:a800").price == 6.5  # type: ignore[union-attr]
        assert table.lookup("gpu:h20").resource == "gpu"  # type: ignore[union-attr]
        assert table.lookup("model:qwen:tokens").resource == "model:tokens"  # type: ignore[union-attr]
        assert table.lookup("fpga:x") is None


def test_apply_a_price_file(db: Database) -> None:
    text = """
currency = "CNY"
[[price]]
resource = "gpu:a800"
price = 8
[[price]]
resource = "cpu"
price = 0.04
currency = "USD"
description = "core-hour"
"""
    with db.session() as s:
        set_price(s, make_spec("gpu:l40", "4"))
        apply_prices(s, parse_price_file(text))
        assert [p.resource for p in list_prices(s)] == ["cpu", "gpu:a800", "gpu:l40"]
        apply_prices(s, parse_price_file(text), replace=True)
        rows = {p.resource: p for p in list_prices(s)}
    assert sorted(rows) == ["cpu", "gpu:a800"]
    assert (rows["cpu"].price, rows["cpu"].currency, rows["cpu"].unit) == (0.04, "USD", "hour")
    for bad in ("", "[[price]]\nresource = 'cpu'", "price = 3", "[[price]\n"):
        with pytest.raises(PlatformError):
            parse_price_file(bad)


def test_a_price_applies_from_its_month_until_the_next_change(db: Database) -> None:
    def at(period: str) -> float | None:
        with db.session() as s:
            row = PriceTable.load(s, period).lookup("gpu:a800")
            return None if row is None else row.price

    with db.session() as s:
        set_price(s, make_spec("gpu:a800", "7"), "2025-01")
        set_price(s, make_spec("gpu:a800", "9"), "2025-04")
        set_price(s, make_spec("gpu", "4"), "2025-01")
    assert (at("2024-12"), at("2025-01"), at("2025-03"), at("2025-04"), at("2030-01")) == (
        None,
        7,
        7,
        9,
        9,
    )
    with db.session() as s:
        removed = delete_price(s, "gpu:a800", "2025-06")
        assert removed.price == 9
        # unpriced from June: the kind's price applies again; May keeps its own
        assert PriceTable.load(s, "2025-06").lookup("gpu:a800").resource == "gpu"  # type: ignore[union-attr]
        assert [(r.since, r.price) for r in price_history(s, "gpu:a800")] == [
            ("2025-01", 7),
            ("2025-04", 9),
            ("2025-06", None),
        ]
        with pytest.raises(NotFound):
            delete_price(s, "gpu:a800", "2025-07")  # nothing left to remove
        with pytest.raises(NotFound):
            get_price(s, "gpu:a800", "2025-06")
        # removing from April drops the scheduled changes after it too
        delete_price(s, "gpu:a800", "2025-04")
        assert [(r.since, r.price) for r in price_history(s, "gpu:a800")] == [
            ("2025-01", 7),
            ("2025-04", None),
        ]
        # removing the only price leaves nothing behind
        delete_price(s, "gpu", "2025-01")
        assert price_history(s, "gpu") == []
        with pytest.raises(PlatformError, match="YYYY-MM"):
            set_price(s, make_spec("cpu", "1"), "2025-4")
    assert at("2025-05") is None


def test_changes_default_to_this_month_and_the_shipped_table_to_all_months(db: Database) -> None:
    ensure_default_prices(db)
    now, later = current_period(), next_period(current_period())
    with db.session() as s:
        assert {r.since for r in price_history(s)} == {FROM_THE_START}
        shipped = get_price(s, "cpu").price
        assert set_price(s, make_spec("cpu", "1")).since == now
        assert get_price(s, "cpu", "2020-01").price == shipped  # earlier months keep theirs
        apply_prices(s, [make_spec("gpu", "5")], replace=True, since=later)
        assert [r.resource for r in list_prices(s, later)] == ["gpu"]
        assert len(list_prices(s)) > 1  # this month is untouched
