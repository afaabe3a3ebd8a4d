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

Self-contained on purpose, like every revision: it imports nothing from ``engine``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import Optional, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: Optional[str] = "0005"
branch_labels: Union[str, tuple[str, ...], None] = None
depends_on: Union[str, tuple[str, ...], None] = None

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
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("waits") as batch:
        batch.add_column(sa.Column("started_at", sa.BigInteger(), nullable=True))
    op.execute("INSERT INTO campaign_versions (campaign_id, number, flow_json, published_at, note)"
               " SELECT id, 1, flow_json, started_at, NULL FROM campaigns")


def downgrade() -> None:
    """Back to 0005: the campaigns keep the flow they run now; earlier versions are forgotten."""
    with op.batch_alter_table("waits") as batch:
        batch.drop_column("started_at")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("version")
    op.drop_table("campaign_versions")
