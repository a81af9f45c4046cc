"""finance reconciliation: statement files and lines, receivables, runs, line results, discrepancy pool

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import orderhub.core.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonDoc = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _at(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, orderhub.core.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "statement_file",
        sa.Column("id", BigId, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        _at("imported_at"),
        sa.Column("imported_by", sa.String(length=64), nullable=False),
        sa.Column("lines_read", sa.Integer(), nullable=False),
        sa.Column("lines_new", sa.Integer(), nullable=False),
        sa.Column("lines_duplicate", sa.Integer(), nullable=False),
        sa.Column("lines_refused", sa.Integer(), nullable=False),
        sa.Column("lines_skipped", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_file")),
    )
    op.create_index(op.f("ix_statement_file_sha256"), "statement_file", ["sha256"], unique=False)
    op.create_table(
        "statement_line",
        sa.Column("id", BigId, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("txn_id", sa.String(length=64), nullable=False),
        sa.Column("file_id", BigId, nullable=False),
        sa.Column("row_no", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("refund_reference", sa.String(length=64), nullable=False),
        sa.Column("batch_no", sa.String(length=64), nullable=False),
        _at("occurred_at"),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_rate_ppm", sa.Integer(), nullable=True),
        sa.Column("commission_fen", sa.BigInteger(), nullable=False),
        sa.Column("net_fen", sa.BigInteger(), nullable=False),
        sa.Column("counterparty", sa.String(length=100), nullable=False),
        sa.Column("memo", sa.String(length=200), nullable=False),
        _at("imported_at"),
        sa.ForeignKeyConstraint(["file_id"], ["statement_file.id"],
                                name=op.f("fk_statement_line_file_id_statement_file")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_line")),
        sa.UniqueConstraint("source", "kind", "txn_id", name=op.f("uq_statement_line_source_kind_txn_id")),
    )
    op.create_index("ix_statement_line_batch", "statement_line", ["channel", "batch_no"], unique=False)
    op.create_index("ix_statement_line_business_date", "statement_line", ["business_date"], unique=False)
    op.create_index("ix_statement_line_reference", "statement_line", ["reference"], unique=False)

    op.create_table(
        "receivable",
        sa.Column("order_id", BigId, autoincrement=False, nullable=False),
        sa.Column("order_no", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("shop_id", BigId, nullable=False),
        sa.Column("channel_order_id", sa.String(length=64), nullable=False),
        sa.Column("payment_ref", sa.String(length=64), nullable=False),
        sa.Column("province", sa.String(length=32), nullable=False),
        sa.Column("customer_name", sa.String(length=100), nullable=False),
        sa.Column("order_status", sa.String(length=20), nullable=False),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        _at("paid_at"),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("cost_fen", sa.BigInteger(), nullable=False),
        sa.Column("cost_complete", sa.Boolean(), nullable=False),
        sa.Column("margin_fen", sa.BigInteger(), nullable=False),
        _at("refreshed_at"),
        sa.Column("recon_class", sa.String(length=24), nullable=False),
        sa.Column("recon_method", sa.String(length=24), nullable=False),
        sa.Column("received_fen", sa.BigInteger(), nullable=False),
        sa.Column("statement_refund_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("expected_fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("payment_lines", sa.Integer(), nullable=False),
        sa.Column("recon_run_id", BigId, nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_receivable")),
    )
    op.create_index("ix_receivable_business_date", "receivable", ["business_date", "channel"], unique=False)
    op.create_index("ix_receivable_payment_ref", "receivable", ["payment_ref"], unique=False,
                    postgresql_where=sa.text("payment_ref <> ''"), sqlite_where=sa.text("payment_ref <> ''"))
    op.create_index("ix_receivable_unpaid", "receivable", ["paid_at"], unique=False,
                    postgresql_where=sa.text("recon_class = 'order_without_payment'"),
                    sqlite_where=sa.text("recon_class = 'order_without_payment'"))
    op.create_table(
        "receivable_adjustment",
        sa.Column("id", BigId, nullable=False),
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("order_no", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        _at("at"),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("order_status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("refunded_delta_fen", sa.BigInteger(), nullable=False),
        sa.Column("margin_delta_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_after_fen", sa.BigInteger(), nullable=False),
        sa.Column("margin_after_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receivable_adjustment")),
        sa.UniqueConstraint("order_id", "source_key", name=op.f("uq_receivable_adjustment_order_id_source_key")),
    )
    op.create_index("ix_receivable_adjustment_date", "receivable_adjustment", ["business_date", "channel"],
                    unique=False)

    op.create_table(
        "recon_run",
        sa.Column("id", BigId, nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("date_from", sa.Date(), nullable=True),
        sa.Column("date_to", sa.Date(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        _at("started_at"),
        _at("finished_at", nullable=True),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("counts", JsonDoc, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_run")),
    )
    op.create_table(
        "recon_line",
        sa.Column("line_id", BigId, autoincrement=False, nullable=False),
        sa.Column("recon_class", sa.String(length=24), nullable=False),
        sa.Column("order_id", BigId, nullable=True),
        sa.Column("method", sa.String(length=24), nullable=False),
        sa.Column("detail", JsonDoc, nullable=True),
        sa.Column("run_id", BigId, nullable=False),
        sa.PrimaryKeyConstraint("line_id", name=op.f("pk_recon_line")),
    )
    op.create_index("ix_recon_line_order", "recon_line", ["order_id"], unique=False)

    op.create_table(
        "discrepancy",
        sa.Column("id", BigId, nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("recon_class", sa.String(length=24), nullable=False),
        sa.Column("order_id", BigId, nullable=True),
        sa.Column("line_id", BigId, nullable=True),
        sa.Column("order_no", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("province", sa.String(length=32), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("expected_fen", sa.BigInteger(), nullable=False),
        sa.Column("actual_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("supervisor", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        _at("due_at"),
        _at("escalated_at", nullable=True),
        _at("resolved_at", nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("resolution", sa.String(length=500), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discrepancy")),
        sa.UniqueConstraint("subject", "recon_class", name=op.f("uq_discrepancy_subject_recon_class")),
    )
    op.create_index("ix_discrepancy_created", "discrepancy", ["created_at", "id"], unique=False)
    op.create_index("ix_discrepancy_line", "discrepancy", ["line_id"], unique=False)
    op.create_index("ix_discrepancy_order", "discrepancy", ["order_id"], unique=False)
    op.create_index("ix_discrepancy_status_due", "discrepancy", ["status", "due_at"], unique=False)
    op.create_table(
        "discrepancy_event",
        sa.Column("id", BigId, nullable=False),
        sa.Column("discrepancy_id", BigId, nullable=False),
        _at("at"),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_owner", sa.String(length=64), nullable=True),
        sa.Column("to_owner", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["discrepancy_id"], ["discrepancy.id"],
                                name=op.f("fk_discrepancy_event_discrepancy_id_discrepancy"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discrepancy_event")),
    )
    op.create_index("ix_discrepancy_event_discrepancy", "discrepancy_event", ["discrepancy_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_table("discrepancy_event")
    op.drop_table("discrepancy")
    op.drop_table("recon_line")
    op.drop_table("recon_run")
    op.drop_table("receivable_adjustment")
    op.drop_table("receivable")
    op.drop_table("statement_line")
    op.drop_table("statement_file")
