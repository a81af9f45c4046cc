"""Statement import on SQLite and PostgreSQL: nothing counted twice, nothing lost, every refusal said per line."""

from __future__ import annotations

import csv
from datetime import timedelta

from sqlalchemy import func, select

from orderhub.finance.model import Source, StatementFile, StatementLine
from orderhub.runtime import Runtime
from orderhub.simulators.statements import BillLine, alipay_bill
from tests.integration.finance.conftest import DAY, Importer, pay, wechat


def stored(runtime: Runtime) -> list[tuple[str, str, int]]:
    with runtime.reading() as session:
        return [tuple(row) for row in session.execute(
            select(StatementLine.kind, StatementLine.txn_id, StatementLine.amount_fen).order_by(StatementLine.id))]


def test_importing_a_file_twice_stores_each_line_once_and_says_so(runtime: Runtime, import_bytes: Importer) -> None:
    bill = wechat(pay("A-1", 100, txn="T-1"), pay("A-2", 200, txn="T-2"))
    first = import_bytes(bill)
    second = import_bytes(bill)
    assert (first.read, first.new, first.duplicate, first.imported_before) == (2, 2, 0, [])
    assert (second.read, second.new, second.duplicate) == (2, 0, 2)
    assert [file_id for file_id, _ in second.imported_before] == [first.file_id]
    assert stored(runtime) == [("payment", "T-1", 100), ("payment", "T-2", 200)]
    with runtime.reading() as session:
        files = session.scalars(select(StatementFile).order_by(StatementFile.id)).all()
    assert [(f.lines_read, f.lines_new, f.lines_duplicate) for f in files] == [(2, 2, 0), (2, 0, 2)]


def test_the_same_lines_in_an_overlapping_file_are_not_counted_twice(runtime: Runtime, import_bytes: Importer) -> None:
    import_bytes(wechat(pay("A-1", 100, txn="T-1"), pay("A-2", 200, txn="T-2")), name="day1.csv")
    report = import_bytes(wechat(pay("A-2", 200, txn="T-2"), pay("A-3", 300, txn="T-3"),
                                 pay("A-3", 300, txn="T-3")), name="day1-2.csv")
    assert (report.read, report.new, report.duplicate, report.refused) == (3, 1, 2, 0)
    assert [txn for _, txn, _ in stored(runtime)] == ["T-1", "T-2", "T-3"]


def test_a_repeat_with_other_figures_is_refused_and_the_stored_line_is_kept(
    runtime: Runtime, import_bytes: Importer
) -> None:
    import_bytes(wechat(pay("A-1", 100, txn="T-1")), name="first.csv")
    report = import_bytes(wechat(pay("A-1", 999, txn="T-1")), name="changed.csv")
    assert (report.new, report.duplicate, report.refused) == (0, 0, 1)
    (error,) = report.samples
    assert error.code == "line.conflicts_with_stored" and "amount_fen: 100 → 999" in error.message
    assert stored(runtime) == [("payment", "T-1", 100)]


def test_refused_rows_are_written_to_an_errors_file_and_the_counts_add_up(
    runtime: Runtime, import_bytes: Importer
) -> None:
    text = wechat(pay("A-1", 100, txn="T-1"), pay("A-2", 200, txn="T-2"), pay("A-3", 300, txn="T-3"),
                  BillLine("A-4", 400, DAY + timedelta(days=3), "T-4")).decode()
    text = text.replace("`CNY,`2.00,", "`CNY,`-2.00,").replace("`T-3,`A-3,", "`T-3,`,")
    text = text.replace("`T-3,", "`,")
    report = import_bytes(text.encode(), name="bad.csv")
    assert (report.read, report.new, report.refused, report.skipped, report.duplicate) == (4, 1, 3, 0, 0)
    assert report.errors_path is not None
    with report.errors_path.open(encoding="utf-8-sig") as stream:
        rows = list(csv.reader(stream))
    assert [row[2] for row in rows[1:]] == ["amount.negative", "line.no_reference", "line.future"]
    assert stored(runtime) == [("payment", "T-1", 100)]


def test_an_alipay_bill_in_gbk_and_a_wechat_bill_of_the_same_order_are_both_kept(
    runtime: Runtime, import_bytes: Importer
) -> None:
    import_bytes(wechat(pay("A-1", 100, txn="T-1")))
    report = import_bytes(alipay_bill([BillLine("A-1", 100, DAY, "T-1")]), source=Source.ALIPAY, name="alipay.csv")
    assert (report.new, report.format, report.describe) == (1, "alipay", "CSV, GBK/GB18030")
    with runtime.reading() as session:
        assert session.scalar(select(func.count()).select_from(StatementLine)) == 2
