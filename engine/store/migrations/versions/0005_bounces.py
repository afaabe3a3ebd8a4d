"""Bounces and complaints.

- ``sends.bounced_at``, ``sends.bounce``: a message the recipient's server
  accepted and then returned for good (a hard bounce), and what it said;
  ``sends.soft_bounces``: how many temporary bounces came back;
  ``sends.complained_at``: the recipient marked it as spam.
- ``mailbox_reports``: every message read from the bounce mailbox and what
  it did, keyed by a digest of the message so one read twice acts once.
"""

from __future__ import annotations

from typing import Optional

import sqlalchemy as sa
from alembic import op

from engine.store.migrations.columns import add_columns, drop_columns

revision: str = "0005"
down_revision: Optional[str] = "0004"


def upgrade() -> None:
    add_columns(
        "sends",
        sa.Column("bounced_at", sa.BigInteger(), nullable=True),
        sa.Column("bounce", sa.Text(), nullable=True),
        sa.Column("soft_bounces", sa.Integer(), nullable=True),
        sa.Column("complained_at", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "mailbox_reports",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("campaign_uid", sa.String(length=64), nullable=True),
        sa.Column("send_id", sa.BigInteger(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_mailbox_reports_at", "mailbox_reports", ["at"])


def downgrade() -> None:
    """Back to 0004: what the bounce mailbox said is forgotten (the suppression list keeps its entries)."""
    op.drop_index("ix_mailbox_reports_at", table_name="mailbox_reports")
    op.drop_table("mailbox_reports")
    drop_columns("sends", "complained_at", "soft_bounces", "bounce", "bounced_at")
