"""Release 0.1's schema, exactly as its ``create_all`` made it.

Databases made by release 0.1 have no ``alembic_version`` table; they are
stamped with this revision when first opened (``engine.store.schema``), so
every later revision starts from the same tables. Never edit this file: it
is what those databases hold. ``tests/store/test_migrations.py`` compares it
with ``tests/fixtures/release-0.1.sqlite``.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import Optional, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: Optional[str] = None
branch_labels: Union[str, tuple[str, ...], None] = None
depends_on: Union[str, tuple[str, ...], None] = None


def upgrade() -> None:
    op.create_table('campaigns',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('flow_json', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('delivery', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.BigInteger(), nullable=False),
    sa.Column('complete_at', sa.BigInteger(), nullable=True),
    sa.Column('open_tracked', sa.BigInteger(), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('engine_counters',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('id_counters',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('next_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('mailbox_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.Column('mail_from', sa.String(length=998), nullable=False),
    sa.Column('rcpt_tos', sa.JSON(), nullable=False),
    sa.Column('message_id', sa.String(length=998), nullable=True),
    sa.Column('subject', sa.String(length=998), nullable=True),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_mailbox_messages_message_id'), 'mailbox_messages', ['message_id'], unique=False)
    op.create_index(op.f('ix_mailbox_messages_received_at'), 'mailbox_messages', ['received_at'], unique=False)
    op.create_table('unsubscribes',
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('campaign_id', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('email')
    )
    op.create_table('edge_counts',
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('node', sa.String(length=100), nullable=False),
    sa.Column('port', sa.String(length=8), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.PrimaryKeyConstraint('campaign_id', 'node', 'port')
    )
    op.create_table('events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lead_id', sa.BigInteger(), nullable=True),
    sa.Column('lead_key', sa.String(length=320), nullable=True),
    sa.Column('type', sa.String(length=8), nullable=False),
    sa.Column('node', sa.String(length=100), nullable=True),
    sa.Column('send_id', sa.BigInteger(), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('triggered', sa.Text(), nullable=False),
    sa.Column('handled_at', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_events_pending', 'events', ['campaign_id', 'state', 'at'], unique=False)
    op.create_table('leads',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=320), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('unsubscribed_at', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('campaign_id', 'key')
    )
    op.create_table('listeners',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lead_id', sa.BigInteger(), nullable=False),
    sa.Column('token_id', sa.BigInteger(), nullable=False),
    sa.Column('condition', sa.String(length=100), nullable=False),
    sa.Column('send_id', sa.BigInteger(), nullable=False),
    sa.Column('event', sa.String(length=8), nullable=False),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('since', sa.BigInteger(), nullable=False),
    sa.Column('until', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('triggered_token', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_listeners_lead_state', 'listeners', ['lead_id', 'state'], unique=False)
    op.create_table('skips',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lead_id', sa.BigInteger(), nullable=False),
    sa.Column('token_id', sa.BigInteger(), nullable=False),
    sa.Column('node', sa.String(length=100), nullable=False),
    sa.Column('send_id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_skips_campaign_id'), 'skips', ['campaign_id'], unique=False)
    op.create_table('waits',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_id', sa.BigInteger(), nullable=False),
    sa.Column('lead_id', sa.BigInteger(), nullable=False),
    sa.Column('node', sa.String(length=100), nullable=False),
    sa.Column('due_at', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('fired_at', sa.BigInteger(), nullable=True),
    sa.Column('job_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_waits_due', 'waits', ['campaign_id', 'state', 'due_at'], unique=False)
    op.create_index(op.f('ix_waits_lead_id'), 'waits', ['lead_id'], unique=False)
    op.create_table('sends',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_id', sa.BigInteger(), nullable=False),
    sa.Column('node', sa.String(length=100), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('message_id', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.BigInteger(), nullable=True),
    sa.Column('claimed_until', sa.BigInteger(), nullable=True),
    sa.Column('sent_at', sa.BigInteger(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('opened_at', sa.BigInteger(), nullable=True),
    sa.Column('clicked_at', sa.BigInteger(), nullable=True),
    sa.Column('clicked_urls', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('lead_id', 'node')
    )
    op.create_index('ix_sends_outbox', 'sends', ['status', 'next_attempt_at'], unique=False)
    op.create_table('tokens',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('parent_id', sa.BigInteger(), nullable=True),
    sa.Column('node', sa.String(length=100), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('tracked', sa.Boolean(), nullable=False),
    sa.Column('path', sa.Text(), nullable=True),
    sa.Column('last_send', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('finished_at', sa.BigInteger(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_tokens_campaign_id'), 'tokens', ['campaign_id'], unique=False)
    op.create_index('ix_tokens_lead_state', 'tokens', ['lead_id', 'state'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_tokens_lead_state', table_name='tokens')
    op.drop_index(op.f('ix_tokens_campaign_id'), table_name='tokens')
    op.drop_table('tokens')
    op.drop_index('ix_sends_outbox', table_name='sends')
    op.drop_table('sends')
    op.drop_index(op.f('ix_waits_lead_id'), table_name='waits')
    op.drop_index('ix_waits_due', table_name='waits')
    op.drop_table('waits')
    op.drop_index(op.f('ix_skips_campaign_id'), table_name='skips')
    op.drop_table('skips')
    op.drop_index('ix_listeners_lead_state', table_name='listeners')
    op.drop_table('listeners')
    op.drop_table('leads')
    op.drop_index('ix_events_pending', table_name='events')
    op.drop_table('events')
    op.drop_table('edge_counts')
    op.drop_table('unsubscribes')
    op.drop_index(op.f('ix_mailbox_messages_received_at'), table_name='mailbox_messages')
    op.drop_index(op.f('ix_mailbox_messages_message_id'), table_name='mailbox_messages')
    op.drop_table('mailbox_messages')
    op.drop_table('id_counters')
    op.drop_table('engine_counters')
    op.drop_table('campaigns')
