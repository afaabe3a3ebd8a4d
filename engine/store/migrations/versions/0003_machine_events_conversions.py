"""Machine events and conversions.

- ``events.machine``: an open or click made by a machine (a mail privacy
  proxy that loads every pixel, a link scanner that follows every link) is
  recorded as such (SEMANTICS 5); every existing event was counted as human.
- ``sends.machine_opened_at``, ``machine_clicked_at``, ``machine_clicked_urls``:
  what machines did with a send, beside what the lead did (``opened_at``...),
  so a condition that counts machine events can see them and one that does
  not never does.
- ``leads.converted_at``: when the lead reached the campaign's goal
  (SEMANTICS 10); recorded once.

Self-contained on purpose, like every revision: it imports nothing from ``engine``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import Optional, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Optional[str] = "0002"
branch_labels: Union[str, tuple[str, ...], None] = None
depends_on: Union[str, tuple[str, ...], None] = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("machine", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("sends") as batch:
        batch.add_column(sa.Column("machine_opened_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("machine_clicked_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("machine_clicked_urls", sa.Text(), nullable=True))
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("converted_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Back to 0002: machine events become indistinguishable, so they go (0002
    would count them as the lead's own); conversions are forgotten."""
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM events WHERE machine"))
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("converted_at")
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("machine_clicked_urls")
        batch.drop_column("machine_clicked_at")
        batch.drop_column("machine_opened_at")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("machine")
