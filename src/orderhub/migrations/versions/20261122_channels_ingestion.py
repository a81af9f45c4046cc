"""channels ingestion

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:00:01.494398
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import orderhub.core.db

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('job_lease',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('holder', sa.String(length=128), nullable=False),
    sa.Column('expires_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_job_lease'))
    )
    op.create_table('platform_sku_mapping',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('platform_sku', sa.String(length=64), nullable=False),
    sa.Column('sku_code', sa.String(length=64), nullable=False),
    sa.Column('created_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_sku_mapping')),
    sa.UniqueConstraint('channel', 'platform_sku', name=op.f('uq_platform_sku_mapping_channel_platform_sku'))
    )
    op.create_table('channel_call',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('error_code', sa.String(length=64), nullable=False),
    sa.Column('latency_ms', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], name=op.f('fk_channel_call_shop_id_shop')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_call'))
    )
    op.create_index('ix_channel_call_shop_at', 'channel_call', ['shop_id', 'at'], unique=False)
    op.create_table('dead_letter',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('reason_code', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('channel_order_id', sa.String(length=64), nullable=False),
    sa.Column('raw_body', sa.Text(), nullable=False),
    sa.Column('corrected_body', sa.Text(), nullable=True),
    sa.Column('received_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('order_no', sa.String(length=32), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], name=op.f('fk_dead_letter_shop_id_shop')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dead_letter'))
    )
    op.create_index('ix_dead_letter_status_received', 'dead_letter', ['status', 'received_at'], unique=False)
    op.create_table('inbound_message',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('message_id', sa.String(length=128), nullable=False),
    sa.Column('received_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('channel_order_id', sa.String(length=64), nullable=False),
    sa.Column('fetch_pending', sa.Boolean(), nullable=False),
    sa.Column('fetch_attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], name=op.f('fk_inbound_message_shop_id_shop')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_message')),
    sa.UniqueConstraint('shop_id', 'message_id', name=op.f('uq_inbound_message_shop_id_message_id'))
    )
    op.create_index('ix_inbound_message_fetch_pending', 'inbound_message', ['fetch_pending', 'id'], unique=False)
    op.create_table('pull_cursor',
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('modified_until', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_run_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], name=op.f('fk_pull_cursor_shop_id_shop')),
    sa.PrimaryKeyConstraint('shop_id', name=op.f('pk_pull_cursor'))
    )
    op.create_table('dead_letter_action',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('dead_letter_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=500), nullable=False),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['dead_letter_id'], ['dead_letter.id'], name=op.f('fk_dead_letter_action_dead_letter_id_dead_letter')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dead_letter_action'))
    )
    op.create_index(op.f('ix_dead_letter_action_dead_letter_id'), 'dead_letter_action', ['dead_letter_id'], unique=False)
    op.add_column('outbox_event', sa.Column('next_attempt_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column('outbox_event', sa.Column('failed_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=True))
    op.create_index('ix_outbox_event_topic_due', 'outbox_event', ['topic', 'published_at', 'next_attempt_at'], unique=False)
    op.add_column('sales_order', sa.Column('content_hash', sa.String(length=64), nullable=False, server_default=''))
    op.add_column('sales_order', sa.Column('pii_pending_decryption', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('shop', sa.Column('app_key', sa.String(length=128), nullable=False, server_default=''))
    op.add_column('shop', sa.Column('app_secret_encrypted', sa.Text(), nullable=False, server_default=''))
    op.add_column('shop', sa.Column('access_token_encrypted', sa.Text(), nullable=False, server_default=''))
    op.add_column('shop', sa.Column('api_base_url', sa.String(length=255), nullable=False, server_default=''))
    op.add_column('shop', sa.Column('credentials_rotated_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column('shop', sa.Column('pull_enabled', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('shop', sa.Column('promotion_mode', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column('shop', 'promotion_mode')
    op.drop_column('shop', 'pull_enabled')
    op.drop_column('shop', 'credentials_rotated_at')
    op.drop_column('shop', 'api_base_url')
    op.drop_column('shop', 'access_token_encrypted')
    op.drop_column('shop', 'app_secret_encrypted')
    op.drop_column('shop', 'app_key')
    op.drop_column('sales_order', 'pii_pending_decryption')
    op.drop_column('sales_order', 'content_hash')
    op.drop_index('ix_outbox_event_topic_due', table_name='outbox_event')
    op.drop_column('outbox_event', 'failed_at')
    op.drop_column('outbox_event', 'next_attempt_at')
    op.drop_index(op.f('ix_dead_letter_action_dead_letter_id'), table_name='dead_letter_action')
    op.drop_table('dead_letter_action')
    op.drop_table('pull_cursor')
    op.drop_index('ix_inbound_message_fetch_pending', table_name='inbound_message')
    op.drop_table('inbound_message')
    op.drop_index('ix_dead_letter_status_received', table_name='dead_letter')
    op.drop_table('dead_letter')
    op.drop_index('ix_channel_call_shop_at', table_name='channel_call')
    op.drop_table('channel_call')
    op.drop_table('platform_sku_mapping')
    op.drop_table('job_lease')
