"""`client.prices` and `client.contributions`: the price table by month, and contributed hardware.

    client.prices.list()                                   # the prices in effect this month
    client.prices.set("gpu:a800", "2.50", since="2026-01")   # admin; from that month on
    client.contributions.add("cms", "gpu:a800", 2880, since="2026-01")   # admin

Prices, quantities and hours travel as decimal strings ("2.50"), never floats; months are
`YYYY-MM` (UTC). A price applies from its `since` month on, so a change never reprices a
month already billed.
"""

from __future__ import annotations

import builtins
from decimal import Decimal
from urllib.parse import quote

from hakutaku.sdk._resource import Record, Resource, query


def _price_path(resource: str) -> str:
    # A resource names a kind and maybe a model ("gpu", "gpu:a800", "model:tokens").
    return f"/api/prices/{quote(resource, safe=':/@')}"


class Prices(Resource):
    """`/api/prices`: read with any key, written by admins. A price record: `resource`,
    `since`, `unit` (hour, call, 1k-tokens), `price` (None once removed), `currency`,
    `description`."""

    def list(self, *, period: str | None = None, history: bool = False) -> builtins.list[Record]:
        """The prices in effect in `period` (default this month), or with `history` every
        change of every price, removals included (GET /api/prices)."""
        params = query(period=period, history=history or None)
        return self._client._objects("GET", "/api/prices", params=params)

    def get(self, resource: str, *, period: str | None = None) -> Record:
        """One resource's price in `period` (GET /api/prices/{resource}); 404 when it has
        none."""
        return self._client._object("GET", _price_path(resource), params=query(period=period))

    def set(
        self,
        resource: str,
        price: str | int | Decimal,
        *,
        unit: str | None = None,
        currency: str = "CNY",
        description: str = "",
        since: str | None = None,
    ) -> Record:
        """Set the price of a resource (`gpu:a800`) or a kind of resource (`gpu`, `cpu`,
        `model:tokens`) per unit, from `since` (default this month) on (PUT
        /api/prices/{resource}; admin). `unit` follows from the resource when left out."""
        body = {
            "price": str(price),
            "unit": unit,
            "currency": currency,
            "description": description,
            "since": since,
        }
        return self._client._object("PUT", _price_path(resource), json=body)

    def remove(self, resource: str, *, since: str | None = None) -> Record:
        """Remove a price from `since` (default this month) on; earlier months keep it
        (DELETE /api/prices/{resource}; admin). Returns the price removed."""
        return self._client._object("DELETE", _price_path(resource), params=query(since=since))


class Contributions(Resource):
    """`/api/contributions`: hardware a group (an account) contributed, as monthly credit
    hours of a resource. Members read their groups'; admins read all and write. A record:
    `id`, `account`, `resource`, `hours_per_month`, `since`, `until`, `description`."""

    def list(self, *, account: str | None = None) -> builtins.list[Record]:
        """Contributions: all (admins) or your groups', or one `account`'s (GET
        /api/contributions); 403 for a group you are not in."""
        return self._client._objects("GET", "/api/contributions", params=query(account=account))

    def add(
        self,
        account: str,
        resource: str,
        hours_per_month: float | str | Decimal,
        *,
        since: str,
        until: str | None = None,
        description: str = "",
    ) -> Record:
        """Record a contribution credited from month `since` to `until` (open-ended when
        left out) (POST /api/contributions; admin)."""
        body = {
            "account": account,
            "resource": resource,
            "hours_per_month": str(hours_per_month),
            "since": since,
            "until": until,
            "description": description,
        }
        return self._client._object("POST", "/api/contributions", json=body)

    def end(self, contribution_id: int, *, until: str | None = None) -> Record:
        """End a contribution whose hardware is withdrawn: credited up to `until` (default
        this month), earlier months keep their credit (POST /api/contributions/{id}/end;
        admin)."""
        path = f"/api/contributions/{int(contribution_id)}/end"
        return self._client._object("POST", path, json={"until": until})

    def remove(self, contribution_id: int) -> Record:
        """Erase a contribution recorded by mistake, from every month, past statements too
        (DELETE /api/contributions/{id}; admin). To withdraw hardware, `end` it."""
        return self._client._object("DELETE", f"/api/contributions/{int(contribution_id)}")
