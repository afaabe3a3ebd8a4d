"""Bounces and complaints.

- ``sends.bounced_at``, ``sends.bounce``: a message the recipient's server
  accepted and then returned for good (a hard bounce), and what it said;
  ``sends.soft_bounces``: how many temporary bounces came back;
  ``sends.complained_at``: the recipient marked it as spam.
- ``mailbox_reports``: every message read from the bounce mailbox and what
  it did, keyed by a digest of the message so one read twice acts once.

Self-contained on purpose, like every revision: it imports nothing from ``engine``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import Optional, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: Optional[str] = "0004"
branch_labels: Union[str, tuple[str, ...], None] = None
depends_on: Union[str, tuple[str, ...], None] = None


def upgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.add_column(sa.Column("bounced_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("bounce", sa.Text(), nullable=True))
        batch.add_column(sa.Column("soft_bounces", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("complained_at", sa.BigInteger(), nullable=True))
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
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("complained_at")
        batch.drop_column("soft_bounces")
        batch.drop_column("bounce")
        batch.drop_column("bounced_at")
