"""Finance: statement lines, receivables, reconciliation results, the discrepancy pool and its audit trail.

Finance keeps its own copy of what each paid order owes (`Receivable`), refreshed from the orders
domain by reconciliation and adjusted by refunds; it never writes another domain's tables. Money
is integer fen; a statement line's amount is signed (payments in, refunds out).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from orderhub.core.db import Base, BigId, JsonDoc, UTCDateTime

# Signed fen sums over a million lines overflow 32 bits.
Fen = BigInteger()


class Source(StrEnum):
    WECHATPAY = "wechatpay"
    ALIPAY = "alipay"
    BANK = "bank"
    SETTLEMENT = "settlement"
    POS = "pos"


class LineKind(StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"


class ReconClass(StrEnum):
    """The one class every statement line and every paid order in a reconciliation ends in."""

    MATCHED = "matched"
    AMOUNT_MISMATCH = "amount_mismatch"
    PAYMENT_WITHOUT_ORDER = "payment_without_order"
    ORDER_WITHOUT_PAYMENT = "order_without_payment"
    DUPLICATE_PAYMENT = "duplicate_payment"
    PARTIAL_REFUND = "partial_refund"
    FEE_MISMATCH = "fee_mismatch"


class Method(StrEnum):
    """How a line was tied to its order (or why it was not)."""

    ORDER_NO = "order_no"
    PAYMENT_REF = "payment_ref"
    CHANNEL_ORDER_ID = "channel_order_id"
    AMOUNT_TIME = "amount_time"
    FUZZY = "fuzzy"
    NONE = "none"


class DiscrepancyStatus(StrEnum):
    OPEN = "open"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    # Reconciliation no longer finds the problem (the payment arrived, the order was corrected).
    CLEARED = "cleared"


UNRESOLVED = (DiscrepancyStatus.OPEN.value, DiscrepancyStatus.ESCALATED.value)


class StatementFile(Base):
    """One imported statement file: what it was, who imported it, and what became of its lines."""

    __tablename__ = "statement_file"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(64), default="")
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    imported_by: Mapped[str] = mapped_column(String(64))
    lines_read: Mapped[int] = mapped_column(default=0)
    lines_new: Mapped[int] = mapped_column(default=0)
    lines_duplicate: Mapped[int] = mapped_column(default=0)
    lines_refused: Mapped[int] = mapped_column(default=0)
    lines_skipped: Mapped[int] = mapped_column(default=0)


class StatementLine(Base):
    """One money movement a payment provider, bank, platform or till reports. Never changed once stored."""

    __tablename__ = "statement_line"
    __table_args__ = (
        # The natural key: the same movement imported from any file is stored once.
        UniqueConstraint("source", "kind", "txn_id"),
        Index("ix_statement_line_business_date", "business_date"),
        Index("ix_statement_line_reference", "reference"),
        Index("ix_statement_line_batch", "channel", "batch_no"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(8))
    txn_id: Mapped[str] = mapped_column(String(64))
    file_id: Mapped[int] = mapped_column(ForeignKey("statement_file.id"))
    row_no: Mapped[int]
    account: Mapped[str] = mapped_column(String(64), default="")
    # The platform of a settlement or POS line; empty for payment providers and banks.
    channel: Mapped[str] = mapped_column(String(16), default="")
    reference: Mapped[str] = mapped_column(String(64), default="")
    refund_reference: Mapped[str] = mapped_column(String(64), default="")
    batch_no: Mapped[str] = mapped_column(String(64), default="")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    business_date: Mapped[date] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(Fen)
    fee_fen: Mapped[int] = mapped_column(Fen, default=0)
    # The fee rate the file states, in parts per million (0.60 % → 6000); None when it states none.
    fee_rate_ppm: Mapped[int | None] = mapped_column(default=None)
    commission_fen: Mapped[int] = mapped_column(Fen, default=0)
    # What the line pays out after fee and commission (a settlement file states it).
    net_fen: Mapped[int] = mapped_column(Fen)
    counterparty: Mapped[str] = mapped_column(String(100), default="")
    memo: Mapped[str] = mapped_column(String(200), default="")
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Receivable(Base):
    """What one paid order owes the merchant, as finance sees it, with its reconciliation state.

    Refreshed from the order by reconciliation; refunds adjust it (see `ReceivableAdjustment`).
    """

    __tablename__ = "receivable"
    # Few indexes: a run writes a row per order, and every index costs on each write.
    __table_args__ = (
        Index("ix_receivable_payment_ref", "payment_ref", postgresql_where=text("payment_ref <> ''"),
              sqlite_where=text("payment_ref <> ''")),
        Index("ix_receivable_business_date", "business_date", "channel"),
        Index("ix_receivable_unpaid", "paid_at", postgresql_where=text("recon_class = 'order_without_payment'"),
              sqlite_where=text("recon_class = 'order_without_payment'")),
    )

    order_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    order_no: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    shop_id: Mapped[int] = mapped_column(BigId)
    channel_order_id: Mapped[str] = mapped_column(String(64))
    payment_ref: Mapped[str] = mapped_column(String(64), default="")
    province: Mapped[str] = mapped_column(String(32), default="")
    customer_name: Mapped[str] = mapped_column(String(100), default="")
    order_status: Mapped[str] = mapped_column(String(20))
    paid_fen: Mapped[int] = mapped_column(Fen)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime())
    business_date: Mapped[date] = mapped_column(Date)
    # Refunds OrderHub knows of (order status and the channel's refund data), not the statements'.
    refunded_fen: Mapped[int] = mapped_column(Fen, default=0)
    cost_fen: Mapped[int] = mapped_column(Fen, default=0)
    # False when a line's SKU has no known cost: the margin is then an upper bound.
    cost_complete: Mapped[bool] = mapped_column(default=True)
    margin_fen: Mapped[int] = mapped_column(Fen, default=0)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The latest reconciliation of this order.
    recon_class: Mapped[str] = mapped_column(String(24))
    recon_method: Mapped[str] = mapped_column(String(24), default=Method.NONE.value)
    received_fen: Mapped[int] = mapped_column(Fen, default=0)
    statement_refund_fen: Mapped[int] = mapped_column(Fen, default=0)
    # Fee and commission the statements deducted, and what the agreed rates say they should be.
    fee_fen: Mapped[int] = mapped_column(Fen, default=0)
    expected_fee_fen: Mapped[int] = mapped_column(Fen, default=0)
    payment_lines: Mapped[int] = mapped_column(default=0)
    recon_run_id: Mapped[int] = mapped_column(BigId)


class ReceivableAdjustment(Base):
    """A change to a receivable after the sale: a refund, or a refund withdrawn. Append-only."""

    __tablename__ = "receivable_adjustment"
    __table_args__ = (
        # One adjustment per order status change: re-running the reversal scan adds nothing.
        UniqueConstraint("order_id", "source_key"),
        Index("ix_receivable_adjustment_date", "business_date", "channel"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId)
    order_no: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    source_key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    business_date: Mapped[date] = mapped_column(Date)
    order_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(500), default="")
    refunded_delta_fen: Mapped[int] = mapped_column(Fen)
    margin_delta_fen: Mapped[int] = mapped_column(Fen)
    refunded_after_fen: Mapped[int] = mapped_column(Fen)
    margin_after_fen: Mapped[int] = mapped_column(Fen)


class ReconRun(Base):
    __tablename__ = "recon_run"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(64))
    date_from: Mapped[date | None] = mapped_column(Date, default=None)
    date_to: Mapped[date | None] = mapped_column(Date, default=None)
    actor: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    lines: Mapped[int] = mapped_column(default=0)
    orders: Mapped[int] = mapped_column(default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)


class LineResult(Base):
    """The latest reconciliation of one statement line: its class, its order and how it was matched."""

    __tablename__ = "recon_line"
    __table_args__ = (Index("ix_recon_line_order", "order_id"),)

    line_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    recon_class: Mapped[str] = mapped_column(String(24))
    order_id: Mapped[int | None] = mapped_column(BigId, default=None)
    method: Mapped[str] = mapped_column(String(24))
    # What the amount-and-time or fuzzy pass saw (seconds apart, score, the texts compared); the
    # exact pass needs none: the method names the order field equal to the line's reference.
    detail: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, default=None)
    run_id: Mapped[int] = mapped_column(BigId)


class Discrepancy(Base):
    """A reconciliation problem for a person: owned, due, escalated when late, resolved with a reason."""

    __tablename__ = "discrepancy"
    __table_args__ = (
        # One per problem: a re-run finds the same problem again and leaves it (and its owner) alone.
        UniqueConstraint("subject", "recon_class"),
        Index("ix_discrepancy_created", "created_at", "id"),
        Index("ix_discrepancy_status_due", "status", "due_at"),
        Index("ix_discrepancy_order", "order_id"),
        Index("ix_discrepancy_line", "line_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # "order:<id>" or "line:<id>": a problem of a paid order, or of a line with no order.
    subject: Mapped[str] = mapped_column(String(40))
    recon_class: Mapped[str] = mapped_column(String(24))
    order_id: Mapped[int | None] = mapped_column(BigId, default=None)
    line_id: Mapped[int | None] = mapped_column(BigId, default=None)
    order_no: Mapped[str] = mapped_column(String(32), default="")
    reference: Mapped[str] = mapped_column(String(64), default="")
    channel: Mapped[str] = mapped_column(String(16), default="")
    province: Mapped[str] = mapped_column(String(32), default="")
    business_date: Mapped[date] = mapped_column(Date)
    expected_fen: Mapped[int] = mapped_column(Fen, default=0)
    actual_fen: Mapped[int] = mapped_column(Fen, default=0)
    status: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(64))
    supervisor: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(100), default="")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(64), default=None)
    resolution: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declared form

    @property
    def difference_fen(self) -> int:
        return self.actual_fen - self.expected_fen


class DiscrepancyEvent(Base):
    """The audit trail of a discrepancy: who did what, when, and why. Append-only."""

    __tablename__ = "discrepancy_event"
    __table_args__ = (Index("ix_discrepancy_event_discrepancy", "discrepancy_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    discrepancy_id: Mapped[int] = mapped_column(ForeignKey("discrepancy.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    from_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    to_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    reason: Mapped[str] = mapped_column(String(500), default="")
