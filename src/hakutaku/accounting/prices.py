"""The price table: a price per unit of a resource, or of a kind of resource, from a month on.

A ledger resource is priced by its own row (`gpu:a800`) if there is one, else by its kind's
(`gpu`); with neither it costs nothing and statements flag it as unpriced. The unit follows
from the resource (hours for cpu and cards, calls, thousands of tokens), so a price can never
be read per the wrong unit.

Every price applies from a month (`since`, by default the month it is set in) until the
resource's next change, so setting or removing a price never reprices a month already billed;
a statement uses the prices in effect in its own month. An earlier `since` corrects past months
deliberately. The shipped example table applies from the start (`FROM_THE_START`).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hakutaku.accounting.periods import check_period, current_period
from hakutaku.accounting.resources import (
    check_resource,
    check_unit,
    default_unit,
    kind_of,
    to_decimal,
)
from hakutaku.accounting.sql import insert_on_conflict
from hakutaku.db.models import Price
from hakutaku.db.session import Database
from hakutaku.errors import NotFound, PlatformError

DEFAULT_PRICE_FILE = Path(__file__).with_name("prices.toml")
DEFAULT_CURRENCY = "CNY"
FROM_THE_START = "0001-01"  # the month of prices that apply to all usage


@dataclass(frozen=True, slots=True)
class PriceSpec:
    """One price as written in a price file or sent to the API, checked."""

    resource: str
    price: Decimal
    unit: str
    currency: str = DEFAULT_CURRENCY
    description: str = ""


def make_spec(
    resource: str,
    price: float | int | str | Decimal,
    unit: str | None = None,
    currency: str = DEFAULT_CURRENCY,
    description: str = "",
) -> PriceSpec:
    """Check a price: a known resource name, the resource's own unit, a finite amount >= 0."""
    check_resource(resource)
    expected = default_unit(resource)
    if unit is not None and check_unit(unit) != expected:
        raise PlatformError(
            f"{resource} is measured per {expected}, not per {unit}; "
            f"omit the unit or give {expected}",
            param="unit",
        )
    try:
        amount = to_decimal(price)
    except (InvalidOperation, ValueError):
        raise PlatformError(f"invalid price {price!r} for {resource}", param="price") from None
    if not amount.is_finite() or amount < 0:
        raise PlatformError(f"a price must be a number >= 0, not {price!r}", param="price")
    currency = currency.strip().upper()
    if not (currency.isalpha() and len(currency) == 3):
        raise PlatformError(f"invalid currency {currency!r}: use a code like CNY", param="currency")
    return PriceSpec(resource, amount, expected, currency, description)


def list_prices(s: Session, period: str | None = None) -> list[Price]:
    """The prices in effect in `period` (default: this month), by resource."""
    return sorted(_in_effect(s, period).values(), key=lambda row: row.resource)


def price_history(s: Session, resource: str | None = None) -> list[Price]:
    """Every price row, removals (price None) included, by resource and month."""
    query = select(Price).order_by(Price.resource, Price.since)
    if resource is not None:
        query = query.where(Price.resource == resource)
    return list(s.scalars(query))


def get_price(s: Session, resource: str, period: str | None = None) -> Price:
    row = _in_effect(s, period, resource).get(resource)
    if row is None:
        when = "" if period is None else f" in {period}"
        raise NotFound(f"no price for {resource!r}{when}; see `hai prices list`", param="resource")
    return row


def set_price(s: Session, spec: PriceSpec, since: str | None = None) -> Price:
    """Set the price of `spec.resource` from `since` (default: this month) on."""
    since = _month(since)
    row = s.get(Price, (spec.resource, since))
    if row is None:
        row = Price(resource=spec.resource, since=since)
        s.add(row)
    row.unit = spec.unit
    row.price = float(spec.price)
    row.currency = spec.currency
    row.description = spec.description
    row.changed_at = datetime.now(UTC)
    s.flush()
    return row


def delete_price(s: Session, resource: str, since: str | None = None) -> Price:
    """Leave `resource` unpriced from `since` (default: this month) on; earlier months keep
    their prices. Changes scheduled after `since` go too. Returns the price that applied."""
    since = _month(since)
    removed = get_price(s, resource, since)
    for row in price_history(s, resource):
        if row.since >= since:
            s.delete(row)
    s.flush()
    if resource in _in_effect(s, since, resource):
        # an earlier price would apply again: mark the resource unpriced from `since`
        s.add(
            Price(
                resource=resource,
                since=since,
                unit=removed.unit,
                price=None,
                currency=removed.currency,
                description="price removed",
                changed_at=datetime.now(UTC),
            )
        )
        s.flush()
    return removed


def apply_prices(
    s: Session, specs: list[PriceSpec], *, replace: bool = False, since: str | None = None
) -> int:
    """Set every price in `specs` from `since` on; with `replace`, also remove from then the
    prices not among them."""
    since = _month(since)
    if replace:
        keep = {spec.resource for spec in specs}
        for row in list_prices(s, since):
            if row.resource not in keep:
                delete_price(s, row.resource, since)
    for spec in specs:
        set_price(s, spec, since)
    s.flush()
    return len(specs)


def _month(since: str | None) -> str:
    return current_period() if since is None else check_period(since, "since")


def _in_effect(s: Session, period: str | None, resource: str | None = None) -> dict[str, Price]:
    """Per resource, its latest row at or before `period`, unless that row is a removal."""
    period = current_period() if period is None else check_period(period)
    query = select(Price).where(Price.since <= period).order_by(Price.resource, Price.since)
    if resource is not None:
        query = query.where(Price.resource == resource)
    latest = {row.resource: row for row in s.scalars(query)}
    return {name: row for name, row in latest.items() if row.price is not None}


def parse_price_file(text: str, origin: str = "price file") -> list[PriceSpec]:
    """Read a TOML price file: `currency = "CNY"` and `[[price]]` tables of resource, price,
    optional unit and description."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlatformError(f"{origin} is not valid TOML: {exc}") from None
    currency = str(data.get("currency", DEFAULT_CURRENCY))
    entries = data.get("price", [])
    if not isinstance(entries, list) or not entries:
        raise PlatformError(f"{origin} has no [[price]] tables")
    specs = [_spec_from_table(entry, currency, origin) for entry in entries]
    seen: set[str] = set()
    for spec in specs:
        if spec.resource in seen:
            raise PlatformError(f"{origin} prices {spec.resource} twice")
        seen.add(spec.resource)
    return specs


def _spec_from_table(entry: Any, currency: str, origin: str) -> PriceSpec:
    if not isinstance(entry, dict) or "resource" not in entry or "price" not in entry:
        raise PlatformError(f"{origin}: every [[price]] needs a resource and a price: {entry!r}")
    price = entry["price"]
    if isinstance(price, float) and not math.isfinite(price):
        raise PlatformError(f"{origin}: price of {entry['resource']} is not finite")
    return make_spec(
        str(entry["resource"]),
        # A TOML float such as 0.05 is read back as the decimal it was written as.
        str(price) if isinstance(price, int | float) else price,
        entry.get("unit"),
        str(entry.get("currency", currency)),
        str(entry.get("description", "")),
    )


def ensure_default_prices(db: Database, path: Path = DEFAULT_PRICE_FILE) -> int:
    """Load the shipped example prices into an empty price table (once); returns rows added.

    An operator's table, even a deliberately emptied-then-edited one, is never touched again
    once it has a row.
    """
    specs = parse_price_file(path.read_text(), str(path))
    with db.session() as s:
        if s.scalar(select(func.count()).select_from(Price)):
            return 0
        now = datetime.now(UTC)
        rows = [
            {
                "resource": spec.resource,
                "since": FROM_THE_START,
                "changed_at": now,
                "unit": spec.unit,
                "price": float(spec.price),
                "currency": spec.currency,
                "description": spec.description,
            }
            for spec in specs
        ]
        # Replicas starting together may both find the table empty; the first insert wins.
        insert = insert_on_conflict(s, Price).values(rows).on_conflict_do_nothing()
        return len(s.execute(insert.returning(Price.resource)).all())


class PriceTable:
    """The prices of one month, loaded once for a statement: lookup by exact resource, then
    by kind."""

    def __init__(self, rows: list[Price]) -> None:
        self.rows = {row.resource: row for row in rows}

    @classmethod
    def load(cls, s: Session, period: str | None = None) -> PriceTable:
        return cls(list_prices(s, period))

    def lookup(self, resource: str) -> Price | None:
        row = self.rows.get(resource)
        if row is None and (kind := kind_of(resource)) is not None:
            row = self.rows.get(kind)
        return row
