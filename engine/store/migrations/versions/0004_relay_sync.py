"""Events synced from the public tracking relay.

- ``events.relay_key``: ``<relay uid>:<relay event id>`` for an event pulled
  from the relay (NULL for every other event), unique, so an event pulled
  twice (a retried pull, two engine processes syncing at once) is recorded
  once.
- ``relay_cursors``: per relay, the last relay event id recorded here, when
  the last pull succeeded and how many events the relay still held for us.
  The cursor moves in the same transaction as the events it covers.
"""

from __future__ import annotations

from typing import Optional

import sqlalchemy as sa
from alembic import op

from engine.store.migrations.columns import add_columns, drop_columns

revision: str = "0004"
down_revision: Optional[str] = "0003"


def upgrade() -> None:
    add_columns("events", sa.Column("relay_key", sa.String(length=64), nullable=True))
    op.create_index("ix_events_relay_key", "events", ["relay_key"], unique=True)
    op.create_table(
        "relay_cursors",
        sa.Column("relay", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("synced_at", sa.BigInteger(), nullable=True),
        sa.Column("waiting", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("relay"),
    )


def downgrade() -> None:
    """Back to 0003: synced events stay (they are ordinary events); only their keys and the cursors go."""
    op.drop_table("relay_cursors")
    op.drop_index("ix_events_relay_key", table_name="events")
    drop_columns("events", "relay_key")
