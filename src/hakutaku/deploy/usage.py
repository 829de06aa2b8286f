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

from hakutaku.accounting.prices import PriceTable
from hakutaku.db.models import Deployment, DeploymentReplica, LedgerEntry, UsageEvent

JOB = "job"


def deployment_usage(s: Session, d: Deployment) -> dict[str, Any]:
    """Calls served, the replicas' resources from the ledger, their cost and cost per 1 000."""
    calls = (
        s.scalar(select(func.count()).where(UsageEvent.model == d.name, UsageEvent.status < 400))
        or 0
    )
    jobs = select(cast(DeploymentReplica.job_id, String)).where(
        DeploymentReplica.deployment_id == d.id
    )
    rows = s.execute(
        select(
            LedgerEntry.period, LedgerEntry.resource, LedgerEntry.unit, LedgerEntry.quantity
        ).where(LedgerEntry.source == JOB, LedgerEntry.ref.in_(jobs))
    ).all()
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
        "cost": round(cost, 6),
        "currency": currency,
        "cost_per_1k_calls": round(cost / calls * 1000, 6) if calls else None,
    }
