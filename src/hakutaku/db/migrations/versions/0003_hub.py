"""hub: architectures, weights and datasets

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 22:03:35.894530
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_architectures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("builder", sa.String(length=512), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("hub_architectures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hub_architectures_owner_id"), ["owner_id"], unique=False
        )

    op.create_table(
        "hub_datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("licence", sa.String(length=128), nullable=False),
        sa.Column("citation", sa.Text(), nullable=False),
        sa.Column("format", sa.String(length=64), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("splits", sa.JSON(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "version", name="uq_hub_datasets_name_version"),
    )
    with op.batch_alter_table("hub_datasets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hub_datasets_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_hub_datasets_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "hub_weights",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("architecture", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("file", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("training_data", sa.Text(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("licence", sa.String(length=128), nullable=False),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("architecture", "version", name="uq_hub_weights_architecture_version"),
    )
    with op.batch_alter_table("hub_weights", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hub_weights_architecture"), ["architecture"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_hub_weights_created_by_id"), ["created_by_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("hub_weights", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hub_weights_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_hub_weights_architecture"))

    op.drop_table("hub_weights")
    with op.batch_alter_table("hub_datasets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hub_datasets_owner_id"))
        batch_op.drop_index(batch_op.f("ix_hub_datasets_name"))

    op.drop_table("hub_datasets")
    with op.batch_alter_table("hub_architectures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hub_architectures_owner_id"))

    op.drop_table("hub_architectures")
