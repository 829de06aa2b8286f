"""What a deployment has served and what its replicas cost: the owner's view of the bill.

Replica jobs are ordinary jobs of the owner, billed by the ledger like any other (card- and
CPU-hours, to the owner or the deployment's group); this adds them up per deployment and sets
them against the calls served.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from hakutaku.accounting.periods import month_bounds
from hakutaku.accounting.prices import PriceTable
from hakutaku.db.models import Deployment, DeploymentReplica, LedgerEntry, UsageEvent, User

JOB = "job"


def deployment_usage(s: Session, d: Deployment, period: str | None = None) -> dict[str, Any]:
    """Calls served, the replicas' resources from the ledger, their cost and cost per 1 000:
    since the deployment was made, or in one month (`period`, YYYY-MM). A replica enters the
    ledger once its job has ended, so a replica still running is not counted yet."""
    served = select(func.count()).where(UsageEvent.model == d.name, UsageEvent.status < 400)
    jobs = select(cast(DeploymentReplica.job_id, String)).where(
        DeploymentReplica.deployment_id == d.id
    )
    ledger = select(
        LedgerEntry.period, LedgerEntry.resource, LedgerEntry.unit, LedgerEntry.quantity
    ).where(LedgerEntry.source == JOB, LedgerEntry.ref.in_(jobs))
    if period is not None:
        start, end = month_bounds(period)
        served = served.where(UsageEvent.ts >= start, UsageEvent.ts < end)
        ledger = ledger.where(LedgerEntry.period == period)
    calls = s.scalar(served) or 0
    rows = s.execute(ledger).all()
    quantities: dict[str, float] = defaultdict(float)
    cost = 0.0
    currency: str | None = None
    tables: dict[str, PriceTable] = {}
    for period, resource, unit, quantity in rows:
        quantities[f"{resource} ({unit})"] += quantity
        table = tables.get(period) or tables.setdefault(period, PriceTable.load(s, period))
        price = table.lookup(resource)
        if price is not None and price.price is not None:
            cost += quantity * price.price
            currency = currency or price.currency
    return {
        "calls": calls,
        "resources": dict(quantities),
        "cost": round(cost, 9),  # small: minutes of a CPU at cents an hour
        "currency": currency,
        "cost_per_1k_calls": round(cost / calls * 1000, 9) if calls else None,
    }


def usage_by_deployment(
    s: Session, deployments: list[Deployment], period: str | None = None
) -> list[dict[str, Any]]:
    """`deployment_usage` of each, with its name, owner and state (for `hai usage
    deployments`)."""
    owners = dict(
        s.execute(select(User.id, User.name).where(User.id.in_({d.owner_id for d in deployments})))
        .tuples()
        .all()
    )
    return [
        {
            "name": d.name,
            "owner": owners.get(d.owner_id),
            "state": d.state,
            **deployment_usage(s, d, period),
        }
        for d in deployments
    ]
