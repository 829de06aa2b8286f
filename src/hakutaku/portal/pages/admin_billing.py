"""Prices by month and contributions, for admins.

GET  /admin/prices?period=YYYY-MM[&history=1]   the prices in effect in a month; every change
POST /admin/prices                              set a price from a month on (PUT /api/prices/R)
POST /admin/prices/remove                       unprice a resource from a month on (DELETE)
GET  /admin/contributions                       every contribution
POST /admin/contributions                       add one (POST /api/contributions)
POST /admin/contributions/{id}/end              end one (POST /api/contributions/{id}/end)

The rules are accounting/prices.py's and accounting/contributions.py's, as on /api: a price
applies from its month until the resource's next change, so months already billed keep theirs;
an ended contribution credits no month after its last, and earlier months keep their credit.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from hakutaku.accounting import contributions as contrib
from hakutaku.accounting import prices as price_table
from hakutaku.accounting.periods import check_period, current_period
from hakutaku.accounting.resources import to_decimal
from hakutaku.api.deps import ReplicaDep
from hakutaku.errors import PlatformError
from hakutaku.portal.auth import Admin
from hakutaku.portal.i18n import N_, _
from hakutaku.portal.pages.admin_common import AdminPosting, blocking, done, notice
from hakutaku.portal.templating import render
from hakutaku.server.replica import Replica

router = APIRouter(include_in_schema=False)

PRICE_DONE = {
    "set": N_("The price is set."),
    "removed": N_("The price is removed from that month on; earlier months keep it."),
}
CONTRIBUTION_DONE = {
    "added": N_("The contribution is recorded."),
    "ended": N_("The contribution is ended; earlier months keep their credit."),
}


def _price_row(row: Any) -> dict[str, Any]:
    return {
        "resource": row.resource,
        "since": row.since,
        "unit": row.unit,
        "price": None if row.price is None else to_decimal(row.price),
        "currency": row.currency,
        "description": row.description,
        "changed_at": row.changed_at,
    }


# -- prices ---------------------------------------------------------------------------------------


async def _prices_page(
    request: Request, replica: Replica, *, status: int = 200, **extra: Any
) -> Response:
    asked = (request.query_params.get("period") or "").strip()
    history = request.query_params.get("history") == "1"
    period = current_period()
    if asked:
        try:
            period = check_period(asked)
        except PlatformError as exc:
            extra.setdefault("error", exc.message)
            status = exc.status

    def load() -> dict[str, Any]:
        with replica.db.session() as s:
            rows = price_table.list_prices(s, period)
            changes = price_table.price_history(s) if history else []
            return {
                "prices": [_price_row(r) for r in rows],
                "changes": [_price_row(r) for r in changes],
            }

    context = await blocking(load)
    context.update(
        period=period,
        this_month=current_period(),
        history=history,
        notice=notice(request, PRICE_DONE),
        **extra,
    )
    return render(request, "admin/prices.html", context, status=status)


@router.get("/admin/prices")
async def prices(request: Request, replica: ReplicaDep, user: Admin) -> Response:
    return await _prices_page(request, replica)


@router.post("/admin/prices")
async def set_price(
    request: Request,
    replica: ReplicaDep,
    admin: AdminPosting,
    resource: Annotated[str, Form()] = "",
    price: Annotated[str, Form()] = "",
    currency: Annotated[str, Form()] = price_table.DEFAULT_CURRENCY,
    since: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    resource, since = resource.strip(), since.strip()

    def run() -> None:
        spec = price_table.make_spec(resource, price.strip(), None, currency, description.strip())
        with replica.db.session() as s:
            price_table.set_price(s, spec, since or None)

    try:
        await blocking(run)
    except PlatformError as exc:
        form = {
            "resource": resource,
            "price": price,
            "currency": currency,
            "since": since,
            "description": description,
        }
        return await _prices_page(request, replica, status=exc.status, error=exc.message, form=form)
    return done("/admin/prices", "set", period=since or current_period())


@router.post("/admin/prices/remove")
async def remove_price(
    request: Request,
    replica: ReplicaDep,
    admin: AdminPosting,
    resource: Annotated[str, Form()] = "",
    since: Annotated[str, Form()] = "",
) -> Response:
    resource, since = resource.strip(), since.strip()

    def run() -> None:
        with replica.db.session() as s:
            price_table.delete_price(s, resource, since or None)

    try:
        await blocking(run)
    except PlatformError as exc:
        return await _prices_page(request, replica, status=exc.status, error=exc.message)
    return done("/admin/prices", "removed", period=since or current_period())


# -- contributions --------------------------------------------------------------------------------


async def _contributions_page(
    request: Request, replica: Replica, *, status: int = 200, **extra: Any
) -> Response:
    def load() -> list[dict[str, Any]]:
        with replica.db.session() as s:
            return [
                {
                    "id": row.id,
                    "account": row.account,
                    "resource": row.resource,
                    "hours_per_month": to_decimal(row.hours_per_month),
                    "since": row.since,
                    "until": row.until,
                    "description": row.description,
                }
                for row in contrib.list_contributions(s)
            ]

    rows = await blocking(load)
    context = {
        "contributions": rows,
        "this_month": current_period(),
        "notice": notice(request, CONTRIBUTION_DONE),
        **extra,
    }
    return render(request, "admin/contributions.html", context, status=status)


@router.get("/admin/contributions")
async def contributions(request: Request, replica: ReplicaDep, user: Admin) -> Response:
    return await _contributions_page(request, replica)


@router.post("/admin/contributions")
async def add_contribution(
    request: Request,
    replica: ReplicaDep,
    admin: AdminPosting,
    account: Annotated[str, Form()] = "",
    resource: Annotated[str, Form()] = "",
    hours_per_month: Annotated[str, Form()] = "",
    since: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    def run() -> None:
        try:
            hours = float(hours_per_month.strip())
            if not math.isfinite(hours):
                raise ValueError(hours_per_month)
        except ValueError:
            message = _("Hours a month must be a number above 0, not %(value)r.")
            raise PlatformError(
                message % {"value": hours_per_month}, param="hours_per_month"
            ) from None
        with replica.db.session() as s:
            contrib.add_contribution(
                s,
                account.strip(),
                resource.strip(),
                hours,
                since.strip() or current_period(),
                until.strip() or None,
                description.strip(),
            )

    try:
        await blocking(run)
    except PlatformError as exc:
        form = {
            "account": account,
            "resource": resource,
            "hours_per_month": hours_per_month,
            "since": since,
            "until": until,
            "description": description,
        }
        return await _contributions_page(
            request, replica, status=exc.status, error=exc.message, form=form
        )
    return done("/admin/contributions", "added")


@router.post("/admin/contributions/{contribution_id}/end")
async def end_contribution(
    request: Request,
    replica: ReplicaDep,
    admin: AdminPosting,
    contribution_id: int,
    until: Annotated[str, Form()] = "",
) -> Response:
    def run() -> None:
        with replica.db.session() as s:
            contrib.end_contribution(s, contribution_id, until.strip() or None)

    try:
        await blocking(run)
    except PlatformError as exc:
        return await _contributions_page(request, replica, status=exc.status, error=exc.message)
    return done("/admin/contributions", "ended")
