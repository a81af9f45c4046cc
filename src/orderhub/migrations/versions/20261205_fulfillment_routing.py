"""fulfillment routing: routing decisions with their reasons, planned shipments, warehouse SLA results and breakers

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import orderhub.core.db

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sla_result',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('warehouse_code', sa.String(length=32), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('breached', sa.Boolean(), nullable=False),
    sa.Column('at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_result')),
    sa.UniqueConstraint('warehouse_code', 'reference', name=op.f('uq_sla_result_warehouse_code_reference'))
    )
    with op.batch_alter_table('sla_result', schema=None) as batch_op:
        batch_op.create_index('ix_sla_result_warehouse_at', ['warehouse_code', 'at'], unique=False)

    op.create_table('warehouse_breaker',
    sa.Column('warehouse_code', sa.String(length=32), nullable=False),
    sa.Column('consecutive_breaches', sa.Integer(), nullable=False),
    sa.Column('tripped_until', orderhub.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('half_open', sa.Boolean(), nullable=False),
    sa.Column('trips', sa.Integer(), nullable=False),
    sa.Column('updated_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('warehouse_code', name=op.f('pk_warehouse_breaker'))
    )
    op.create_table('routing_decision',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('decided_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('applied', sa.Boolean(), nullable=False),
    sa.Column('province', sa.String(length=32), nullable=False),
    sa.Column('city', sa.String(length=32), nullable=False),
    sa.Column('weight_g', sa.Integer(), nullable=False),
    sa.Column('eta_hours', sa.Integer(), nullable=True),
    sa.Column('cost_fen', sa.Integer(), nullable=True),
    sa.Column('parcels', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('tables', sa.String(length=120), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('retry_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['sales_order.id'], name=op.f('fk_routing_decision_order_id_sales_order'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_decision')),
    sa.UniqueConstraint('order_id', 'attempt', name=op.f('uq_routing_decision_order_id_attempt'))
    )
    with op.batch_alter_table('routing_decision', schema=None) as batch_op:
        batch_op.create_index('ix_routing_decision_order_retry', ['order_id', 'retry_at'], unique=False)

    op.create_table('shipment',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('decision_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('parcel_no', sa.Integer(), nullable=False),
    sa.Column('warehouse_code', sa.String(length=32), nullable=False),
    sa.Column('carrier_code', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('weight_g', sa.Integer(), nullable=False),
    sa.Column('eta_hours', sa.Integer(), nullable=False),
    sa.Column('estimated_cost_fen', sa.Integer(), nullable=False),
    sa.Column('created_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decision_id'], ['routing_decision.id'], name=op.f('fk_shipment_decision_id_routing_decision')),
    sa.ForeignKeyConstraint(['order_id'], ['sales_order.id'], name=op.f('fk_shipment_order_id_sales_order'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment')),
    sa.UniqueConstraint('decision_id', 'parcel_no', name=op.f('uq_shipment_decision_id_parcel_no'))
    )
    with op.batch_alter_table('shipment', schema=None) as batch_op:
        batch_op.create_index('ix_shipment_order', ['order_id'], unique=False)
        batch_op.create_index('ix_shipment_warehouse_status', ['warehouse_code', 'status'], unique=False)

    op.create_table('shipment_line',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shipment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipment.id'], name=op.f('fk_shipment_line_shipment_id_shipment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment_line'))
    )
    with op.batch_alter_table('shipment_line', schema=None) as batch_op:
        batch_op.create_index('ix_shipment_line_shipment', ['shipment_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('shipment_line', schema=None) as batch_op:
        batch_op.drop_index('ix_shipment_line_shipment')

    op.drop_table('shipment_line')
    with op.batch_alter_table('shipment', schema=None) as batch_op:
        batch_op.drop_index('ix_shipment_warehouse_status')
        batch_op.drop_index('ix_shipment_order')

    op.drop_table('shipment')
    with op.batch_alter_table('routing_decision', schema=None) as batch_op:
        batch_op.drop_index('ix_routing_decision_order_retry')

    op.drop_table('routing_decision')
    op.drop_table('warehouse_breaker')
    with op.batch_alter_table('sla_result', schema=None) as batch_op:
        batch_op.drop_index('ix_sla_result_warehouse_at')

    op.drop_table('sla_result')
