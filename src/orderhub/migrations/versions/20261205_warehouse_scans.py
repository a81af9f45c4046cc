"""warehouse scans: scanner events stored once per device and client event id (with their conflicts), and
carrier interceptions of shipped waybills; shipments gain the statuses picking, picked, packed and shipped
(a plain string column: no schema change)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import orderhub.core.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIME = orderhub.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "warehouse_scan",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("client_event_id", sa.String(length=64), nullable=False),
        sa.Column("warehouse_code", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("waybill_no", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("shipment_id", BIG_ID, nullable=True),
        sa.Column("order_no", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", UTC_TIME, nullable=False),
        sa.Column("received_at", UTC_TIME, nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["shipment_id"], ["shipment.id"], name=op.f("fk_warehouse_scan_shipment_id_shipment"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warehouse_scan")),
        sa.UniqueConstraint("device_id", "client_event_id",
                            name=op.f("uq_warehouse_scan_device_id_client_event_id")),
    )
    with op.batch_alter_table("warehouse_scan", schema=None) as batch_op:
        batch_op.create_index("ix_warehouse_scan_shipment", ["shipment_id", "occurred_at"], unique=False)
        batch_op.create_index("ix_warehouse_scan_outcome", ["outcome", "id"], unique=False)

    op.create_table(
        "waybill_interception",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("waybill_id", BIG_ID, nullable=False),
        sa.Column("order_no", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", UTC_TIME, nullable=False),
        sa.Column("resolved_at", UTC_TIME, nullable=True),
        sa.Column("resolution", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["waybill_id"], ["waybill.id"],
                                name=op.f("fk_waybill_interception_waybill_id_waybill"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waybill_interception")),
        sa.UniqueConstraint("waybill_id", name=op.f("uq_waybill_interception_waybill_id")),
    )
    with op.batch_alter_table("waybill_interception", schema=None) as batch_op:
        batch_op.create_index("ix_waybill_interception_state", ["state", "requested_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("waybill_interception", schema=None) as batch_op:
        batch_op.drop_index("ix_waybill_interception_state")
    op.drop_table("waybill_interception")
    with op.batch_alter_table("warehouse_scan", schema=None) as batch_op:
        batch_op.drop_index("ix_warehouse_scan_outcome")
        batch_op.drop_index("ix_warehouse_scan_shipment")
    op.drop_table("warehouse_scan")
