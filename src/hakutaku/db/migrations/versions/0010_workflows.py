"""workflows: campaigns and their journaled tasks (hakutaku.workflows)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 16:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workflow_campaigns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("profile", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("run_dir", sa.String(length=1024), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.UniqueConstraint("user_id", "name", name="uq_workflow_campaign_user_name"),
    )
    op.create_table(
        "workflow_tasks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("pool", sa.String(length=64), nullable=False),
        sa.Column("cpus", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("task_dir", sa.String(length=1024), nullable=False),
        sa.Column("result_ref", sa.String(length=1024), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("cpu_seconds", sa.Float(), nullable=False),
        sa.Column("wall_seconds", sa.Float(), nullable=False),
        sa.Column("submitted_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("accounted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["workflow_campaigns.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("campaign_id", "key", name="uq_workflow_task_campaign_key"),
    )
    op.create_index("ix_workflow_tasks_campaign_state", "workflow_tasks", ["campaign_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_workflow_tasks_campaign_state", table_name="workflow_tasks")
    op.drop_table("workflow_tasks")
    op.drop_table("workflow_campaigns")
