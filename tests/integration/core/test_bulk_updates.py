"""`core.db.update_rows`: bulk UPDATEs of loaded rows keep the ORM's version rule, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.orm.exc import StaleDataError

from orderhub.core.db import update_rows
from orderhub.orders import service
from orderhub.orders.model import Order
from orderhub.runtime import Runtime
from tests.integration.orders.test_order_service import OPS, phone_draft

pytestmark = pytest.mark.usefixtures("merchant")


def memo_and_version(runtime: Runtime, order_no: str) -> tuple[str, int]:
    with runtime.reading() as session:
        order = service.get_order(session, order_no)
        return order.seller_memo, order.version


def test_a_versioned_row_is_written_and_its_version_bumped_in_the_database_and_in_hand(runtime: Runtime) -> None:
    numbers = [service.create_manual_order(runtime.uow(), draft=phone_draft(), actor=OPS, policy=runtime.policy)
               .order_no for _ in range(3)]
    with runtime.uow() as uow:
        loaded = [service.get_order(uow.session, number) for number in numbers]
        update_rows(uow.session, [(order, {"seller_memo": f"memo {n}"}) for n, order in enumerate(loaded)])
        assert [(o.seller_memo, o.version) for o in loaded] == [("memo 0", 2), ("memo 1", 2), ("memo 2", 2)]
        uow.commit()
    assert [memo_and_version(runtime, number) for number in numbers] == [("memo 0", 2), ("memo 1", 2), ("memo 2", 2)]


def test_a_row_changed_since_it_was_loaded_is_refused_and_nothing_is_written(runtime: Runtime) -> None:
    numbers = [service.create_manual_order(runtime.uow(), draft=phone_draft(), actor=OPS, policy=runtime.policy)
               .order_no for _ in range(2)]
    with runtime.uow() as uow:
        loaded = [service.get_order(uow.session, number) for number in numbers]
        # The second order's row moves on behind the loaded object's back (a plain statement, no ORM sync).
        table = Order.__table__
        uow.session.connection().execute(
            update(table).where(table.c.order_no == numbers[1]).values(version=table.c.version + 1))
        with pytest.raises(StaleDataError):
            update_rows(uow.session, [(order, {"seller_memo": "mine"}) for order in loaded])
    assert [memo_and_version(runtime, number) for number in numbers] == [("", 1), ("", 1)]  # rolled back
