"""inventory ledger: bundles, warehouse regions, stock balances, ledger, reservations, transfers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 10:54:03.229727
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import orderhub.core.db

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('stock_operation',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('created_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_operation')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_stock_operation_idempotency_key'))
    )
    op.create_table('sku_component',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('bundle_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('component_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.CheckConstraint('qty > 0', name=op.f('ck_sku_component_qty_positive')),
    sa.ForeignKeyConstraint(['bundle_id'], ['sku.id'], name=op.f('fk_sku_component_bundle_id_sku')),
    sa.ForeignKeyConstraint(['component_id'], ['sku.id'], name=op.f('fk_sku_component_component_id_sku')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sku_component')),
    sa.UniqueConstraint('bundle_id', 'component_id', name=op.f('uq_sku_component_bundle_id_component_id'))
    )
    op.create_table('sku_stock',
    sa.Column('sku_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('on_hand', sa.Integer(), nullable=False),
    sa.Column('reserved', sa.Integer(), nullable=False),
    sa.Column('in_transit', sa.Integer(), nullable=False),
    sa.Column('safety', sa.Integer(), nullable=False),
    sa.Column('warehouse_safety', sa.Integer(), nullable=False),
    sa.Column('low', sa.Boolean(), nullable=False),
    sa.Column('change_count', sa.Integer(), nullable=False),
    sa.Column('changed_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('synced_count', sa.Integer(), nullable=False),
    sa.Column('synced_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('in_transit >= 0 AND safety >= 0 AND warehouse_safety >= 0', name=op.f('ck_sku_stock_non_negative')),
    sa.CheckConstraint('reserved >= 0 AND on_hand >= reserved', name=op.f('ck_sku_stock_never_oversold')),
    sa.ForeignKeyConstraint(['sku_id'], ['sku.id'], name=op.f('fk_sku_stock_sku_id_sku')),
    sa.PrimaryKeyConstraint('sku_id', name=op.f('pk_sku_stock'))
    )
    op.create_table('stock_ledger',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sku_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('warehouse_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('on_hand_delta', sa.Integer(), nullable=False),
    sa.Column('reserved_delta', sa.Integer(), nullable=False),
    sa.Column('in_transit_delta', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('operation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['operation_id'], ['stock_operation.id'], name=op.f('fk_stock_ledger_operation_id_stock_operation')),
    sa.ForeignKeyConstraint(['sku_id'], ['sku.id'], name=op.f('fk_stock_ledger_sku_id_sku')),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouse.id'], name=op.f('fk_stock_ledger_warehouse_id_warehouse')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_ledger'))
    )
    with op.batch_alter_table('stock_ledger', schema=None) as batch_op:
        batch_op.create_index('ix_stock_ledger_sku_created', ['sku_id', 'created_at', 'id'], unique=False)

    op.create_table('stock_reservation',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('sku_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('warehouse_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('expires_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('qty > 0', name=op.f('ck_stock_reservation_qty_positive')),
    sa.ForeignKeyConstraint(['sku_id'], ['sku.id'], name=op.f('fk_stock_reservation_sku_id_sku')),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouse.id'], name=op.f('fk_stock_reservation_warehouse_id_warehouse')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_reservation'))
    )
    with op.batch_alter_table('stock_reservation', schema=None) as batch_op:
        batch_op.create_index('ix_stock_reservation_order', ['order_id'], unique=False)
        batch_op.create_index('ix_stock_reservation_state_expires', ['state', 'expires_at'], unique=False)

    op.create_table('stock_transfer',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sku_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('from_warehouse_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('to_warehouse_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('created_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('arrived_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('qty > 0', name=op.f('ck_stock_transfer_qty_positive')),
    sa.ForeignKeyConstraint(['from_warehouse_id'], ['warehouse.id'], name=op.f('fk_stock_transfer_from_warehouse_id_warehouse')),
    sa.ForeignKeyConstraint(['sku_id'], ['sku.id'], name=op.f('fk_stock_transfer_sku_id_sku')),
    sa.ForeignKeyConstraint(['to_warehouse_id'], ['warehouse.id'], name=op.f('fk_stock_transfer_to_warehouse_id_warehouse')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_transfer'))
    )
    op.create_table('stock_share',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sku_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('percent', sa.Integer(), nullable=False),
    sa.Column('starts_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('phase', sa.String(length=12), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('created_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('percent > 0 AND percent <= 100', name=op.f('ck_stock_share_percent_range')),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], name=op.f('fk_stock_share_shop_id_shop')),
    sa.ForeignKeyConstraint(['sku_id'], ['sku.id'], name=op.f('fk_stock_share_sku_id_sku')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_share'))
    )
    with op.batch_alter_table('stock_share', schema=None) as batch_op:
        batch_op.create_index('ix_stock_share_ends', ['ends_at'], unique=False)

    op.create_table('stock_sync_state',
    sa.Column('shop_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('platform_sku', sa.String(length=64), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('synced_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], name=op.f('fk_stock_sync_state_shop_id_shop')),
    sa.PrimaryKeyConstraint('shop_id', 'platform_sku', name=op.f('pk_stock_sync_state'))
    )
    op.create_table('warehouse_stock',
    sa.Column('sku_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('warehouse_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('on_hand', sa.Integer(), nullable=False),
    sa.Column('reserved', sa.Integer(), nullable=False),
    sa.Column('in_transit', sa.Integer(), nullable=False),
    sa.Column('safety', sa.Integer(), nullable=False),
    sa.CheckConstraint('in_transit >= 0 AND safety >= 0', name=op.f('ck_warehouse_stock_non_negative')),
    sa.CheckConstraint('reserved >= 0 AND on_hand >= reserved', name=op.f('ck_warehouse_stock_never_oversold')),
    sa.ForeignKeyConstraint(['sku_id'], ['sku.id'], name=op.f('fk_warehouse_stock_sku_id_sku')),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouse.id'], name=op.f('fk_warehouse_stock_warehouse_id_warehouse')),
    sa.PrimaryKeyConstraint('sku_id', 'warehouse_id', name=op.f('pk_warehouse_stock'))
    )
    with op.batch_alter_table('sku', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_bundle', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('warehouse', schema=None) as batch_op:
        batch_op.add_column(sa.Column('regions', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('owner', sa.String(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()))



def downgrade() -> None:
    with op.batch_alter_table('warehouse', schema=None) as batch_op:
        batch_op.drop_column('active')
        batch_op.drop_column('owner')
        batch_op.drop_column('regions')

    with op.batch_alter_table('sku', schema=None) as batch_op:
        batch_op.drop_column('is_bundle')

    op.drop_table('warehouse_stock')
    op.drop_table('stock_sync_state')
    with op.batch_alter_table('stock_share', schema=None) as batch_op:
        batch_op.drop_index('ix_stock_share_ends')

    op.drop_table('stock_share')
    op.drop_table('stock_transfer')
    with op.batch_alter_table('stock_reservation', schema=None) as batch_op:
        batch_op.drop_index('ix_stock_reservation_state_expires')
        batch_op.drop_index('ix_stock_reservation_order')

    op.drop_table('stock_reservation')
    with op.batch_alter_table('stock_ledger', schema=None) as batch_op:
        batch_op.drop_index('ix_stock_ledger_sku_created')

    op.drop_table('stock_ledger')
    op.drop_table('sku_stock')
    op.drop_table('sku_component')
    op.drop_table('stock_operation')
