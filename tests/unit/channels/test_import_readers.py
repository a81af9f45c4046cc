"""The import readers, without a database: what kind of file, which encoding, which rows make which order."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from orderhub.channels.importer import (
    LOOKAHEAD,
    TEMPLATE_COLUMNS,
    TEMPLATE_CSV,
    CellProblem,
    EmptyFile,
    FileOrder,
    ImportFileError,
    Item,
    MissingColumns,
    NotOrders,
    ReadingStopped,
    RowError,
    cell_text,
    detect_encoding,
    detect_kind,
    open_source,
    order_time,
    write_template,
)
from orderhub.channels.mapping import load_mapping

ORDER = {
    "订单编号": "DX1",
    "下单时间": "2024-11-11 09:10:00",
    "客户姓名": "张三",
    "手机号": "+86 138-0013-8000",
    "省": "浙江省",
    "市": "杭州市",
    "区": "西湖区",
    "详细地址": "文三路90号",
    "运费": "10.00",
    "优惠": "7.00",
    "实付金额": "600.00",
    "支付方式": "微信支付",
    "支付单号": "WX1",
}
LINE_1 = {"商品编码": "SKU-001", "商品名称": "保温杯", "数量": "2", "单价": "99.00"}
LINE_2 = {"商品编码": "SKU-002", "商品名称": "茶叶礼盒", "数量": "1", "单价": "399.00"}


def row(**cells: str) -> dict[str, str]:
    return cells


def order_rows(number: str = "DX1", **order: str) -> list[dict[str, str]]:
    """The two rows of a two-line order, order columns repeated as the template asks."""
    head = {**ORDER, "订单编号": number, **order}
    return [{**head, **LINE_1}, {**head, **LINE_2}]


def csv_bytes(rows: list[dict[str, str]], columns: tuple[str, ...] | list[str] = TEMPLATE_COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows([[r.get(c, "") for c in columns] for r in rows])
    return out.getvalue()


def write_csv(
    path: Path,
    rows: list[dict[str, str]],
    encoding: str = "utf-8",
    columns: tuple[str, ...] | list[str] = TEMPLATE_COLUMNS,
) -> Path:
    path.write_bytes(csv_bytes(rows, columns).encode(encoding))
    return path


def read(path: Path, channel: str = "manual", lookahead: int = LOOKAHEAD) -> tuple[str, list[Item], list[str]]:
    with open_source(path, channel=channel, lookahead=lookahead) as source:
        items = list(source.items())
        return source.describe, items, source.ignored_columns


def orders(items: list[Item]) -> list[FileOrder]:
    return [item for item in items if isinstance(item, FileOrder)]


def errors(items: list[Item]) -> list[RowError]:
    return [item for item in items if isinstance(item, RowError)]


# ---------------------------------------------------------------------------------------------
# Kinds and encodings
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"PK\x03\x04rest", "xlsx"),
        (b'  [{"tid": 1}]', "json"),
        (b'\xef\xbb\xbf{"data": {}}', "json"),
        ("订单编号,下单时间".encode("gbk"), "csv"),
        (b"\xef\xbb\xbf\xe8\xae\xa2", "csv"),
    ],
)
def test_the_kind_of_file_is_told_from_its_first_bytes(head: bytes, kind: str) -> None:
    assert detect_kind(head) == kind


@pytest.mark.parametrize(
    ("head", "error"),
    [
        (b"", EmptyFile),
        (b" \r\n\t", EmptyFile),
        (b"\xef\xbb\xbf\n", EmptyFile),
        (b"\xd0\xcf\x11\xe0xls", ImportFileError),
    ],
)
def test_files_that_cannot_be_imported_are_refused_with_a_reason(head: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        detect_kind(head)


@pytest.mark.parametrize(
    ("head", "at_end", "encoding"),
    [
        ("\ufeff订单编号".encode(), True, "utf-8-sig"),
        ("订单编号".encode(), True, "utf-8"),
        ("订单编号".encode("gbk"), True, "gb18030"),
        # A character cut by the end of the sniff window is not a decoding error…
        ("订单编号".encode()[:-1], False, "utf-8"),
        # …but at the end of the file it is.
        ("订单编号".encode()[:-1], True, "gb18030"),
        (b"order,time", True, "utf-8"),
        # A UTF-8 header with a GBK row below: UTF-8, and that row is a row error.
        ("订单编号\r\n".encode() + "张三".encode("gbk"), True, "utf-8"),
    ],
)
def test_the_encoding_is_a_bom_or_utf8_else_gb18030(head: bytes, at_end: bool, encoding: str) -> None:
    assert detect_encoding(head, at_end=at_end) == encoding


@pytest.mark.parametrize(("encoding", "described"), [("gbk", "CSV, GBK/GB18030"), ("utf-8-sig", "CSV, UTF-8 BOM")])
def test_gbk_and_utf8_bom_csv_files_read_as_the_same_orders(tmp_path: Path, encoding: str, described: str) -> None:
    describe, items, _ = read(write_csv(tmp_path / "orders.csv", order_rows(), encoding))
    assert describe == described
    (order,) = orders(items)
    assert order.key == "DX1" and order.rows == (2, 3)
    assert order.incoming.payload["客户姓名"] == "张三"
    assert [line["商品名称"] for line in order.incoming.payload["lines"]] == ["保温杯", "茶叶礼盒"]


def test_a_row_that_does_not_decode_is_a_row_error_and_the_rest_is_read(tmp_path: Path) -> None:
    good = csv_bytes(order_rows("DX1") + order_rows("DX3")).encode()
    header, *lines = good.split(b"\r\n")
    stray = csv_bytes(order_rows("DX2")[:1]).split("\r\n")[1].encode("gbk")
    (tmp_path / "mixed.csv").write_bytes(b"\r\n".join([header, lines[0], lines[1], stray, *lines[2:]]))
    describe, items, _ = read(tmp_path / "mixed.csv")
    assert describe == "CSV, UTF-8"
    assert [o.key for o in orders(items)] == ["DX1", "DX3"]
    (error,) = errors(items)
    assert error.rows == (4,) and error.order_id == "DX2" and error.code == "row.encoding"


# ---------------------------------------------------------------------------------------------
# Header and columns
# ---------------------------------------------------------------------------------------------


def test_missing_required_columns_are_named(tmp_path: Path) -> None:
    columns = [c for c in TEMPLATE_COLUMNS if c not in ("手机号", "实付金额")]
    with pytest.raises(MissingColumns, match="手机号, 实付金额") as raised:
        read(write_csv(tmp_path / "orders.csv", order_rows(), columns=columns))
    assert "missing required columns: 手机号, 实付金额" in raised.value.message


def test_unknown_columns_are_ignored_and_listed_once(tmp_path: Path) -> None:
    columns = [*TEMPLATE_COLUMNS, "业务员", "渠道备注"]
    rows = [{**r, "业务员": "小王", "渠道备注": "x"} for r in order_rows()]
    _, items, ignored = read(write_csv(tmp_path / "orders.csv", rows, columns=columns))
    assert ignored == ["业务员", "渠道备注"]
    (order,) = orders(items)
    assert "业务员" not in order.incoming.payload


def test_columns_in_another_order_and_optional_ones_missing_still_read(tmp_path: Path) -> None:
    columns = [
        "商品编码",
        "数量",
        "单价",
        "订单编号",
        "下单时间",
        "客户姓名",
        "手机号",
        "省",
        "市",
        "详细地址",
        "实付金额",
    ]
    _, items, _ = read(write_csv(tmp_path / "orders.csv", order_rows(), columns=columns))
    (order,) = orders(items)
    assert "运费" not in order.incoming.payload and order.incoming.payload["实付金额"] == "600.00"


def test_a_column_given_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="twice: 数量"):
        read(write_csv(tmp_path / "orders.csv", order_rows(), columns=[*TEMPLATE_COLUMNS, "数量"]))


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(EmptyFile, match="the file is empty"):
        read(tmp_path / "empty.csv")


def test_a_file_with_only_a_header_has_no_orders(tmp_path: Path) -> None:
    _, items, _ = read(write_csv(tmp_path / "header.csv", []))
    assert items == []


def test_a_spreadsheet_is_imported_into_a_manual_shop_only(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="channel manual"):
        read(write_csv(tmp_path / "orders.csv", order_rows()), channel="taobao")


def test_a_broken_quote_stops_reading_at_its_row(tmp_path: Path) -> None:
    text = csv_bytes(order_rows("DX1") + order_rows("DX2"))
    text += 'DX3,"2024-11-11 09:10:00' + "x" * 200_000 + "\r\n"
    (tmp_path / "broken.csv").write_text(text, encoding="utf-8")
    with open_source(tmp_path / "broken.csv", channel="manual") as source:
        seen = []
        with pytest.raises(ReadingStopped) as stopped:
            seen.extend(source.items())
    assert stopped.value.error.code == "csv.malformed" and stopped.value.error.rows == (6,)
    assert [o.key for o in orders(seen)] == []  # still open in the look-ahead window when reading stopped


# ---------------------------------------------------------------------------------------------
# Grouping rows into orders
# ---------------------------------------------------------------------------------------------


def test_order_amounts_are_taken_once_per_order_not_once_per_row(tmp_path: Path) -> None:
    _, items, _ = read(write_csv(tmp_path / "orders.csv", order_rows()))
    (order,) = orders(items)
    draft = load_mapping("manual").to_draft(order.incoming.payload, shop="dealers")
    assert (draft.goods_amount_fen, draft.shipping_fee_fen, draft.discount_fen, draft.paid_amount_fen) == (
        59700,
        1000,
        700,
        60000,
    )
    assert draft.status == "paid" and draft.channel_status == "已付款"
    assert draft.receiver.phone == "+86 138-0013-8000"  # validation normalises it
    assert draft.raw_payload is not None and draft.raw_payload["支付单号"] == "WX1"


def test_an_order_paid_nothing_is_pending_payment(tmp_path: Path) -> None:
    _, items, _ = read(write_csv(tmp_path / "orders.csv", order_rows(实付金额="0", 优惠="607.00")))
    (order,) = orders(items)
    assert order.incoming.payload["推定状态"] == "待付款"
    assert load_mapping("manual").to_draft(order.incoming.payload, shop="s").status == "pending_payment"


def test_rows_of_one_order_apart_within_the_lookahead_are_one_order(tmp_path: Path) -> None:
    a, b = order_rows("DX1"), order_rows("DX2")
    _, items, _ = read(write_csv(tmp_path / "orders.csv", [a[0], b[0], b[1], a[1]]), lookahead=5)
    assert [(o.key, o.rows, len(o.incoming.payload["lines"])) for o in orders(items)] == [
        ("DX1", (2, 5), 2),
        ("DX2", (3, 4), 2),
    ]
    assert errors(items) == []


def test_rows_beyond_the_lookahead_are_reported_not_made_a_second_order(tmp_path: Path) -> None:
    first, later = order_rows("DX1")
    rows = [first, *[order_rows(f"DX{n}")[0] for n in range(2, 6)], later]
    _, items, _ = read(write_csv(tmp_path / "orders.csv", rows), lookahead=3)
    assert [o.key for o in orders(items)] == ["DX1", "DX2", "DX3", "DX4", "DX5"]
    (error,) = errors(items)
    assert (error.rows, error.order_id, error.code) == ((7,), "DX1", "order.rows_too_far_apart")
    assert "more than 3 orders" in error.message


def test_a_row_without_order_id_continues_the_order_above_when_its_order_cells_agree(tmp_path: Path) -> None:
    first, second = order_rows("DX1")
    continued = {**LINE_2, "客户姓名": "张三"}  # a merged 订单编号 exported to CSV
    stray = {**second, "订单编号": "", "客户姓名": "李四"}
    _, items, _ = read(write_csv(tmp_path / "orders.csv", [first, continued, stray]))
    (order,) = orders(items)
    assert order.rows == (2, 3) and len(order.incoming.payload["lines"]) == 2
    (error,) = errors(items)
    assert error.rows == (4,) and error.code == "row.no_order_id"


def test_rows_of_one_order_that_disagree_on_order_columns_are_reported(tmp_path: Path) -> None:
    first, second = order_rows("DX1")
    _, items, _ = read(write_csv(tmp_path / "orders.csv", [first, {**second, "实付金额": "610.00"}]))
    assert orders(items) == []
    (error,) = errors(items)
    assert error.rows == (2, 3) and error.code == "order.conflicting_values" and "600.00 / 610.00" in error.message


def test_notes_that_differ_per_line_are_all_kept(tmp_path: Path) -> None:
    first, second = order_rows("DX1")
    _, items, _ = read(
        write_csv(tmp_path / "orders.csv", [{**first, "备注": "杯子要黑色"}, {**second, "备注": "礼盒包装"}])
    )
    (order,) = orders(items)
    assert order.incoming.payload["备注"] == "杯子要黑色；礼盒包装"


def test_blank_rows_are_skipped(tmp_path: Path) -> None:
    first, second = order_rows("DX1")
    _, items, _ = read(write_csv(tmp_path / "orders.csv", [first, {}, second, {}]))
    assert [o.rows for o in orders(items)] == [(2, 4)] and errors(items) == []


# ---------------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-11-11 09:10:00", "2024-11-11 09:10:00"),
        ("2024/11/11 9:10", "2024-11-11 09:10:00"),
        ("2024/11/11", "2024-11-11 00:00:00"),
        ("2024-1-5 8:03:09", "2024-01-05 08:03:09"),
        ("2024年11月11日 9:10", "2024-11-11 09:10:00"),
        ("20241111", "2024-11-11 00:00:00"),
        (datetime(2024, 11, 11, 9, 10), "2024-11-11 09:10:00"),
        (date(2024, 11, 11), "2024-11-11 00:00:00"),
        # Excel serial days: 45607 is 2024-11-11; .3819444 of a day is 09:10.
        (45607.381944444, "2024-11-11 09:10:00"),
        ("45607.381944444", "2024-11-11 09:10:00"),
        (45607, "2024-11-11 00:00:00"),
        # Not a time: kept as written, for the mapping to refuse with the raw value.
        ("昨天下午", "昨天下午"),
        ("2024-13-40 09:10", "2024-13-40 09:10"),
    ],
)
def test_order_times_come_in_excels_loose_forms(value: Any, expected: str) -> None:
    assert order_time(value) == expected


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("实付金额", "¥1,234.50", "1234.50"),
        ("单价", 59.699999999999996, "59.7"),  # a formula's cached float: Excel shows 15 digits
        ("数量", 2.0, "2"),
        ("手机号", 13800138000, "13800138000"),
        ("手机号", " +86 138 0013 8000 ", "+86 138 0013 8000"),
        ("订单编号", 20241111001.0, "20241111001"),
        ("详细地址", None, ""),
    ],
)
def test_cells_become_the_text_the_mapping_reads(column: str, value: Any, expected: str) -> None:
    assert cell_text(column, value) == expected


@pytest.mark.parametrize(
    ("column", "value", "code"),
    [("订单编号", 4.12345678901234e18, "cell.precision_lost"), ("实付金额", "#DIV/0!", "cell.error")],
)
def test_cells_that_lost_their_value_are_problems(column: str, value: Any, code: str) -> None:
    with pytest.raises(CellProblem) as raised:
        cell_text(column, value)
    assert raised.value.code == code


# ---------------------------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------------------------


def write_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(TEMPLATE_COLUMNS))
    for cells in rows:
        sheet.append(cells)
    book.save(path)
    return path


def as_cells(rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [[r.get(c) for c in TEMPLATE_COLUMNS] for r in rows]


def cache_formula_results(path: Path, results: dict[str, str]) -> None:
    """What Excel does on save: store each formula's result next to it (openpyxl writes none)."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    for cell, value in results.items():
        sheet = re.sub(rf'(<c r="{cell}"[^>]*><f>[^<]*</f>)<v\s*/>', rf"\g<1><v>{value}</v>", sheet)
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def test_merged_order_cells_in_xlsx_are_filled_down_within_the_order(tmp_path: Path) -> None:
    first, second = order_rows("DX1")
    blank_second = {column: second[column] for column in ("商品编码", "商品名称", "数量", "单价")}
    path = tmp_path / "merged.xlsx"
    write_xlsx(path, as_cells([first, blank_second, *order_rows("DX2")]))
    book = openpyxl.load_workbook(path)
    sheet = book.active
    assert sheet is not None
    for position, column in enumerate(TEMPLATE_COLUMNS, start=1):
        if column not in ("商品编码", "商品名称", "数量", "单价"):
            sheet.merge_cells(start_row=2, end_row=3, start_column=position, end_column=position)
    book.save(path)
    describe, items, _ = read(path)
    assert describe == "XLSX, 工作表 / sheet Sheet"
    assert [(o.key, o.rows) for o in orders(items)] == [("DX1", (2, 3)), ("DX2", (4, 5))]
    payload = orders(items)[0].incoming.payload
    assert payload["实付金额"] == "600.00" and payload["手机号"] == "+86 138-0013-8000"
    assert [line["商品编码"] for line in payload["lines"]] == ["SKU-001", "SKU-002"]


def test_a_formula_reads_as_its_cached_value_and_one_without_a_value_is_a_row_error(tmp_path: Path) -> None:
    first, second = order_rows("DX1")
    other = order_rows("DX2")
    cells = as_cells([first, second, *other])
    paid = TEMPLATE_COLUMNS.index("实付金额")
    letter = openpyxl.utils.get_column_letter(paid + 1)
    for number in (2, 3, 4):
        cells[number - 2][paid] = f"=M{number}*L{number}"  # a stand-in formula; its cached value matters
    path = write_xlsx(tmp_path / "formulas.xlsx", cells)
    cache_formula_results(path, {f"{letter}2": "600", f"{letter}3": "600"})  # DX2's first row: no result
    _, items, _ = read(path)
    (order,) = orders(items)
    assert order.key == "DX1" and order.incoming.payload["实付金额"] == "600"
    (error,) = errors(items)
    assert (error.rows, error.order_id, error.code) == ((4,), "DX2", "cell.formula_without_value")
    assert "DX2 not imported" in error.message


def test_xlsx_dates_come_as_date_cells_or_serial_numbers(tmp_path: Path) -> None:
    first, second = order_rows("DX1")
    cells = as_cells([first, second])
    at = TEMPLATE_COLUMNS.index("下单时间")
    cells[0][at], cells[1][at] = datetime(2024, 11, 11, 9, 10), 45607.381944444
    cells[0][TEMPLATE_COLUMNS.index("实付金额")] = cells[1][TEMPLATE_COLUMNS.index("实付金额")] = 600
    _, items, _ = read(write_xlsx(tmp_path / "dates.xlsx", cells))
    (order,) = orders(items)
    assert order.incoming.payload["下单时间"] == "2024-11-11 09:10:00" and order.incoming.payload["实付金额"] == "600"


def test_the_template_reads_back_as_one_order_of_two_lines(tmp_path: Path) -> None:
    for name in ("template.csv", "template.xlsx"):
        _, items, ignored = read(write_template(tmp_path / name))
        (order,) = orders(items)
        assert ignored == [] and order.key == "DX20241111001" and len(order.incoming.payload["lines"]) == 2


def test_the_committed_template_is_what_write_template_writes(tmp_path: Path) -> None:
    assert TEMPLATE_CSV.read_bytes() == write_template(tmp_path / "t.csv").read_bytes()
    assert TEMPLATE_CSV.read_bytes().startswith(b"\xef\xbb\xbf")


# ---------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------

# A top-level `orders` object, as every Taobao trade has: it must not pass for Shopify's `orders` list.
TRADE = {
    "tid": 4123456789012345678,
    "tid_str": "4123456789012345678",
    "payment": "207.00",
    "orders": {"order": [{"oid": 1, "outer_sku_id": "SKU-001"}]},
}


def json_file(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("channel", "document", "described"),
    [
        ("taobao", [TRADE], "JSON, 订单数组 / array of orders"),
        (
            "taobao",
            {"trades_sold_get_response": {"total_results": 1, "trades": {"trade": [TRADE]}}},
            "JSON, trades_sold_get_response.trades.trade[]",
        ),
        ("tmall", {"trade_fullinfo_get_response": {"trade": TRADE}}, "JSON, trade_fullinfo_get_response.trade"),
        (
            "jd",
            {
                "jingdong_pop_order_search_responce": {
                    "code": "0",
                    "searchorderinfo_result": {"orderInfoList": [{"orderId": "9"}]},
                }
            },
            "JSON, jingdong_pop_order_search_responce.searchorderinfo_result.orderInfoList[]",
        ),
        ("pdd", {"order_list_get_response": {"order_list": [{"order_sn": "241111-1"}]}}, "order_list_get_response"),
        (
            "douyin",
            {"code": 10000, "data": {"shop_order_list": [{"order_id": "69"}], "total": 1}},
            "data.shop_order_list",
        ),
        ("taobao", TRADE, "JSON, 单个订单 / one order"),
        ("shopify", {"orders": [{"id": 450789469, "updated_at": "2026-11-20T10:05:00+08:00"}]}, "JSON, orders[]"),
        ("shopify", {"order": {"id": 450789469}}, "JSON, order (单个订单 / one order)"),
        ("kuaishou", {"result": 1, "data": {"orderList": [{"orderBaseInfo": {"oid": 2411}}]}}, "data.orderList[]"),
        ("miniprogram", {"items": [{"order_id": "MP1"}], "next_cursor": None}, "JSON, items[]"),
    ],
)
def test_json_orders_are_found_in_arrays_and_platform_envelopes(
    tmp_path: Path, channel: str, document: Any, described: str
) -> None:
    # Pretty-printed, as people save API responses; one compact line would be read as JSON Lines.
    path = tmp_path / "export.json"
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    describe, items, _ = read(path, channel=channel)
    assert described in describe
    (order,) = orders(items)
    assert order.rows == (1,) and order.key


def test_json_numbers_stay_exact(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text('[{"tid": 4123456789012345678, "x": 149.8}]', encoding="utf-8")
    (order,) = orders(read(tmp_path / "t.json", channel="taobao")[1])
    assert order.key == "4123456789012345678" and order.incoming.payload["x"] == Decimal("149.8")


def test_json_lines_and_envelope_pages_one_per_line(tmp_path: Path) -> None:
    lines = "\n".join(json.dumps({**TRADE, "tid_str": str(n)}) for n in range(3)) + "\n\n"
    (tmp_path / "orders.jsonl").write_text(lines, encoding="utf-8")
    describe, items, _ = read(tmp_path / "orders.jsonl", channel="taobao")
    assert describe.startswith("JSON Lines") and [o.key for o in orders(items)] == ["0", "1", "2"]
    pages = "\n".join(
        json.dumps({"order_list_get_response": {"order_list": [{"order_sn": f"{page}-{n}"} for n in range(2)]}})
        for page in range(2)
    )
    (tmp_path / "pages.json").write_text(pages, encoding="utf-8")
    assert [o.key for o in orders(read(tmp_path / "pages.json", channel="pdd")[1])] == ["0-0", "0-1", "1-0", "1-1"]


def test_a_bad_json_line_is_a_row_error_and_a_cut_last_line_stops_reading(tmp_path: Path) -> None:
    (tmp_path / "orders.jsonl").write_text('{"tid": 1}\n{"tid": 2, \n{"tid": 3}\n{"tid": 4, "pay', encoding="utf-8")
    with open_source(tmp_path / "orders.jsonl", channel="taobao") as source:
        seen: list[Item] = []
        with pytest.raises(ReadingStopped) as stopped:
            seen.extend(source.items())
    assert [o.key for o in orders(seen)] == ["1", "3"]
    assert [(e.rows, e.code) for e in errors(seen)] == [((2,), "json.invalid_line")]
    assert stopped.value.error.code == "json.truncated" and "line 4" in stopped.value.error.message


def test_truncated_json_yields_the_orders_before_the_break_then_stops_with_its_position(tmp_path: Path) -> None:
    text = json.dumps(
        {"trades_sold_get_response": {"trades": {"trade": [{**TRADE, "tid_str": str(n)} for n in range(5)]}}}
    )
    cut = text[: text.index('"tid_str": "3"') + 5]
    (tmp_path / "cut.json").write_text(cut, encoding="utf-8")
    with open_source(tmp_path / "cut.json", channel="taobao") as source:
        seen: list[Item] = []
        with pytest.raises(ReadingStopped) as stopped:
            seen.extend(source.items())
    assert [o.key for o in orders(seen)] == ["0", "1", "2"]
    error = stopped.value.error
    assert error.code == "json.truncated"
    assert "after order #3" in error.message and f"near byte {len(cut.encode())}" in error.message


@pytest.mark.parametrize(
    ("channel", "document", "message"),
    [
        ("taobao", {"error_response": {"code": 27, "msg": "Invalid session"}}, "keys: error_response"),
        ("taobao", [1, 2, 3], "not an order object"),
        ("taobao", [{"name": "not an order"}], "has no tid_str/tid"),
        ("taobao", {"order_list_get_response": {"order_list": []}}, "this is a pdd export"),
        ("jd", {"trades_sold_get_response": {"trades": {"trade": []}}}, "taobao/tmall export"),
        ("kuaishou", {"code": 10000, "data": {"shop_order_list": []}}, "this is a douyin export"),
    ],
)
def test_a_json_document_that_is_not_orders_of_the_channel_is_refused_whole(
    tmp_path: Path, channel: str, document: Any, message: str
) -> None:
    with pytest.raises(NotOrders, match=message):
        read(json_file(tmp_path / "other.json", document), channel=channel)


def test_a_json_document_broken_before_any_order_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "cut.json").write_text('{"trades_sold_get_response": {"total_res', encoding="utf-8")
    with pytest.raises(ImportFileError, match="before any order"):
        read(tmp_path / "cut.json", channel="taobao")


def test_an_old_mac_csv_with_cr_only_line_ends_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mac.csv").write_bytes(csv_bytes(order_rows()).replace("\r\n", "\r").encode())
    with pytest.raises(ImportFileError, match="CR only"):
        read(tmp_path / "mac.csv")
