"""The transactional outbox: events are written in the same transaction as the change they report.

Delivery (webhooks, channel write-back, NATS JetStream) is the worker's job; nothing is sent from
inside a request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from orderhub.core.db import Base, BigId, JsonDoc, UTCDateTime


class OutboxEvent(Base):
    __tablename__ = "outbox_event"
    __table_args__ = (
        Index("ix_outbox_event_pending", "published_at", "id"),
        Index("ix_outbox_event_topic_due", "topic", "published_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    topic: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    # After a failed delivery: not before this time (back-off). None: as soon as possible.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Delivery gave up (not retryable, or out of attempts): shown on the order, retried only by a person.
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


def add_event(session: Session, *, topic: str, key: str, payload: dict[str, Any], at: datetime) -> OutboxEvent:
    event = OutboxEvent(topic=topic, key=key, payload=payload, created_at=at)
    session.add(event)
    return event


def outbox_row(topic: str, key: str, at: datetime, payload: dict[str, Any]) -> dict[str, Any]:
    """An event as a row for bulk writers (`core.db.add_rows`), with every column COPY must be given."""
    return {"topic": topic, "key": key, "payload": payload, "created_at": at, "published_at": None, "attempts": 0,
            "last_error": None, "next_attempt_at": None, "failed_at": None}
