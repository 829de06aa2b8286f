"""workflow platform: runs of a campaign, whether its blocks are platform jobs; tasks' cards,
start time and run (the ledger bills each task once per run it ran in)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("workflow_campaigns") as batch:
        batch.add_column(sa.Column("runs", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("blocks_are_jobs", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("workflow_tasks") as batch:
        batch.add_column(sa.Column("cards", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("run", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("started_at", TS, nullable=True))
        batch.create_index("ix_workflow_tasks_accounted_state", ["accounted", "state"])


def downgrade() -> None:
    with op.batch_alter_table("workflow_tasks") as batch:
        batch.drop_index("ix_workflow_tasks_accounted_state")
        batch.drop_column("started_at")
        batch.drop_column("run")
        batch.drop_column("cards")
    with op.batch_alter_table("workflow_campaigns") as batch:
        batch.drop_column("blocks_are_jobs")
        batch.drop_column("runs")
