"""monitoring: the cluster snapshot, cluster and gateway samples, home usage, worker presence

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cluster_partitions",
        sa.Column("partition", sa.String(length=64), primary_key=True),
        sa.Column("accelerator", sa.String(length=16), nullable=False),
        sa.Column("nodes", sa.Integer(), nullable=False),
        sa.Column("nodes_down", sa.Integer(), nullable=False),
        sa.Column("cpus_total", sa.Integer(), nullable=False),
        sa.Column("cpus_alloc", sa.Integer(), nullable=False),
        sa.Column("cpus_free", sa.Integer(), nullable=False),
        sa.Column("mem_total_mb", sa.BigInteger(), nullable=False),
        sa.Column("mem_alloc_mb", sa.BigInteger(), nullable=False),
        sa.Column("mem_free_mb", sa.BigInteger(), nullable=False),
        sa.Column("cards", sa.JSON(), nullable=False),
        sa.Column("pending_jobs", sa.Integer(), nullable=False),
        sa.Column("running_jobs", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "cluster_samples",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("t", sa.BigInteger(), nullable=False),
        sa.Column("span", sa.Integer(), nullable=False),
        sa.Column("partition", sa.String(length=64), nullable=False),
        sa.Column("cards_total", sa.Integer(), nullable=False),
        sa.Column("cards_alloc", sa.Float(), nullable=False),
        sa.Column("cards_free", sa.Float(), nullable=False),
        sa.Column("cpus_total", sa.Integer(), nullable=False),
        sa.Column("cpus_alloc", sa.Float(), nullable=False),
        sa.Column("cpus_free", sa.Float(), nullable=False),
        sa.Column("pending_jobs", sa.Float(), nullable=False),
        sa.Column("running_jobs", sa.Float(), nullable=False),
    )
    op.create_index("ix_cluster_samples_span_t", "cluster_samples", ["span", "t"])
    op.create_table(
        "gateway_samples",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("t", sa.BigInteger(), nullable=False),
        sa.Column("span", sa.Integer(), nullable=False),
        sa.Column("replica", sa.String(length=255), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("latency_sum", sa.Float(), nullable=False),
        sa.Column("p50_ms", sa.Float(), nullable=True),
        sa.Column("p95_ms", sa.Float(), nullable=True),
        sa.Column("usage_pending", sa.Integer(), nullable=False),
        sa.Column("usage_dropped", sa.Integer(), nullable=False),
        sa.Column("usage_rejected", sa.Integer(), nullable=False),
    )
    op.create_index("ix_gateway_samples_span_t", "gateway_samples", ["span", "t"])
    op.create_table(
        "home_usage",
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("measured_at", TS, nullable=False),
    )
    op.create_table(
        "worker_presence",
        sa.Column("model", sa.String(length=128), primary_key=True),
        sa.Column("live", sa.Integer(), nullable=False),
        sa.Column("last_live_at", TS, nullable=True),
        sa.Column("checked_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("worker_presence")
    op.drop_table("home_usage")
    op.drop_index("ix_gateway_samples_span_t", table_name="gateway_samples")
    op.drop_table("gateway_samples")
    op.drop_index("ix_cluster_samples_span_t", table_name="cluster_samples")
    op.drop_table("cluster_samples")
    op.drop_table("cluster_partitions")
