"""outsourced-warehouse portal: users held to one warehouse, and package photos of parcels

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import orderhub.core.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIME = orderhub.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("warehouse_code", sa.String(length=32), nullable=True))

    op.create_table(
        "parcel_photo",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("shipment_id", BIG_ID, nullable=False),
        sa.Column("order_no", sa.String(length=32), nullable=False),
        sa.Column("parcel_no", sa.Integer(), nullable=False),
        sa.Column("warehouse_code", sa.String(length=32), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", UTC_TIME, nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["shipment_id"], ["shipment.id"], name=op.f("fk_parcel_photo_shipment_id_shipment"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parcel_photo")),
    )
    with op.batch_alter_table("parcel_photo", schema=None) as batch_op:
        batch_op.create_index("ix_parcel_photo_shipment", ["shipment_id"], unique=False)
        batch_op.create_index("ix_parcel_photo_warehouse_at", ["warehouse_code", "uploaded_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("parcel_photo", schema=None) as batch_op:
        batch_op.drop_index("ix_parcel_photo_warehouse_at")
        batch_op.drop_index("ix_parcel_photo_shipment")
    op.drop_table("parcel_photo")
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("warehouse_code")
