"""usage series: covering indexes for a user's, a group's and the platform's months of the
ledger, and for a user's calls over time (usage_events; replaces ix_usage_user_ts, its prefix)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 12:00:00
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

LEDGER = {
    "ix_ledger_user_use": [
        "user_id",
        "period",
        "source",
        "account",
        "resource",
        "unit",
        "quantity",
    ],
    "ix_ledger_account_use": [
        "account",
        "period",
        "source",
        "user_id",
        "resource",
        "unit",
        "quantity",
    ],
    "ix_ledger_period_use": ["period", "source", "resource", "unit", "quantity"],
}
USAGE = ["user_id", "ts", "model", "status", "prompt_tokens", "completion_tokens"]


def upgrade() -> None:
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        for name, columns in LEDGER.items():
            batch_op.create_index(name, columns, unique=False)
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.create_index("ix_usage_user_ts_use", USAGE, unique=False)
        batch_op.drop_index("ix_usage_user_ts")


def downgrade() -> None:
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.create_index("ix_usage_user_ts", ["user_id", "ts"], unique=False)
        batch_op.drop_index("ix_usage_user_ts_use")
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        for name in reversed(LEDGER):
            batch_op.drop_index(name)
