"""after-sales: cases with their lines and timeline, and each order's refunded total

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import orderhub.core.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "aftersales_case",
        sa.Column("id", _ID, nullable=False),
        sa.Column("case_no", sa.String(length=32), nullable=False),
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("order_no", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("needs_interception", sa.Boolean(), nullable=False),
        sa.Column("shipping_refund_fen", sa.Integer(), nullable=False),
        sa.Column("refund_fen", sa.Integer(), nullable=False),
        sa.Column("replacement_receiver", _JSON, nullable=True),
        sa.Column("replacement_order_no", sa.String(length=32), nullable=True),
        sa.Column("return_warehouse", sa.String(length=32), nullable=True),
        sa.Column("restock", sa.String(length=8), nullable=False),
        sa.Column("channel_status", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aftersales_case")),
        sa.UniqueConstraint("case_no", name=op.f("uq_aftersales_case_case_no")),
    )
    op.create_index("ix_aftersales_case_created", "aftersales_case", ["created_at", "id"], unique=False)
    op.create_index("ix_aftersales_case_order", "aftersales_case", ["order_id", "id"], unique=False)
    op.create_index("ix_aftersales_case_status_created", "aftersales_case", ["status", "created_at", "id"],
                    unique=False)
    op.create_table(
        "aftersales_order_refund",
        sa.Column("order_id", _ID, autoincrement=False, nullable=False),
        sa.Column("order_no", sa.String(length=32), nullable=False),
        sa.Column("refunded_fen", sa.Integer(), nullable=False),
        sa.Column("updated_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_aftersales_order_refund")),
    )
    op.create_table(
        "aftersales_event",
        sa.Column("id", _ID, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["aftersales_case.id"],
                                name=op.f("fk_aftersales_event_case_id_aftersales_case"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aftersales_event")),
    )
    op.create_index("ix_aftersales_event_case", "aftersales_event", ["case_id", "id"], unique=False)
    op.create_table(
        "aftersales_line",
        sa.Column("id", _ID, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("order_line_id", _ID, nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("refund_fen", sa.Integer(), nullable=False),
        sa.Column("exchange_sku", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["aftersales_case.id"],
                                name=op.f("fk_aftersales_line_case_id_aftersales_case"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aftersales_line")),
        sa.UniqueConstraint("case_id", "line_no", name=op.f("uq_aftersales_line_case_id_line_no")),
    )
    op.create_index("ix_aftersales_line_order_line", "aftersales_line", ["order_line_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_aftersales_line_order_line", table_name="aftersales_line")
    op.drop_table("aftersales_line")
    op.drop_index("ix_aftersales_event_case", table_name="aftersales_event")
    op.drop_table("aftersales_event")
    op.drop_table("aftersales_order_refund")
    op.drop_index("ix_aftersales_case_status_created", table_name="aftersales_case")
    op.drop_index("ix_aftersales_case_order", table_name="aftersales_case")
    op.drop_index("ix_aftersales_case_created", table_name="aftersales_case")
    op.drop_table("aftersales_case")
