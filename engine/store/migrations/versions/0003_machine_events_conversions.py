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
"""

from __future__ import annotations

from typing import Optional

import sqlalchemy as sa
from alembic import op

from engine.store.migrations.columns import add_columns, drop_columns

revision: str = "0003"
down_revision: Optional[str] = "0002"


def upgrade() -> None:
    add_columns("events", sa.Column("machine", sa.Boolean(), nullable=False, server_default=sa.false()))
    add_columns(
        "sends",
        sa.Column("machine_opened_at", sa.BigInteger(), nullable=True),
        sa.Column("machine_clicked_at", sa.BigInteger(), nullable=True),
        sa.Column("machine_clicked_urls", sa.Text(), nullable=True),
    )
    add_columns("leads", sa.Column("converted_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Back to 0002: machine events become indistinguishable, so they go (0002
    would count them as the lead's own); conversions are forgotten."""
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM events WHERE machine"))
    drop_columns("leads", "converted_at")
    drop_columns("sends", "machine_clicked_urls", "machine_clicked_at", "machine_opened_at")
    drop_columns("events", "machine")
