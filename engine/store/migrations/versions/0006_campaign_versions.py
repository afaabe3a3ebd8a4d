"""Versions of a running campaign's flow (SEMANTICS 11).

- ``campaign_versions``: every flow a campaign has run, numbered from 1,
  with when it was published, a short note, and what publishing it did to
  the leads in flight (JSON). Existing campaigns get their flow as version 1,
  published when they started.
- ``campaigns.version``: the number of the version the campaign runs now
  (``campaigns.flow_json`` stays that version's flow).
- ``waits.started_at``: when the token began to wait, so a wait whose
  duration is changed keeps its start (NULL for waits made before 0006: the
  start is then their due instant less the duration they were made with).
"""

from __future__ import annotations

from typing import Optional

import sqlalchemy as sa
from alembic import op

from engine.store.migrations.columns import add_columns, drop_columns

revision: str = "0006"
down_revision: Optional[str] = "0005"

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "campaign_versions",
        sa.Column("id", Id, nullable=False),
        sa.Column("campaign_id", Id, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("flow_json", sa.Text(), nullable=False),
        sa.Column("published_at", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("changes", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "number"),
    )
    add_columns("campaigns", sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    add_columns("waits", sa.Column("started_at", sa.BigInteger(), nullable=True))
    op.execute("INSERT INTO campaign_versions (campaign_id, number, flow_json, published_at, note)"
               " SELECT id, 1, flow_json, started_at, NULL FROM campaigns")


def downgrade() -> None:
    """Back to 0005: the campaigns keep the flow they run now; earlier versions are forgotten."""
    drop_columns("waits", "started_at")
    drop_columns("campaigns", "version")
    op.drop_table("campaign_versions")
