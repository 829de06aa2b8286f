"""prices by month: a price applies from a month on, so changes never reprice billed months

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 01:05:00
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Prices set before this revision had no month: they apply to all usage, as they did.
FROM_THE_START = "0001-01"


def upgrade() -> None:
    op.create_table(
        "prices_by_month",
        sa.Column("resource", sa.String(length=96), nullable=False),
        sa.Column("since", sa.String(length=7), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("price", sa.Float(), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("resource", "since", name="pk_prices_by_month"),
    )
    bind = op.get_bind()
    old = sa.table(
        "prices",
        sa.column("resource"),
        sa.column("unit"),
        sa.column("price"),
        sa.column("currency"),
        sa.column("description"),
    )
    now = datetime.now(UTC)
    rows = [
        {**row._mapping, "since": FROM_THE_START, "changed_at": now}
        for row in bind.execute(sa.select(old))
    ]
    if rows:
        new = sa.table(
            "prices_by_month",
            *(sa.column(name) for name in ("resource", "since", "unit", "price", "currency")),
            sa.column("description"),
            sa.column("changed_at", sa.DateTime(timezone=True)),
        )
        op.bulk_insert(new, rows)
    op.drop_table("prices")
    op.rename_table("prices_by_month", "prices")


def downgrade() -> None:
    """Back to one price per resource: the one in effect now (price history is lost)."""
    op.create_table(
        "prices_single",
        sa.Column("resource", sa.String(length=96), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("resource", name="pk_prices_single"),
    )
    bind = op.get_bind()
    current = f"{datetime.now(UTC):%Y-%m}"
    by_month = sa.table(
        "prices",
        *(sa.column(name) for name in ("resource", "since", "unit", "price", "currency")),
        sa.column("description"),
    )
    latest: dict[str, dict] = {}
    query = sa.select(by_month).where(by_month.c.since <= current).order_by(by_month.c.since)
    for row in bind.execute(query):
        latest[row.resource] = dict(row._mapping)
    rows = [
        {k: v for k, v in row.items() if k != "since"}
        for row in latest.values()
        if row["price"] is not None
    ]
    if rows:
        single = sa.table(
            "prices_single",
            *(sa.column(name) for name in ("resource", "unit", "price", "currency")),
            sa.column("description"),
        )
        op.bulk_insert(single, rows)
    op.drop_table("prices")
    op.rename_table("prices_single", "prices")
