"""merged shipping (合并发货): the further orders one waybill carries, each with its own shipment

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 17:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import orderhub.core.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIME = orderhub.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "waybill_order",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("waybill_id", BIG_ID, nullable=False),
        sa.Column("order_id", BIG_ID, nullable=False),
        sa.Column("order_no", sa.String(length=32), nullable=False),
        sa.Column("shipment_id", BIG_ID, nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["sales_order.id"], name=op.f("fk_waybill_order_order_id_sales_order"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["shipment_id"], ["shipment.id"], name=op.f("fk_waybill_order_shipment_id_shipment"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["waybill_id"], ["waybill.id"], name=op.f("fk_waybill_order_waybill_id_waybill"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waybill_order")),
        sa.UniqueConstraint("waybill_id", "order_id", name=op.f("uq_waybill_order_waybill_id_order_id")),
    )
    with op.batch_alter_table("waybill_order", schema=None) as batch_op:
        batch_op.create_index("ix_waybill_order_order", ["order_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("waybill_order", schema=None) as batch_op:
        batch_op.drop_index("ix_waybill_order_order")
    op.drop_table("waybill_order")
