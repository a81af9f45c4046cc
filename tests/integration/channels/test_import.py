"""File import on SQLite and PostgreSQL: every order of a file once, row errors reported, re-runs change nothing."""

from __future__ import annotations

import csv
import io
import json
import os
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from orderhub import cli
from orderhub.channels import importer
from orderhub.channels import service as channels
from orderhub.channels.errors import ShopNotFound
from orderhub.channels.importer import (
    TEMPLATE_COLUMNS,
    TEMPLATE_CSV,
    EmptyFile,
    ImportReport,
    MissingColumns,
    NotOrders,
    import_file,
)
from orderhub.channels.model import Channel, DeadLetter
from orderhub.orders.model import Order, OrderLine
from orderhub.runtime import Runtime

ORDER = {
    "下单时间": "2024/11/11 9:10",
    "客户姓名": "张三",
    "手机号": "+86 138 0013 8000",
    "省": "浙江省",
    "市": "杭州市",
    "区": "西湖区",
    "详细地址": "文三路90号",
    "运费": "10.00",
    "优惠": "7.00",
    "实付金额": "600.00",
    "支付方式": "微信支付",
}
LINES = [
    {"商品编码": "SKU-001", "商品名称": "保温杯", "数量": "2", "单价": "99.00"},
    {"商品编码": "SKU-002", "商品名称": "茶叶礼盒", "数量": "1", "单价": "399.00"},
]


@pytest.fixture
def shops(runtime: Runtime, merchant: None) -> None:
    channels.create_shop(runtime.uow(), channel=Channel.MANUAL, code="dealers", name="经销商")
    channels.create_shop(runtime.uow(), channel=Channel.TAOBAO, code="tb", name="淘宝店")


def sheet_rows(*numbers: str, **order: str) -> list[dict[str, str]]:
    """Two rows (two lines) per order number, the order columns repeated on each."""
    return [
        {**ORDER, "订单编号": number, "支付单号": f"PAY-{number}", **order, **line}
        for number in numbers
        for line in LINES
    ]


def write_csv(path: Path, rows: list[dict[str, str]], *, encoding: str = "utf-8-sig", columns: Any = None) -> Path:
    columns = columns or TEMPLATE_COLUMNS
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows([[r.get(c, "") for c in columns] for r in rows])
    path.write_bytes(out.getvalue().encode(encoding))
    return path


def run(runtime: Runtime, path: Path, channel: str = "manual", shop: str = "dealers", **options: Any) -> ImportReport:
    return import_file(runtime, path, channel=channel, shop=shop, **options)


def count(runtime: Runtime, model: type) -> int:
    with runtime.reading() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def outcome(report: ImportReport) -> dict[str, int]:
    """The non-zero figures of the summary, by their English label."""
    return {label.split(" ", 1)[1]: number for label, number in report.summary() if number}


def error_lines(report: ImportReport) -> list[list[str]]:
    assert report.errors_path is not None
    raw = report.errors_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM, so Excel opens it"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def trade(tid: int, **changes: Any) -> dict[str, Any]:
    return {
        "tid": tid,
        "tid_str": str(tid),
        "status": "WAIT_SELLER_SEND_GOODS",
        "modified": "2026-11-20 10:05:00",
        "pay_time": "2026-11-20 10:00:00",
        "receiver_name": "张三",
        "receiver_mobile": "13800138000",
        "receiver_state": "浙江省",
        "receiver_city": "杭州市",
        "receiver_district": "西湖区",
        "receiver_address": "文三路90号",
        "post_fee": "10.00",
        "payment": "208.00",
        "orders": {
            "order": [
                {"outer_sku_id": "SKU-001", "sku_id": "5012", "title": "保温杯", "num": 2, "price": "99.00"},
            ]
        },
        **changes,
    }


# ---------------------------------------------------------------------------------------------
# Spreadsheets
# ---------------------------------------------------------------------------------------------


def test_the_template_imports_as_one_order_and_importing_it_again_changes_nothing(
    runtime: Runtime, shops: None
) -> None:
    first = run(runtime, TEMPLATE_CSV)
    assert first.complete and first.format == "CSV, UTF-8 BOM" and outcome(first) == {"created": 1}
    with runtime.reading() as session:
        order = session.scalars(select(Order)).one()
        lines = [(line.sku, line.qty, line.unit_price_fen) for line in order.lines]
    assert lines == [("SKU-001", 2, 9900), ("SKU-002", 1, 39900)]
    # Order amounts once, not once per row; the +86 phone normalised by validation.
    assert (order.goods_amount_fen, order.shipping_fee_fen, order.discount_fen, order.paid_amount_fen) == (
        59700,
        1000,
        700,
        60000,
    )
    assert order.receiver_phone == "13800138000" and order.status == "paid" and order.channel == "manual"
    assert order.raw_payload is not None and order.raw_payload["支付单号"] == "WX20241111091000001"
    again = run(runtime, TEMPLATE_CSV)
    assert outcome(again) == {"unchanged": 1} and again.errors_path is None
    assert count(runtime, Order) == 1 and count(runtime, OrderLine) == 2


@pytest.mark.parametrize(("encoding", "described"), [("gbk", "CSV, GBK/GB18030"), ("utf-8-sig", "CSV, UTF-8 BOM")])
def test_gbk_and_utf8_bom_files_import_the_same_orders(
    runtime: Runtime, shops: None, tmp_path: Path, encoding: str, described: str
) -> None:
    report = run(runtime, write_csv(tmp_path / "dealer.csv", sheet_rows("A1", "A2"), encoding=encoding))
    assert report.format == described and outcome(report) == {"created": 2}
    with runtime.reading() as session:
        assert set(session.scalars(select(Order.receiver_name))) == {"张三"}
        # 2024/11/11 9:10, Beijing time
        assert set(session.scalars(select(Order.platform_modified_at))) == {datetime(2024, 11, 11, 1, 10, tzinfo=UTC)}


def test_an_empty_file_is_refused_and_changes_nothing(runtime: Runtime, shops: None, tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(EmptyFile):
        run(runtime, tmp_path / "empty.csv")
    assert count(runtime, Order) == 0


def test_a_header_only_file_creates_nothing(runtime: Runtime, shops: None, tmp_path: Path) -> None:
    report = run(runtime, write_csv(tmp_path / "header.csv", []))
    assert report.complete and report.orders == 0 and report.row_errors == 0 and report.errors_path is None
    assert count(runtime, Order) == 0


def test_missing_required_columns_are_named_and_nothing_is_created(
    runtime: Runtime, shops: None, tmp_path: Path
) -> None:
    columns = [c for c in TEMPLATE_COLUMNS if c != "下单时间"]
    with pytest.raises(MissingColumns, match="下单时间"):
        run(runtime, write_csv(tmp_path / "orders.csv", sheet_rows("A1"), columns=columns))
    assert count(runtime, Order) == 0


def test_unknown_columns_are_ignored_and_reported_once(runtime: Runtime, shops: None, tmp_path: Path) -> None:
    rows = [{**row, "业务员": "小王"} for row in sheet_rows("A1", "A2")]
    report = run(runtime, write_csv(tmp_path / "orders.csv", rows, columns=[*TEMPLATE_COLUMNS, "业务员"]))
    assert report.ignored_columns == ["业务员"] and outcome(report) == {"created": 2}


def test_an_excel_file_with_merged_cells_and_formulas(runtime: Runtime, shops: None, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(TEMPLATE_COLUMNS))
    for row in sheet_rows("M1", "M2", "M3"):
        sheet.append([row.get(column) for column in TEMPLATE_COLUMNS])
    order_columns = [i for i, c in enumerate(TEMPLATE_COLUMNS, start=1) if c not in LINES[0]]
    for position in order_columns:  # M1's order cells merged over its two rows; the second row reads blank
        sheet.merge_cells(start_row=2, end_row=3, start_column=position, end_column=position)
    paid = TEMPLATE_COLUMNS.index("实付金额") + 1
    sheet.cell(6, paid).value = "=10*60"  # M3: a formula saved by a program, with no cached result
    path = tmp_path / "dealer.xlsx"
    book.save(path)
    report = run(runtime, path)
    assert report.complete and outcome(report) == {"created": 2, "row errors": 1}
    with runtime.reading() as session:
        merged = session.scalars(select(Order).where(Order.channel_order_id == "M1")).one()
        assert len(merged.lines) == 2 and merged.paid_amount_fen == 60000
    header, error = error_lines(report)
    assert header == ["行号 row", "订单编号 order", "错误代码 code", "说明 message"]
    assert error[:3] == ["6", "M3", "cell.formula_without_value"]


def test_dead_letters_are_in_the_error_report_and_not_stored_twice_on_a_rerun(
    runtime: Runtime, shops: None, tmp_path: Path
) -> None:
    rows = sheet_rows("OK1") + sheet_rows("BADTIME", 下单时间="昨天下午") + sheet_rows("BADSUM", 实付金额="1.00")
    path = write_csv(tmp_path / "orders.csv", rows)
    first = run(runtime, path)
    assert outcome(first) == {"created": 1, "dead-lettered": 2}
    codes = {line[1]: (line[0], line[2]) for line in error_lines(first)[1:]}
    assert codes == {"BADTIME": ("4,5", "dead_letter.mapping"), "BADSUM": ("6,7", "dead_letter.validation")}
    again = run(runtime, path)
    assert outcome(again) == {"unchanged": 1, "dead-lettered": 2}
    assert count(runtime, DeadLetter) == 2 and count(runtime, Order) == 1


def test_a_crash_loses_at_most_the_batches_in_flight(
    runtime: Runtime, shops: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(tmp_path / "orders.csv", sheet_rows(*[f"C{n}" for n in range(7)]))
    real = importer.ingest_batch

    def crash_on_the_third_batch(*args: Any, **kwargs: Any) -> Any:
        if "C4" in {item.payload["订单编号"] for item in kwargs["items"]}:
            raise RuntimeError("the process died")
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "ingest_batch", crash_on_the_third_batch)
    with pytest.raises(RuntimeError):
        run(runtime, path, batch_size=2)
    with runtime.reading() as session:
        stored = set(session.scalars(select(Order.channel_order_id)))
    # The batches before it are written; the last one may have been written beside it (two in flight).
    assert stored in ({"C0", "C1", "C2", "C3"}, {"C0", "C1", "C2", "C3", "C6"})
    monkeypatch.setattr(importer, "ingest_batch", real)
    assert outcome(run(runtime, path, batch_size=2)) == {"created": 7 - len(stored), "unchanged": len(stored)}
    assert count(runtime, Order) == 7


# ---------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------


def test_platform_exports_import_from_their_envelopes(runtime: Runtime, shops: None, tmp_path: Path) -> None:
    channels.create_shop(runtime.uow(), channel=Channel.PDD, code="pdd", name="pdd")
    pdd = {
        "order_sn": "241120-563820194736052",
        "order_status": 1,
        "refund_status": 1,
        "updated_at": "2026-11-20 10:00:00",
        "receiver_name": "李四",
        "receiver_phone": "13900139000",
        "province": "广东省",
        "city": "东莞市",
        "town": "",
        "receiver_address": "长安镇振安路1号",
        "postage": 0,
        "pay_amount": 149.8,
        "item_list": [{"outer_id": "SKU-002", "sku_id": 77, "goods_count": 1, "goods_price": 159.8}],
    }
    envelope = {"order_list_get_response": {"order_list": [pdd], "total_count": 1}}
    (tmp_path / "pdd.json").write_text(json.dumps(envelope, ensure_ascii=False, indent=1), encoding="utf-8")
    assert outcome(run(runtime, tmp_path / "pdd.json", channel="pdd", shop="pdd")) == {"created": 1}
    lines = "\n".join(json.dumps(trade(n)) for n in (1, 2, 3))
    (tmp_path / "tb.jsonl").write_text(lines, encoding="utf-8")
    report = run(runtime, tmp_path / "tb.jsonl", channel="taobao", shop="tb")
    assert report.format.startswith("JSON Lines") and outcome(report) == {"created": 3}
    with runtime.reading() as session:
        amount = session.scalar(select(Order.paid_amount_fen).where(Order.channel_order_id == pdd["order_sn"]))
    assert amount == 14980


def test_each_order_of_a_json_lines_export_keeps_its_own_line_as_its_payload(
    runtime: Runtime, shops: None, tmp_path: Path
) -> None:
    lines = [json.dumps(trade(4123456789012345678 + n), ensure_ascii=False) for n in range(3)]
    lines[1] = lines[1].replace('"post_fee": "10.00"', '"post_fee": 10.00')  # a JSON number, not a string
    (tmp_path / "tb.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert outcome(run(runtime, tmp_path / "tb.jsonl", channel="taobao", shop="tb")) == {"created": 3}
    with runtime.reading() as session:
        stored = session.scalars(select(Order).order_by(Order.id)).all()
    assert [order.raw_payload for order in stored] == [json.loads(line) for line in lines]
    assert [order.raw_payload["tid"] for order in stored if order.raw_payload] == [
        4123456789012345678, 4123456789012345679, 4123456789012345680]


def test_the_same_order_twice_in_a_file_is_one_order_the_older_version_stale(
    runtime: Runtime, shops: None, tmp_path: Path
) -> None:
    versions = [trade(7, modified="2026-11-20 10:05:00"), trade(7, modified="2026-11-20 11:00:00", payment="198.00")]
    (tmp_path / "twice.json").write_text(json.dumps(versions), encoding="utf-8")
    report = run(runtime, tmp_path / "twice.json", channel="taobao", shop="tb")
    assert outcome(report) == {"created": 1, "stale": 1}
    with runtime.reading() as session:
        assert session.scalars(select(Order.paid_amount_fen)).one() == 19800


def test_an_order_repeated_in_the_next_batch_ends_as_the_files_last_version(
    runtime: Runtime, shops: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two batches in flight, the first one slow: the second version still lands after the first, even
    # though the platform's modified time does not tell them apart.
    real = importer.ingest_batch

    def slow_first_version(*args: Any, **kwargs: Any) -> Any:
        if any(item.payload.get("buyer_message") == "第 1 版" for item in kwargs["items"]):
            time.sleep(0.3)
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "ingest_batch", slow_first_version)
    versions = [trade(11, buyer_message=f"第 {n} 版") for n in (1, 2)]
    (tmp_path / "repeated.jsonl").write_text("\n".join(json.dumps(v) for v in versions), encoding="utf-8")
    report = run(runtime, tmp_path / "repeated.jsonl", channel="taobao", shop="tb", batch_size=1)
    assert outcome(report) == {"created": 1, "updated": 1}
    with runtime.reading() as session:
        assert session.scalars(select(Order.buyer_memo)).one() == "第 2 版"


def test_a_batch_rolled_back_by_a_deadlock_is_written_again(
    runtime: Runtime, shops: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Deadlock(Exception):
        sqlstate = "40P01"  # what PostgreSQL answers the transaction it picks to break a lock cycle

    real, failed = importer.ingest_batch, []

    def deadlock_once(*args: Any, **kwargs: Any) -> Any:
        if not failed and 22 in {item.payload["tid"] for item in kwargs["items"]}:
            failed.append(1)
            raise Deadlock("deadlock detected")
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "ingest_batch", deadlock_once)
    (tmp_path / "tb.jsonl").write_text("\n".join(json.dumps(trade(tid)) for tid in range(20, 26)), encoding="utf-8")
    report = run(runtime, tmp_path / "tb.jsonl", channel="taobao", shop="tb", batch_size=2)
    assert failed and outcome(report) == {"created": 6}
    assert count(runtime, Order) == 6


def test_truncated_json_imports_the_orders_before_the_break_and_a_rerun_duplicates_nothing(
    runtime: Runtime, shops: None, tmp_path: Path
) -> None:
    text = json.dumps({"trades_sold_get_response": {"trades": {"trade": [trade(n) for n in range(1, 6)]}}})
    cut = text[: text.index('"tid_str": "4"')]
    path = tmp_path / "cut.json"
    path.write_text(cut, encoding="utf-8")
    report = run(runtime, path, channel="taobao", shop="tb")
    assert not report.complete and outcome(report) == {"created": 3}
    assert report.stopped is not None and report.stopped.code == "json.truncated"
    assert "after order #3" in report.stopped.message and f"near byte {len(cut)}" in report.stopped.message
    assert error_lines(report)[1][2] == "json.truncated"
    again = run(runtime, path, channel="taobao", shop="tb")
    assert outcome(again) == {"unchanged": 3}
    assert count(runtime, Order) == 3 and count(runtime, DeadLetter) == 0


def test_a_json_document_that_is_not_orders_changes_nothing(runtime: Runtime, shops: None, tmp_path: Path) -> None:
    (tmp_path / "bill.json").write_text(
        json.dumps({"alipay_data_bill_accountlog_query_response": {}}), encoding="utf-8"
    )
    with pytest.raises(NotOrders):
        run(runtime, tmp_path / "bill.json", channel="taobao", shop="tb")
    assert count(runtime, Order) == 0 and count(runtime, DeadLetter) == 0


def test_a_shop_that_does_not_exist_is_refused(runtime: Runtime, shops: None) -> None:
    with pytest.raises(ShopNotFound, match="no-such-shop"):
        run(runtime, TEMPLATE_CSV, shop="no-such-shop")


# ---------------------------------------------------------------------------------------------
# Large files: flat memory, batches
# ---------------------------------------------------------------------------------------------


def write_trades(path: Path, first: int, number: int) -> Path:
    """A Taobao list export, written as it streams (a real one is larger per order, not different)."""
    with path.open("w", encoding="utf-8") as out:
        out.write(f'{{"trades_sold_get_response": {{"total_results": {number}, "trades": {{"trade": [')
        for n in range(first, first + number):
            extra = {"buyer_message": f"请尽快发货 {n}" * 8, "seller_memo": "大促订单" * 8, "buyer_nick": f"tb{n:012d}"}
            out.write(("," if n > first else "") + json.dumps(trade(n, **extra), ensure_ascii=False))
        out.write("]}}}")
    return path


def traced_import(runtime: Runtime, path: Path) -> tuple[ImportReport, int]:
    tracemalloc.start()
    try:
        report = run(runtime, path, channel="taobao", shop="tb")
        return report, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_large_file_is_imported_in_flat_memory(runtime: Runtime, shops: None, tmp_path: Path) -> None:
    """Stands in for the 1 GB file: ten times the orders costs no more memory, and far less than the file.

    For scale: `json.loads` of the same file alone peaks at about 4.5 times its size.
    """
    # First use loads address tables, mappings and statement caches: not part of the measure.
    run(runtime, write_trades(tmp_path / "warm.json", 1, 10), channel="taobao", shop="tb")
    _, small_peak = traced_import(runtime, write_trades(tmp_path / "small.json", 1_000, 2_000))
    large = write_trades(tmp_path / "large.json", 100_000, 20_000)
    started = time.monotonic()
    report, large_peak = traced_import(runtime, large)
    seconds = time.monotonic() - started
    size = os.path.getsize(large)
    print(  # the figures, for the record (pytest -s)
        f"\n{runtime.engine.dialect.name}: {report.orders} orders, {size / 1e6:.1f} MB, peak {large_peak / 1e6:.1f} MB "
        f"(2,000 orders: {small_peak / 1e6:.1f} MB), {report.orders / seconds:.0f} orders/s under tracemalloc"
    )
    assert report.complete and outcome(report) == {"created": 20_000}
    assert large_peak < 1.5 * small_peak
    assert large_peak < 2 * size


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def command(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setattr(cli, "_runtime", lambda: runtime)
    yield CliRunner()


def test_the_command_imports_and_prints_the_summary(command: CliRunner, shops: None, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", [*sheet_rows("A1"), {"订单编号": "", "客户姓名": "李四"}])
    result = command.invoke(cli.app, ["import", str(path), "--channel", "manual", "--shop", "dealers"])
    assert result.exit_code == 0, result.output
    assert "新建 created" in result.output and "row.no_order_id" in result.output
    assert f"error report: {path}.errors.csv" in result.output


@pytest.mark.parametrize(
    ("content", "shop", "exit_code", "message"),
    [
        (b"", "dealers", 1, "the file is empty"),
        (TEMPLATE_CSV.read_bytes(), "nowhere", 1, "no shop 'nowhere'"),
        ('[{"订单编号": "J1", "下单时'.encode(), "dealers", 1, "breaks off"),
    ],
)
def test_the_command_exits_1_when_nothing_could_be_imported(
    command: CliRunner, shops: None, tmp_path: Path, content: bytes, shop: str, exit_code: int, message: str
) -> None:
    (tmp_path / "in.csv").write_bytes(content)
    result = command.invoke(cli.app, ["import", str(tmp_path / "in.csv"), "--channel", "manual", "--shop", shop])
    assert result.exit_code == exit_code, result.output
    assert message in result.output.replace("\n", "")


def test_the_command_exits_3_when_the_file_breaks_off_after_some_orders(
    command: CliRunner, shops: None, tmp_path: Path
) -> None:
    text = json.dumps([trade(1), trade(2)])
    (tmp_path / "cut.json").write_text(text[:-30], encoding="utf-8")
    result = command.invoke(cli.app, ["import", str(tmp_path / "cut.json"), "--channel", "taobao", "--shop", "tb"])
    assert result.exit_code == 3, result.output
    assert "json.truncated" in result.output


def test_the_command_writes_the_template(command: CliRunner, tmp_path: Path) -> None:
    result = command.invoke(cli.app, ["import", "--template", str(tmp_path / "模板.xlsx")])
    assert result.exit_code == 0, result.output
    rows = list(openpyxl.load_workbook(tmp_path / "模板.xlsx").active.iter_rows(values_only=True))
    assert list(rows[0]) == list(TEMPLATE_COLUMNS) and len(rows) == 3
