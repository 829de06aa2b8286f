"""The price table: a price per unit of a resource, or of a kind of resource.

A ledger resource is priced by its own row (`gpu:a800`) if there is one, else by its kind's
(`gpu`); with neither it costs nothing and statements flag it as unpriced. The unit follows
from the resource (hours for cpu and cards, calls, thousands of tokens), so a price can never
be read per the wrong unit.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

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
from hakutaku.identity.errors import NotFound, PlatformError

DEFAULT_PRICE_FILE = Path(__file__).with_name("prices.toml")
DEFAULT_CURRENCY = "CNY"


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


def list_prices(s: Session) -> list[Price]:
    return list(s.scalars(select(Price).order_by(Price.resource)))


def get_price(s: Session, resource: str) -> Price:
    row = s.get(Price, resource)
    if row is None:
        raise NotFound(f"no price for {resource!r}; see `hai prices list`", param="resource")
    return row


def set_price(s: Session, spec: PriceSpec) -> Price:
    row = s.get(Price, spec.resource)
    if row is None:
        row = Price(resource=spec.resource)
        s.add(row)
    row.unit = spec.unit
    row.price = float(spec.price)
    row.currency = spec.currency
    row.description = spec.description
    s.flush()
    return row


def delete_price(s: Session, resource: str) -> Price:
    row = get_price(s, resource)
    s.delete(row)
    s.flush()
    return row


def apply_prices(s: Session, specs: list[PriceSpec], *, replace: bool = False) -> int:
    """Set every price in `specs`; with `replace`, also remove the prices not among them."""
    if replace:
        keep = {spec.resource for spec in specs}
        for row in list_prices(s):
            if row.resource not in keep:
                s.delete(row)
    for spec in specs:
        set_price(s, spec)
    s.flush()
    return len(specs)


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
        rows = [
            {
                "resource": spec.resource,
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
    """All prices, loaded once for a statement: lookup by exact resource, then by kind."""

    def __init__(self, rows: list[Price]) -> None:
        self.rows = {row.resource: row for row in rows}

    @classmethod
    def load(cls, s: Session) -> PriceTable:
        return cls(list_prices(s))

    def lookup(self, resource: str) -> Price | None:
        row = self.rows.get(resource)
        if row is None and (kind := kind_of(resource)) is not None:
            row = self.rows.get(kind)
        return row
