"""logistics tracking: waybills, tracking events deduplicated by fingerprint, kuaidi100 pushes kept for audit,
exception tickets of parcel anomalies and their trail

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import orderhub.core.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "waybill",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("order_id", BIG_ID, nullable=False),
        sa.Column("order_no", sa.String(length=32), nullable=False),
        sa.Column("shipment_id", BIG_ID, nullable=True),
        sa.Column("carrier_code", sa.String(length=16), nullable=False),
        sa.Column("carrier_name", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("state_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_push_digest", sa.String(length=64), nullable=False),
        sa.Column("last_push_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_poll_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("poll_failures", sa.Integer(), nullable=False),
        sa.Column("created_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["sales_order.id"], name=op.f("fk_waybill_order_id_sales_order"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["shipment_id"], ["shipment.id"], name=op.f("fk_waybill_shipment_id_shipment"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waybill")),
        sa.UniqueConstraint("carrier_code", "number", name=op.f("uq_waybill_carrier_code_number")),
    )
    with op.batch_alter_table("waybill", schema=None) as batch_op:
        batch_op.create_index("ix_waybill_order", ["order_id"], unique=False)
        batch_op.create_index("ix_waybill_next_poll", ["next_poll_at"], unique=False)

    op.create_table(
        "tracking_event",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("waybill_id", BIG_ID, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("location", sa.String(length=100), nullable=False),
        sa.Column("raw_status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("received_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["waybill_id"], ["waybill.id"], name=op.f("fk_tracking_event_waybill_id_waybill"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_event")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_tracking_event_fingerprint")),
    )
    with op.batch_alter_table("tracking_event", schema=None) as batch_op:
        batch_op.create_index("ix_tracking_event_waybill_at", ["waybill_id", "occurred_at"], unique=False)

    op.create_table(
        "tracking_push",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("received_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("com", sa.String(length=32), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("param", sa.Text(), nullable=False),
        sa.Column("sign", sa.String(length=64), nullable=False),
        sa.Column("new_events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_push")),
    )
    with op.batch_alter_table("tracking_push", schema=None) as batch_op:
        batch_op.create_index("ix_tracking_push_waybill", ["com", "number", "outcome"], unique=False)
        batch_op.create_index("ix_tracking_push_received", ["received_at"], unique=False)

    op.create_table(
        "exception_ticket",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("waybill_id", BIG_ID, nullable=False),
        sa.Column("order_id", BIG_ID, nullable=False),
        sa.Column("order_no", sa.String(length=32), nullable=False),
        sa.Column("carrier_code", sa.String(length=16), nullable=False),
        sa.Column("waybill_no", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("condition_since", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("opened_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("resolved_at", orderhub.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["waybill_id"], ["waybill.id"], name=op.f("fk_exception_ticket_waybill_id_waybill"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exception_ticket")),
    )
    with op.batch_alter_table("exception_ticket", schema=None) as batch_op:
        batch_op.create_index("uq_exception_ticket_open", ["waybill_id", "kind"], unique=True,
                              postgresql_where=sa.text("status <> 'resolved'"),
                              sqlite_where=sa.text("status <> 'resolved'"))
        batch_op.create_index("ix_exception_ticket_status_opened", ["status", "opened_at", "id"], unique=False)
        batch_op.create_index("ix_exception_ticket_waybill", ["waybill_id", "kind", "resolved_at"], unique=False)

    op.create_table(
        "exception_ticket_event",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("ticket_id", BIG_ID, nullable=False),
        sa.Column("at", orderhub.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["exception_ticket.id"],
                                name=op.f("fk_exception_ticket_event_ticket_id_exception_ticket"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exception_ticket_event")),
    )
    with op.batch_alter_table("exception_ticket_event", schema=None) as batch_op:
        batch_op.create_index("ix_exception_ticket_event_ticket", ["ticket_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("exception_ticket_event", schema=None) as batch_op:
        batch_op.drop_index("ix_exception_ticket_event_ticket")
    op.drop_table("exception_ticket_event")
    with op.batch_alter_table("exception_ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_exception_ticket_waybill")
        batch_op.drop_index("ix_exception_ticket_status_opened")
        batch_op.drop_index("uq_exception_ticket_open")
    op.drop_table("exception_ticket")
    with op.batch_alter_table("tracking_push", schema=None) as batch_op:
        batch_op.drop_index("ix_tracking_push_received")
        batch_op.drop_index("ix_tracking_push_waybill")
    op.drop_table("tracking_push")
    with op.batch_alter_table("tracking_event", schema=None) as batch_op:
        batch_op.drop_index("ix_tracking_event_waybill_at")
    op.drop_table("tracking_event")
    with op.batch_alter_table("waybill", schema=None) as batch_op:
        batch_op.drop_index("ix_waybill_next_poll")
        batch_op.drop_index("ix_waybill_order")
    op.drop_table("waybill")
