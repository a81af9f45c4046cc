"""补单: people list, inspect, re-map and replay dead letters, one by one or in bulk, with an audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import simplejson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orderhub.channels.errors import DeadLetterClosed, DeadLetterNotFound, DiscardReasonRequired
from orderhub.channels.ingest import DEAD_LETTERED, Incoming, Outcome, ingest_batch, shop_ref
from orderhub.channels.mapping import load_json
from orderhub.channels.model import DISCARDED, OPEN, REPLAYED, DeadLetter, DeadLetterAction, Shop
from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork
from orderhub.orders.service import OrderPolicy


@dataclass(frozen=True)
class DeadLetterFilters:
    status: str | None = OPEN
    channel: str | None = None
    shop_id: int | None = None
    reason_code: str | None = None


def list_dead_letters(
    session: Session, filters: DeadLetterFilters, *, limit: int = 100, before_id: int | None = None
) -> list[DeadLetter]:
    query = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if filters.status:
        query = query.where(DeadLetter.status == filters.status)
    if filters.channel:
        query = query.where(DeadLetter.channel == filters.channel)
    if filters.shop_id is not None:
        query = query.where(DeadLetter.shop_id == filters.shop_id)
    if filters.reason_code:
        query = query.where(DeadLetter.reason_code == filters.reason_code)
    if before_id is not None:
        query = query.where(DeadLetter.id < before_id)
    return list(session.scalars(query))


def status_counts(session: Session, filters: DeadLetterFilters) -> dict[str, int]:
    """Dead letters per status under the other filters (the console's tabs)."""
    query = select(DeadLetter.status, func.count()).group_by(DeadLetter.status)
    if filters.channel:
        query = query.where(DeadLetter.channel == filters.channel)
    if filters.shop_id is not None:
        query = query.where(DeadLetter.shop_id == filters.shop_id)
    if filters.reason_code:
        query = query.where(DeadLetter.reason_code == filters.reason_code)
    return {status: number for status, number in session.execute(query)}


def count_open(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(DeadLetter.channel, func.count()).where(DeadLetter.status == OPEN).group_by(DeadLetter.channel)
    )
    return {channel: number for channel, number in rows}


def get_dead_letter(session: Session, letter_id: int) -> DeadLetter:
    letter = session.get(DeadLetter, letter_id)
    if letter is None:
        raise DeadLetterNotFound(f"no dead letter {letter_id} / 死信 {letter_id} 不存在")
    return letter


def actions_of(session: Session, letter_id: int) -> list[DeadLetterAction]:
    return list(
        session.scalars(
            select(DeadLetterAction).where(DeadLetterAction.dead_letter_id == letter_id).order_by(DeadLetterAction.id)
        )
    )


def _open_letter(session: Session, letter_id: int) -> DeadLetter:
    letter = get_dead_letter(session, letter_id)
    if letter.status != OPEN:
        raise DeadLetterClosed(f"dead letter {letter_id} is {letter.status}, not open / 死信 {letter_id} 已处理")
    return letter


def replay(
    uow: UnitOfWork, *, letter_ids: Sequence[int], actor: Actor, policy: OrderPolicy, corrected_body: str | None = None
) -> list[Outcome]:
    """Run dead letters through ingestion again (after a mapping fix, a catalog mapping, or a corrected
    body for a single letter). A letter that now succeeds is closed with its order; one that fails
    again stays open with the new reason, and no new dead letter is written for it."""
    if corrected_body is not None and len(letter_ids) != 1:
        raise DeadLetterClosed("a corrected body goes with exactly one dead letter / 修正报文只能对应一条死信")
    outcomes: list[Outcome] = []
    with uow:
        session = uow.session
        at = uow.now()
        for letter_id in letter_ids:
            letter = _open_letter(session, letter_id)
            shop = session.get(Shop, letter.shop_id) if letter.shop_id is not None else None
            if shop is None:
                raise DeadLetterClosed(f"dead letter {letter_id} belongs to no shop / 死信 {letter_id} 无所属店铺")
            body = corrected_body if corrected_body is not None else (letter.corrected_body or letter.raw_body)
            letter.attempts += 1
            (outcome,) = ingest_batch(
                session,
                shop=shop_ref(shop),
                items=[Incoming(raw=body, source="replay")],
                policy=policy,
                actor=actor,
                at=at,
                write_dead_letters=False,
            )
            if outcome.result == DEAD_LETTERED:
                letter.reason, letter.reason_code = outcome.reason, outcome.reason_code
            if corrected_body is not None:
                letter.corrected_body = corrected_body  # the platform's original stays in raw_body
            if outcome.result != DEAD_LETTERED:
                letter.status, letter.order_no = REPLAYED, outcome.order_no
            session.add(
                DeadLetterAction(
                    dead_letter_id=letter.id,
                    at=at,
                    actor=actor.name,
                    action="remap" if corrected_body else "replay",
                    outcome=f"{outcome.result}: {outcome.order_no or outcome.reason}"[:500],
                    detail={"corrected": corrected_body is not None},
                )
            )
            outcomes.append(outcome)
        uow.commit()
    return outcomes


def discard(uow: UnitOfWork, *, letter_ids: Sequence[int], actor: Actor, note: str) -> int:
    """Close dead letters nobody will replay (test orders, duplicates already keyed in), with a reason."""
    if not note.strip():
        raise DiscardReasonRequired("discarding needs a reason / 作废死信必须填写原因")
    with uow:
        for letter_id in letter_ids:
            letter = _open_letter(uow.session, letter_id)
            letter.status = DISCARDED
            uow.session.add(
                DeadLetterAction(
                    dead_letter_id=letter.id,
                    at=uow.now(),
                    actor=actor.name,
                    action="discard",
                    outcome=note.strip()[:500],
                )
            )
        uow.commit()
        return len(letter_ids)


def reformat(raw: str) -> str:
    """A raw body pretty-printed for a person editing it (exact numbers kept); unchanged if it is not JSON."""
    try:
        return simplejson.dumps(load_json(raw), use_decimal=True, ensure_ascii=False, indent=2)
    except ValueError:
        return raw
