"""The inventory board's figures and the Excel stock count, on both databases."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO

import pytest
from openpyxl import Workbook, load_workbook

from orderhub.core.actor import Actor
from orderhub.core.clock import FixedClock
from orderhub.inventory import board as boards
from orderhub.inventory import counts
from orderhub.inventory import service as inventory
from orderhub.inventory.errors import UnknownWarehouse
from orderhub.orders import service as orders
from orderhub.orders.status import OrderStatus as S
from orderhub.runtime import Runtime
from tests.integration.inventory.conftest import CLERK, stock_up
from tests.integration.inventory.test_reservations import move, order, verified

pytestmark = pytest.mark.usefixtures("warehouses")
COUNTER = Actor("counter", "console")


def board(runtime: Runtime) -> boards.Board:
    with runtime.reading() as session:
        return boards.board(session, now=runtime.clock.now())


def on_hand(runtime: Runtime, sku: str) -> dict[str, int]:
    with runtime.reading() as session:
        return {place.warehouse: place.on_hand for place in inventory.availability(session, sku).warehouses}


def test_the_board_ranks_sellers_counts_outbound_and_lists_low_stock_and_short_orders(
        runtime: Runtime, clock: FixedClock) -> None:
    stock_up(runtime, "SKU-001", "HZ", 10)
    stock_up(runtime, "SKU-001", "GZ", 5)
    stock_up(runtime, "SKU-002", "HZ", 6)
    inventory.set_safety(runtime.uow(), sku="SKU-002", safety=5, actor=CLERK)
    shipped = order(runtime, qty=2, sku="SKU-002")
    move(runtime, shipped, S.APPROVED, S.ALLOCATED, S.PICKING, S.PACKED, S.SHIPPED)
    paid = order(runtime, qty=3)
    approved = order(runtime, qty=1)
    move(runtime, approved, S.APPROVED)
    order(runtime, qty=4, paid=False)  # an unpaid hold: neither sold nor leaving today
    short = order(runtime, qty=2, sku="SKU-003")

    shown = board(runtime)
    assert [(s.sku, s.sold, s.on_hand, s.available) for s in shown.sellers] == [
        ("SKU-001", 4, 15, 7), ("SKU-002", 2, 4, 0)]
    assert shown.outbound.orders == 2 and shown.outbound.units == 4
    assert shown.outbound.by_warehouse == {"": 4}
    assert [(w.code, w.on_hand, w.reserved) for w in shown.warehouses] == [("GZ", 5, 0), ("HZ", 14, 0)]
    assert [(row.sku, row.on_hand, row.safety, row.available) for row in shown.low_stock] == [("SKU-002", 4, 5, 0)]
    assert [(row.order_no, row.sku, row.qty) for row in shown.short_orders] == [(short, "SKU-003", 2)]
    assert paid not in {row.order_no for row in shown.short_orders}

    clock.advance(timedelta(days=8))
    assert board(runtime).sellers == []  # a week later nothing was sold in the window
    assert verified(runtime) == []


def test_the_count_sheet_lists_every_sku_at_every_warehouse_with_real_numbers(runtime: Runtime) -> None:
    stock_up(runtime, "SKU-001", "HZ", 10)
    with runtime.reading() as session:
        lines = counts.count_sheet(session)
        assert len(lines) == 3 * 2  # the bundle holds no stock of its own
        with pytest.raises(UnknownWarehouse):
            counts.count_sheet(session, warehouse="NOPE")
    sheet = load_workbook(BytesIO(counts.export_counts(lines, language="en"))).active
    assert sheet is not None
    assert sheet.freeze_panes == "A2"
    assert [cell.value for cell in sheet[1]] == ["SKU", "Title", "Warehouse", "On hand", "Reserved", "Available",
                                                 "Counted"]
    first = sheet[2]
    assert [cell.value for cell in first] == ["SKU-001", "保温杯 500ml", "GZ", 0, 0, 0, None]
    assert sheet["D3"].value == 10 and sheet["D3"].number_format == "#,##0"


def filled(rows: list[tuple[object, ...]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["商品编码", "仓库", "在库", "盘点数"])
    for row in rows:
        sheet.append(list(row))
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_import_applies_each_row_reports_the_bad_ones_and_a_second_run_changes_nothing(runtime: Runtime) -> None:
    stock_up(runtime, "SKU-001", "HZ", 10)
    stock_up(runtime, "SKU-002", "HZ", 5)
    content = filled([
        ("SKU-001", "HZ", 10, 8),       # applied
        ("SKU-002", "HZ", 5, 5),        # matches the books
        ("SKU-002", "GZ", 0, None),     # not counted
        ("SKU-003", "HZ", 0, -1),       # negative
        ("SKU-003", "GZ", 0, 1.5),      # fractional
        ("NO-SUCH", "HZ", 0, 1),        # unknown SKU
        ("SKU-003", "XX", 0, 1),        # unknown warehouse
        ("SKU-003", "HZ", 0, "七"),      # not a number
        ("SKU-003", "GZ", 0, 4),        # applied, after the bad rows
    ])
    report = counts.import_counts(runtime, content=content, filename="count.xlsx", reason="月末盘点", actor=COUNTER)
    outcome = [(row.row, row.status, row.code) for row in report.rows]
    assert outcome == [
        (2, "applied", ""), (3, "unchanged", ""), (4, "skipped", ""),
        (5, "error", "inventory.invalid_quantity"), (6, "error", "inventory.invalid_quantity"),
        (7, "error", "catalog.unknown_sku"), (8, "error", "inventory.unknown_warehouse"),
        (9, "error", "inventory.invalid_quantity"), (10, "applied", ""),
    ]
    assert report.rows[0].before == 10 and report.rows[0].after == 8
    assert on_hand(runtime, "SKU-001") == {"HZ": 8} and on_hand(runtime, "SKU-003") == {"GZ": 4}

    again = counts.import_counts(runtime, content=content, filename="renamed.xlsx", reason="月末盘点",
                                 actor=COUNTER)
    assert again.totals == {"applied": 0, "unchanged": 3, "skipped": 1, "error": 5}
    assert on_hand(runtime, "SKU-001") == {"HZ": 8}
    assert verified(runtime) == []


def test_a_count_below_what_orders_reserved_is_refused_and_changes_nothing(runtime: Runtime) -> None:
    stock_up(runtime, "SKU-001", "HZ", 10)
    number = order(runtime, qty=3)
    with runtime.uow() as uow:
        order_id = orders.get_order(uow.session, number).id
        inventory.assign_reservation(uow.session, order_id=order_id, allocations=[("SKU-001", "HZ", 3)],
                                     at=uow.now(), actor=CLERK)
        uow.commit()
    content = "商品编码,仓库,盘点数\nSKU-001,HZ,2\n".encode()
    report = counts.import_counts(runtime, content=content, filename="count.csv", reason="盘点", actor=COUNTER)
    assert [(row.status, row.code) for row in report.rows] == [("error", "inventory.below_reserved")]
    assert on_hand(runtime, "SKU-001") == {"HZ": 10}
