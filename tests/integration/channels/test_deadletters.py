"""补单: dead letters replayed one by one or in bulk, corrected, discarded — with an audit trail."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from orderhub.channels import deadletters
from orderhub.channels import service as channels
from orderhub.channels.errors import DeadLetterClosed, DiscardReasonRequired
from orderhub.channels.ingest import DEAD_LETTERED, Incoming, ingest, shop_ref
from orderhub.channels.model import Channel, DeadLetter
from orderhub.core.actor import Actor
from orderhub.orders.model import Order
from orderhub.runtime import Runtime
from tests.integration.channels.test_ingest import trade

OPS = Actor("ops", "console")


@pytest.fixture
def shop(runtime: Runtime, merchant: None) -> Any:
    return shop_ref(channels.create_shop(runtime.uow(), channel=Channel.TAOBAO, code="tb", name="tb"))


def dead_letter(runtime: Runtime, shop: Any, payload: dict[str, Any] | str) -> int:
    raw = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    (outcome,) = ingest(runtime.uow(), shop=shop, items=[Incoming(raw=raw, source="push")], policy=runtime.policy,
                        actor=Actor("taobao", "channel"))
    assert outcome.result == DEAD_LETTERED and outcome.dead_letter_id is not None
    return outcome.dead_letter_id


def letters(runtime: Runtime) -> list[DeadLetter]:
    with runtime.reading() as session:
        return list(session.scalars(select(DeadLetter).order_by(DeadLetter.id)))


def test_a_replay_that_fails_again_keeps_one_open_letter_with_the_new_reason(runtime: Runtime, shop: Any) -> None:
    letter_id = dead_letter(runtime, shop, trade(status="NEW_STATUS_2027"))
    (outcome,) = deadletters.replay(runtime.uow(), letter_ids=[letter_id], actor=OPS, policy=runtime.policy)
    assert outcome.result == DEAD_LETTERED
    (letter,) = letters(runtime)
    assert letter.status == "open" and letter.attempts == 1 and "NEW_STATUS_2027" in letter.reason


def test_a_corrected_body_replays_into_an_order_and_is_audited(runtime: Runtime, shop: Any) -> None:
    letter_id = dead_letter(runtime, shop, trade(status="NEW_STATUS_2027"))
    with runtime.reading() as session:
        editable = deadletters.reformat(deadletters.get_dead_letter(session, letter_id).raw_body)
    corrected = editable.replace("NEW_STATUS_2027", "WAIT_SELLER_SEND_GOODS")
    (outcome,) = deadletters.replay(runtime.uow(), letter_ids=[letter_id], actor=OPS, policy=runtime.policy,
                                   corrected_body=corrected)
    assert outcome.result == "created"
    (letter,) = letters(runtime)
    assert letter.status == "replayed" and letter.order_no == outcome.order_no
    assert "WAIT_SELLER" in (letter.corrected_body or "") and "NEW_STATUS_2027" in letter.raw_body  # original kept
    with runtime.reading() as session:
        actions = deadletters.actions_of(session, letter_id)
        assert [(a.action, a.actor) for a in actions] == [("remap", "ops")]
        assert session.scalar(select(func.count()).select_from(Order)) == 1
    with pytest.raises(DeadLetterClosed):
        deadletters.replay(runtime.uow(), letter_ids=[letter_id], actor=OPS, policy=runtime.policy)


def test_bulk_replay_after_a_fix_creates_each_order_once(runtime: Runtime, shop: Any) -> None:
    ids = [dead_letter(runtime, shop, trade(tid=n, orders={"order": []})) for n in (11, 12, 13)]
    fixed_bodies = {letter.id: letter.raw_body for letter in letters(runtime)}
    assert set(fixed_bodies) == set(ids)
    for letter_id in ids:
        body = json.loads(fixed_bodies[letter_id])
        body["orders"] = trade()["orders"]
        deadletters.replay(runtime.uow(), letter_ids=[letter_id], actor=OPS, policy=runtime.policy,
                           corrected_body=json.dumps(body))
    assert {letter.status for letter in letters(runtime)} == {"replayed"}
    with runtime.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 3


def test_discarding_needs_a_reason_and_closes_the_letter(runtime: Runtime, shop: Any) -> None:
    letter_id = dead_letter(runtime, shop, "not even json")
    with pytest.raises(DiscardReasonRequired):
        deadletters.discard(runtime.uow(), letter_ids=[letter_id], actor=OPS, note=" ")
    deadletters.discard(runtime.uow(), letter_ids=[letter_id], actor=OPS, note="测试报文")
    (letter,) = letters(runtime)
    assert letter.status == "discarded"
    with runtime.reading() as session:
        assert deadletters.list_dead_letters(session, deadletters.DeadLetterFilters()) == []
        assert [a.outcome for a in deadletters.actions_of(session, letter_id)] == ["测试报文"]
