"""Campaign uids, the suppression list, skip reasons, runtime status.

- ``campaigns.uid``: a world-unique id for tracking tokens and Message-IDs
  (SEMANTICS 12); every existing campaign gets a random one.
- ``suppressions`` replaces ``unsubscribes``: each unsubscribed address moves
  over with reason ``unsubscribe``, its time, and the uid of the campaign it
  came from; addresses are stored lower-cased and stripped, so two spellings
  of one address become one entry (the earliest).
- ``skips.reason`` (``already-sent`` for every existing skip, the only kind
  release 0.1 made) and ``skips.send_id`` nullable: a suppressed lead is
  skipped with nothing ever sent.
- ``events.type`` 16 characters long: an event is also what became of a
  send (``delivered``, ``send_skipped``, ``send_failed``), not only what the
  lead did.
- ``runtime_status``: what an engine process says about itself.

This file is self-contained on purpose: it must keep working when the code it
was written beside has changed, so it imports nothing from ``engine``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import secrets
from typing import Optional, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Optional[str] = "0001"
branch_labels: Union[str, tuple[str, ...], None] = None
depends_on: Union[str, tuple[str, ...], None] = None

campaigns = sa.table("campaigns", sa.column("id", sa.BigInteger), sa.column("uid", sa.String))
unsubscribes = sa.table("unsubscribes", sa.column("email", sa.String), sa.column("at", sa.BigInteger),
                        sa.column("campaign_id", sa.BigInteger))
suppressions = sa.table("suppressions", sa.column("email", sa.String), sa.column("reason", sa.String),
                        sa.column("at", sa.BigInteger), sa.column("campaign_uid", sa.String),
                        sa.column("note", sa.Text))
skips = sa.table("skips", sa.column("reason", sa.String))


def upgrade() -> None:
    bind = op.get_bind()

    op.add_column("campaigns", sa.Column("uid", sa.String(length=32), nullable=True))
    for (campaign_id,) in bind.execute(sa.select(campaigns.c.id)).all():
        bind.execute(campaigns.update().where(campaigns.c.id == campaign_id)
                     .values(uid=secrets.token_urlsafe(16)))
    with op.batch_alter_table("campaigns") as batch:
        batch.alter_column("uid", existing_type=sa.String(length=32), nullable=False)
    op.create_index(op.f("ix_campaigns_uid"), "campaigns", ["uid"], unique=True)

    op.create_table(
        "suppressions",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("campaign_uid", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("email"),
    )
    uids = dict(bind.execute(sa.select(campaigns.c.id, campaigns.c.uid)).all())
    moved: dict[str, dict] = {}
    rows = bind.execute(sa.select(unsubscribes.c.email, unsubscribes.c.at, unsubscribes.c.campaign_id)
                        .order_by(unsubscribes.c.at)).all()
    for email, at, campaign_id in rows:
        address = email.strip().lower()
        if address and address not in moved:
            moved[address] = {"email": address, "reason": "unsubscribe", "at": at,
                              "campaign_uid": uids.get(campaign_id), "note": None}
    if moved:
        bind.execute(suppressions.insert(), list(moved.values()))
    op.drop_table("unsubscribes")

    op.add_column("skips", sa.Column("reason", sa.String(length=32), nullable=True))
    bind.execute(skips.update().values(reason="already-sent"))
    with op.batch_alter_table("skips") as batch:
        batch.alter_column("send_id", existing_type=sa.BigInteger(), nullable=True)

    with op.batch_alter_table("events") as batch:
        batch.alter_column("type", existing_type=sa.String(length=8), type_=sa.String(length=16),
                           existing_nullable=False)

    op.create_table(
        "runtime_status",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    """Back to release 0.1's tables: unsubscribes come back from the list; other
    suppressions, skip reasons and campaign uids are dropped, since 0.1 has no
    place for them."""
    bind = op.get_bind()
    op.drop_table("runtime_status")
    # Events release 0.1 cannot hold (what became of a send) go with the column's length.
    bind.execute(sa.text("DELETE FROM events WHERE length(type) > 8"))
    with op.batch_alter_table("events") as batch:
        batch.alter_column("type", existing_type=sa.String(length=16), type_=sa.String(length=8),
                           existing_nullable=False)

    # Skips of suppressed leads have no send: release 0.1 cannot hold them.
    bind.execute(sa.text("DELETE FROM skips WHERE send_id IS NULL"))
    with op.batch_alter_table("skips") as batch:
        batch.alter_column("send_id", existing_type=sa.BigInteger(), nullable=False)
        batch.drop_column("reason")

    op.create_table(
        "unsubscribes",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("email"),
    )
    ids = {uid: campaign_id for campaign_id, uid in bind.execute(sa.select(campaigns.c.id, campaigns.c.uid))}
    rows = bind.execute(sa.select(suppressions.c.email, suppressions.c.at, suppressions.c.campaign_uid)
                        .where(suppressions.c.reason == "unsubscribe")).all()
    if rows:
        bind.execute(unsubscribes.insert(), [{"email": email, "at": at, "campaign_id": ids.get(uid)}
                                             for email, at, uid in rows])
    op.drop_table("suppressions")

    op.drop_index(op.f("ix_campaigns_uid"), table_name="campaigns")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("uid")
