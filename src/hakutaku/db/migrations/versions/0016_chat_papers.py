"""chat papers: the papers attached to a conversation, the passages cited by an answer

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-04 03:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "chat_conversations",
        sa.Column("paper_ids", sa.JSON(), nullable=False, server_default="[]"),
    )
    op.add_column("chat_messages", sa.Column("passages", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("chat_messages", "passages")
    op.drop_column("chat_conversations", "paper_ids")
