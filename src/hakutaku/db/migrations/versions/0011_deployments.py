"""deployments: models served by worker jobs; worker tokens scoped to one model; the secret
the gateway calls each worker with

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-03 16:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_models_owner_id_users", "users", ["owner_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("call_token", sa.Text(), nullable=True))
        batch.add_column(sa.Column("job_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("draining", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_index("ix_workers_job_id", ["job_id"])
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=128), nullable=False, unique=True),
        sa.Column(
            "owner_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("partition", sa.String(length=64), nullable=True),
        sa.Column("qos", sa.String(length=64), nullable=True),
        sa.Column("gpus", sa.String(length=64), nullable=True),
        sa.Column("cpus", sa.Integer(), nullable=False),
        sa.Column("mem", sa.String(length=32), nullable=False),
        sa.Column("time", sa.String(length=32), nullable=True),
        sa.Column("min_replicas", sa.Integer(), nullable=False),
        sa.Column("max_replicas", sa.Integer(), nullable=False),
        sa.Column("target_inflight", sa.Float(), nullable=False),
        sa.Column("idle_timeout", sa.Integer(), nullable=False),
        sa.Column("desired", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("retry_at", TS, nullable=True),
        sa.Column("busy_at", TS, nullable=True),
        sa.Column("wanted_at", TS, nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "deployment_replicas",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "deployment_id",
            sa.Integer(),
            sa.ForeignKey("deployments.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id"), nullable=False, unique=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("ended_why", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("ready_at", TS, nullable=True),
        sa.Column("draining_since", TS, nullable=True),
    )
    op.create_table(
        "worker_tokens",
        sa.Column("id", sa.String(length=16), primary_key=True),
        sa.Column("model", sa.String(length=128), nullable=False, index=True),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column(
            "deployment_id",
            sa.Integer(),
            sa.ForeignKey("deployments.id", ondelete="CASCADE"),
            nullable=True,
            index=True,
        ),
        sa.Column("note", sa.String(length=255), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("worker_tokens")
    op.drop_table("deployment_replicas")
    op.drop_table("deployments")
    with op.batch_alter_table("workers") as batch:
        batch.drop_index("ix_workers_job_id")
        batch.drop_column("draining")
        batch.drop_column("job_id")
        batch.drop_column("call_token")
    with op.batch_alter_table("models") as batch:
        batch.drop_constraint("fk_models_owner_id_users", type_="foreignkey")
        batch.drop_column("owner_id")
