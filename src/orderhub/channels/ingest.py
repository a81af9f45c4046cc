"""Channel ingestion: raw platform payloads in, orders (or dead letters) out, exactly once.

Every path an order can arrive by — pull, push, file import, backfill, replay — ends here. A batch
is one transaction: the orders it creates or updates, the dead letters of what could not be read,
and the health record commit together, so a crash loses nothing and a retry duplicates nothing.
One bad record never fails its batch: it becomes a dead letter with its reason and raw body.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orderhub.channels.mapping import ChannelMappingError, load_json, load_mapping
from orderhub.channels.model import OPEN, DeadLetter, Shop
from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork, one_of
from orderhub.orders.draft import OrderDraft
from orderhub.orders.intake import IntakeResult, ShopRef, accept_channel_drafts, check_drafts
from orderhub.orders.service import OrderPolicy
from orderhub.orders.validation import FieldError, RuleSet

DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class Incoming:
    """One raw order as it arrived: its text (kept for dead letters) and, if parsed already, its object.

    With a `payload`, `raw` is either the payload's own JSON text (a line of a JSON Lines file) or
    empty: the text is then written from the payload only if a dead letter needs it (most orders
    of a push never do).
    """

    raw: str
    source: str  # pull, push, import, backfill, replay
    payload: Any = None

    @cached_property
    def text(self) -> str:
        """The text a dead letter keeps: as it arrived, or the payload written out."""
        return self.raw if self.raw or self.payload is None else raw_text(self.payload)


@dataclass(frozen=True)
class Outcome:
    result: str  # an IntakeResult value, or "dead_lettered"
    channel_order_id: str = ""
    order_no: str | None = None
    dead_letter_id: int | None = None
    reason: str = ""
    reason_code: str = ""  # for dead letters: payload, mapping or validation


@dataclass
class Tally:
    """What a run did, for summaries: created / updated / unchanged / stale / on hold / dead-lettered."""

    counts: Counter[str]

    @classmethod
    def of(cls, outcomes: Sequence[Outcome]) -> Tally:
        return cls(Counter(outcome.result for outcome in outcomes))

    def add(self, outcomes: Sequence[Outcome]) -> None:
        self.counts.update(outcome.result for outcome in outcomes)


def shop_ref(shop: Shop) -> ShopRef:
    return ShopRef(shop.id, shop.channel, shop.code, shop.cross_border)


def _dead_letter(
    session: Session, shop: ShopRef, item: Incoming, at: datetime, code: str, reason: str, channel_order_id: str = ""
) -> DeadLetter:
    letter = DeadLetter(
        channel=shop.channel,
        shop_id=shop.id,
        source=item.source,
        reason_code=code,
        reason=reason[:4000],
        channel_order_id=channel_order_id[:64],
        raw_body=item.text,
        received_at=at,
    )
    session.add(letter)
    return letter


@dataclass
class Readings:
    """A batch's payloads as drafts, and why the others could not be read (position → code, reason, id).

    `defects` are the drafts' validation findings (`check_drafts`) when the reader checked them too.
    """

    drafts: list[OrderDraft]
    unreadable: dict[int, tuple[str, str, str]]
    defects: list[list[FieldError]] | None = None


def read_payloads(shop: ShopRef, items: Sequence[Incoming], *, rules: RuleSet | None = None) -> Readings:
    """Parse and map a batch, and validate the drafts when given the `rules`; no database, so a
    caller may do it ahead on another thread (the file import reads while it writes)."""
    mapping = load_mapping(shop.channel)
    readings = Readings([], {})
    for index, item in enumerate(items):
        payload: Any = None
        try:
            payload = item.payload if item.payload is not None else load_json(item.raw)
            if not isinstance(payload, dict):
                raise ValueError(f"an order is a JSON object, got {type(payload).__name__}")
            draft = mapping.to_draft(payload, shop=shop.code)
            draft.raw_json = item.raw  # the payload's own text when there is one: stored without re-encoding
            readings.drafts.append(draft)
        except ChannelMappingError as exc:
            readings.unreadable[index] = ("mapping", str(exc), mapping.order_id_of(payload))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            readings.unreadable[index] = ("payload", f"unreadable payload: {exc}", "")
    if rules is not None:
        readings.defects = check_drafts(readings.drafts, rules, cross_border=shop.cross_border)
    return readings


def ingest_batch(
    session: Session, *, shop: ShopRef, items: Sequence[Incoming], policy: OrderPolicy, actor: Actor, at: datetime,
    write_dead_letters: bool = True, readings: Readings | None = None,
) -> list[Outcome]:
    """Map, validate and apply one shop's payloads inside the caller's transaction; one outcome per item.

    `readings` are the items already read by `read_payloads`. `write_dead_letters=False` is for
    replaying a dead letter, which stays the one record of its payload.
    """
    if readings is None:
        readings = read_payloads(shop, items)
    drafts, unreadable = readings.drafts, readings.unreadable
    intakes = iter(accept_channel_drafts(session, shop=shop, drafts=drafts, policy=policy, actor=actor, at=at,
                                         defects=readings.defects))
    failures: list[tuple[int, str, str, str]] = []  # (position, code, reason, platform order id)
    outcomes: list[Outcome] = []
    for index in range(len(items)):
        if index in unreadable:
            code, reason, key = unreadable[index]
            failures.append((index, code, reason, key))
            outcomes.append(Outcome(DEAD_LETTERED, key, reason=reason, reason_code=code))
            continue
        intake = next(intakes)
        key = intake.draft.channel_order_id
        if intake.result is IntakeResult.REJECTED:
            failures.append((index, "validation", intake.reason, key))
            outcomes.append(Outcome(DEAD_LETTERED, key, reason=intake.reason, reason_code="validation"))
        else:
            outcomes.append(Outcome(intake.result.value, key, intake.order_no, reason=intake.reason))
    if write_dead_letters and failures:
        letters = _open_letters(session, shop, {items[index].text for index, *_ in failures})
        for index, code, reason, key in failures:
            if items[index].text not in letters:
                letters[items[index].text] = _dead_letter(session, shop, items[index], at, code, reason, key)
        session.flush()
        for index, *_ in failures:
            outcomes[index] = replace(outcomes[index], dead_letter_id=letters[items[index].text].id)
    return outcomes


def _open_letters(session: Session, shop: ShopRef, raws: set[str]) -> dict[str, DeadLetter]:
    """The shop's open dead letters holding these bodies: a payload seen again (an overlapping pull
    window, a re-sent push, a file imported twice) points at its first letter instead of a new one."""
    letters = session.scalars(
        select(DeadLetter)
        .where(DeadLetter.shop_id == shop.id, DeadLetter.status == OPEN, one_of(session, DeadLetter.raw_body, raws))
        .order_by(DeadLetter.id.desc())
    )
    return {letter.raw_body: letter for letter in letters}


def ingest(
    uow: UnitOfWork, *, shop: ShopRef, items: Sequence[Incoming], policy: OrderPolicy, actor: Actor
) -> list[Outcome]:
    """`ingest_batch` in its own transaction."""
    with uow:
        outcomes = ingest_batch(uow.session, shop=shop, items=items, policy=policy, actor=actor, at=uow.now())
        uow.commit()
        return outcomes


def raw_text(payload: Any) -> str:
    """The text kept for a payload that arrived inside a page (pulls). Big ids stay exact; decimal
    amounts are written as strings, which every mapping reads back to the same fen."""
    return json.dumps(payload, ensure_ascii=False, default=str)
