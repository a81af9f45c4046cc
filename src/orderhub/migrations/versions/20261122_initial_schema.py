"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 05:43:01.592240
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import orderhub.core.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("username", name=op.f("uq_app_user_username")),
    )
    op.create_table(
        "outbox_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_event")),
    )
    op.create_index("ix_outbox_event_pending", "outbox_event", ["published_at", "id"], unique=False)
    op.create_table(
        "shop",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("cross_border", sa.Boolean(), nullable=False),
        sa.Column("created_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop")),
        sa.UniqueConstraint("channel", "code", name=op.f("uq_shop_channel_code")),
    )
    op.create_table(
        "sku",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("spec", sa.String(length=100), nullable=False),
        sa.Column("weight_g", sa.Integer(), nullable=False),
        sa.Column("cost_price_fen", sa.Integer(), nullable=False),
        sa.Column("list_price_fen", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sku")),
        sa.UniqueConstraint("code", name=op.f("uq_sku_code")),
    )
    op.create_table(
        "warehouse",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("province", sa.String(length=32), nullable=False),
        sa.Column("city", sa.String(length=32), nullable=False),
        sa.Column("created_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warehouse")),
        sa.UniqueConstraint("code", name=op.f("uq_warehouse_code")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_api_token_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_table(
        "console_session",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_console_session_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_session")),
        sa.UniqueConstraint("session_hash", name=op.f("uq_console_session_session_hash")),
    )
    op.create_table(
        "sales_order",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_no", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel_order_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("channel_status", sa.String(length=64), nullable=False),
        sa.Column("hold_reason", sa.String(length=500), nullable=True),
        sa.Column("held_from", sa.String(length=20), nullable=True),
        sa.Column("refund_from", sa.String(length=20), nullable=True),
        sa.Column("source_type", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("customer_name", sa.String(length=100), nullable=False),
        sa.Column("customer_phone", sa.String(length=32), nullable=False),
        sa.Column("receiver_name", sa.String(length=100), nullable=False),
        sa.Column("receiver_phone", sa.String(length=32), nullable=False),
        sa.Column("receiver_phone_kind", sa.String(length=16), nullable=False),
        sa.Column("receiver_province", sa.String(length=32), nullable=False),
        sa.Column("receiver_city", sa.String(length=32), nullable=False),
        sa.Column("receiver_district", sa.String(length=32), nullable=False),
        sa.Column("receiver_address", sa.String(length=255), nullable=False),
        sa.Column("receiver_adcode", sa.String(length=12), nullable=False),
        sa.Column("id_card", sa.String(length=18), nullable=False),
        sa.Column("goods_amount_fen", sa.Integer(), nullable=False),
        sa.Column("shipping_fee_fen", sa.Integer(), nullable=False),
        sa.Column("discount_fen", sa.Integer(), nullable=False),
        sa.Column("paid_amount_fen", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payment_method", sa.String(length=32), nullable=False),
        sa.Column("paid_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("invoice_type", sa.String(length=16), nullable=False),
        sa.Column("invoice_title", sa.String(length=100), nullable=False),
        sa.Column("invoice_tax_id", sa.String(length=32), nullable=False),
        sa.Column("buyer_memo", sa.Text(), nullable=False),
        sa.Column("seller_memo", sa.Text(), nullable=False),
        sa.Column(
            "raw_payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("platform_modified_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("approval_requested_by", sa.String(length=64), nullable=True),
        sa.Column("approval_requested_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shop.id"], name=op.f("fk_sales_order_shop_id_shop")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_order")),
        sa.UniqueConstraint(
            "channel", "shop_id", "channel_order_id", name=op.f("uq_sales_order_channel_shop_id_channel_order_id")
        ),
        sa.UniqueConstraint("order_no", name=op.f("uq_sales_order_order_no")),
    )
    op.create_index("ix_sales_order_channel_created", "sales_order", ["channel", "created_at", "id"], unique=False)
    op.create_index("ix_sales_order_channel_order_id", "sales_order", ["channel_order_id"], unique=False)
    op.create_index("ix_sales_order_created", "sales_order", ["created_at", "id"], unique=False)
    op.create_index("ix_sales_order_receiver_name", "sales_order", ["receiver_name"], unique=False)
    op.create_index("ix_sales_order_receiver_phone", "sales_order", ["receiver_phone"], unique=False)
    op.create_index("ix_sales_order_shop_created", "sales_order", ["shop_id", "created_at", "id"], unique=False)
    op.create_index("ix_sales_order_status_created", "sales_order", ["status", "created_at", "id"], unique=False)
    op.create_table(
        "order_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["sales_order.id"], name=op.f("fk_order_event_order_id_sales_order"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_event")),
    )
    op.create_index("ix_order_event_order", "order_event", ["order_id", "id"], unique=False)
    op.create_table(
        "order_line",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("platform_sku", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("spec", sa.String(length=100), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("unit_price_fen", sa.Integer(), nullable=False),
        sa.Column("discount_fen", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["sales_order.id"], name=op.f("fk_order_line_order_id_sales_order"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_line")),
        sa.UniqueConstraint("order_id", "line_no", name=op.f("uq_order_line_order_id_line_no")),
    )


def downgrade() -> None:
    op.drop_table("order_line")
    op.drop_index("ix_order_event_order", table_name="order_event")
    op.drop_table("order_event")
    op.drop_index("ix_sales_order_status_created", table_name="sales_order")
    op.drop_index("ix_sales_order_shop_created", table_name="sales_order")
    op.drop_index("ix_sales_order_receiver_phone", table_name="sales_order")
    op.drop_index("ix_sales_order_receiver_name", table_name="sales_order")
    op.drop_index("ix_sales_order_created", table_name="sales_order")
    op.drop_index("ix_sales_order_channel_order_id", table_name="sales_order")
    op.drop_index("ix_sales_order_channel_created", table_name="sales_order")
    op.drop_table("sales_order")
    op.drop_table("console_session")
    op.drop_table("api_token")
    op.drop_table("warehouse")
    op.drop_table("sku")
    op.drop_table("shop")
    op.drop_index("ix_outbox_event_pending", table_name="outbox_event")
    op.drop_table("outbox_event")
    op.drop_table("app_user")
