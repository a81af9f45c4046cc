"""Every statement format read from files as providers, banks, platforms and tills write them; no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest

from orderhub.finance.errors import StatementFileError, UnknownStatementFormat
from orderhub.finance.formats import builtin_formats
from orderhub.finance.model import LineKind, Source
from orderhub.finance.reader import Item, LineError, ParsedLine, Skipped, open_statement
from orderhub.simulators.statements import BillLine, alipay_bill, wechatpay_bill

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
PAID = datetime(2026, 11, 19, 2, 0, tzinfo=UTC)  # 2026-11-19 10:00 in Beijing


def read(tmp_path: Path, data: bytes | str, source: Source, *, name: str = "statement.csv", encoding: str = "utf-8",
         format_name: str | None = None) -> tuple[list[Item], dict[str, str], list[str], str]:
    path = tmp_path / name
    path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    with open_statement(path, source=source, format_name=format_name, now=NOW) as (opened, items):
        found = list(items)
        return found, opened.summary, opened.ignored_columns, opened.format_name


def lines(items: list[Item]) -> list[ParsedLine]:
    return [item for item in items if isinstance(item, ParsedLine)]


def errors(items: list[Item]) -> dict[int, str]:
    return {item.row: item.code for item in items if isinstance(item, LineError)}


def test_every_builtin_format_loads() -> None:
    assert set(builtin_formats()) == {"wechatpay", "alipay", "bank_cmb", "bank_icbc", "settlement_tmall",
                                      "settlement_douyin", "pos"}


def test_a_wechat_pay_bill_loses_its_backticks_and_its_summary_rows_become_the_summary(tmp_path: Path) -> None:
    bill = wechatpay_bill([
        BillLine("PH_20261119_aaaaaa", 19800, PAID, "4200001", fee_fen=None),
        BillLine("PH_20261119_aaaaaa", 5000, PAID + timedelta(hours=1), "4200001", refund_id="5030001"),
    ])
    items, summary, ignored, name = read(tmp_path, bill, Source.WECHATPAY)
    payment, refund = lines(items)
    assert name == "wechatpay" and len(items) == 2
    assert (payment.kind, payment.txn_id, payment.reference, payment.amount_fen) == (
        LineKind.PAYMENT, "4200001", "PH_20261119_aaaaaa", 19800)
    assert payment.occurred_at == PAID and payment.fee_fen == 119 and payment.fee_rate_ppm == 6000
    assert payment.net_fen == 19800 - 119 and payment.refund_reference == "" and payment.account == "1900000109"
    assert (refund.kind, refund.txn_id, refund.amount_fen, refund.refund_reference) == (
        LineKind.REFUND, "5030001", -5000, "RPH_20261119_aaaaaa")
    assert summary["总交易单数"] == "2" and summary["退款总金额"] == "50.00"
    assert "公众账号ID" in ignored and "商户订单号" not in ignored


def test_wechat_fees_with_five_decimals_are_rounded_half_up_to_the_fen(tmp_path: Path) -> None:
    bill = wechatpay_bill([BillLine("A-1", 10075, PAID, "T1")])  # 0.60 % of 100.75 is 0.6045
    payment = lines(read(tmp_path, bill, Source.WECHATPAY)[0])[0]
    assert payment.fee_fen == 60
    text = bill.decode().replace("`0.60000", "`0.60500")
    assert lines(read(tmp_path, text, Source.WECHATPAY)[0])[0].fee_fen == 61


def test_revoked_and_closed_wechat_rows_are_skipped_not_lost(tmp_path: Path) -> None:
    text = wechatpay_bill([BillLine("A-1", 100, PAID, "T1"), BillLine("A-2", 100, PAID, "T2")]).decode()
    text = text.replace("`T2,`A-2,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`SUCCESS",
                        "`T2,`A-2,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`REVOKED")
    items = read(tmp_path, text, Source.WECHATPAY)[0]
    assert [type(item) for item in items] == [ParsedLine, Skipped]
    assert isinstance(items[1], Skipped) and items[1].reason == "交易状态=REVOKED"


def test_an_alipay_bill_in_gbk_with_its_preface_footer_and_tab_padded_ids(tmp_path: Path) -> None:
    bill = alipay_bill([
        BillLine("DY_20261119_bbbbbb", 39900, PAID, "2026111922001400001"),
        BillLine("DY_20261119_bbbbbb", 10000, PAID + timedelta(hours=2), "2026111922001400001",
                 refund_id="2026111922001400001_R1"),
    ])
    assert b"\t" in bill and bill.startswith("#支付宝业务明细查询".encode("gbk"))
    items, _, _, name = read(tmp_path, bill, Source.ALIPAY)
    payment, refund = lines(items)
    assert name == "alipay" and len(items) == 2
    assert (payment.txn_id, payment.reference, payment.amount_fen, payment.fee_fen) == (
        "2026111922001400001", "DY_20261119_bbbbbb", 39900, 239)
    assert (refund.kind, refund.txn_id, refund.amount_fen, refund.fee_fen) == (
        LineKind.REFUND, "2026111922001400001_R1", -10000, -60)


ICBC = (
    "凭证号,交易时间,对方户名,摘要,借方发生额,贷方发生额,附言,余额\n"
    "V0001,2026-11-19 10:05:00,杭州某某贸易有限公司,货款,,\"1,980.00\",订单 PH_20261119_cccccc 货款,100000.00\n"
    "V0002,2026-11-19 11:00:00,某某物流,运费,350.00,,,99650.00\n"
    "V0003,2026-11-19 12:00:00,张三,转账,,88.00,,99738.00\n"
)


def test_a_bank_statement_maps_credits_to_receipts_skips_debits_and_finds_the_order_in_the_memo(
    tmp_path: Path,
) -> None:
    items, _, ignored, name = read(tmp_path, ICBC, Source.BANK, encoding="gb18030")
    receipt, debit, plain = items
    assert name == "bank_icbc" and ignored == ["余额"]
    assert isinstance(receipt, ParsedLine) and receipt.reference == "PH_20261119_cccccc"
    assert receipt.amount_fen == 198000 and receipt.counterparty == "杭州某某贸易有限公司"
    assert isinstance(debit, Skipped)
    assert isinstance(plain, ParsedLine) and plain.reference == "" and plain.amount_fen == 8800


def test_a_bank_export_in_xlsx_with_date_and_time_in_two_columns(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["交易日期", "交易时间", "流水号", "借方金额", "贷方金额", "对方户名", "用途"])
    sheet.append([datetime(2026, 11, 19), "10:30:00", "CMB-1", None, 1234.5, "李四", "PH_20261119_dddddd"])
    book.save(tmp_path / "cmb.xlsx")
    items, _, _, name = read(tmp_path, (tmp_path / "cmb.xlsx").read_bytes(), Source.BANK, name="cmb.xlsx")
    line = lines(items)[0]
    assert name == "bank_cmb" and line.amount_fen == 123450 and line.reference == "PH_20261119_dddddd"
    assert line.occurred_at == datetime(2026, 11, 19, 2, 30, tzinfo=UTC)


TMALL = (
    "账务流水号,结算批次号,结算时间,淘宝订单号,业务类型,订单金额（元）,天猫佣金（元）,技术服务费（元）,结算金额（元）,商品名称\n"
    "S-1,B-20261119,2026-11-19 20:00:00,3456789012345678901,交易收款,100.00,5.00,0.60,94.40,保温杯\n"
    "S-2,B-20261119,2026-11-19 20:00:00,3456789012345678902,交易退款,-20.00,-1.00,-0.12,-18.88,保温杯\n"
)


def test_a_tmall_settlement_keeps_commission_fee_net_and_batch(tmp_path: Path) -> None:
    payment, refund = lines(read(tmp_path, TMALL, Source.SETTLEMENT)[0])
    assert (payment.channel, payment.batch_no, payment.reference) == ("tmall", "B-20261119", "3456789012345678901")
    assert (payment.amount_fen, payment.commission_fen, payment.fee_fen, payment.net_fen) == (10000, 500, 60, 9440)
    assert (refund.kind, refund.amount_fen, refund.net_fen) == (LineKind.REFUND, -2000, -1888)


def test_a_douyin_settlement_in_fen(tmp_path: Path) -> None:
    text = ("动账流水号,结算单号,动账时间,订单号,动账方向,订单实付应结,平台服务费,佣金,渠道分成,结算金额\n"
            "D-1,DB-1,2026-11-19 21:00:00,6920000000000000001,入账,12900,645,0,0,12255\n"
            "D-2,DB-1,2026-11-19 21:00:00,6920000000000000002,入账,129.5,0,0,0,129\n")
    items = read(tmp_path, "\ufeff" + text, Source.SETTLEMENT)[0]
    payment = lines(items)[0]
    assert (payment.channel, payment.amount_fen, payment.fee_fen, payment.net_fen) == ("douyin", 12900, 645, 12255)
    assert errors(items) == {3: "amount.malformed"}  # fen are whole


def test_a_pos_export_tells_sales_from_returns(tmp_path: Path) -> None:
    text = ("流水号,交易时间,小票号,门店,交易类型,金额,支付方式\n"
            "P-1,2026/11/19 9:10,XP0001,西湖店,销售,58.00,微信\n"
            "P-2,2026/11/19 9:40,XP0001,西湖店,退货,58.00,微信\n")
    sale, back = lines(read(tmp_path, text, Source.POS)[0])
    assert (sale.channel, sale.reference, sale.account, sale.amount_fen) == ("pos", "XP0001", "西湖店", 5800)
    assert (back.kind, back.amount_fen) == (LineKind.REFUND, -5800)
    assert sale.occurred_at == datetime(2026, 11, 19, 1, 10, tzinfo=UTC)


def test_a_utf8_file_with_one_gbk_row_refuses_that_row_only(tmp_path: Path) -> None:
    good = wechatpay_bill([BillLine("A-1", 100, PAID, "T1"), BillLine("A-2", 200, PAID, "T2")])
    rows = good.split(b"\r\n")
    rows[2] = rows[2].decode().replace("商品", "茶叶礼盒").encode("gbk")
    items = read(tmp_path, b"\r\n".join(rows), Source.WECHATPAY)[0]
    assert [line.txn_id for line in lines(items)] == ["T1"] and errors(items) == {3: "row.encoding"}


@pytest.mark.parametrize(("amount", "code"), [
    ("-19.80", "amount.negative"), ("19.8.0", "amount.malformed"), ("abc", "amount.malformed"),
    ("1.999", "amount.malformed"), ("", "amount.missing"), ("9e99999", "amount.too_large"),
    ("NaN", "amount.malformed"),
])
def test_a_bad_payment_amount_refuses_its_row_with_a_clear_code(tmp_path: Path, amount: str, code: str) -> None:
    text = wechatpay_bill([BillLine("A-1", 1980, PAID, "T1"), BillLine("A-2", 100, PAID, "T2")]).decode()
    text = text.replace("`T1,`A-1,", "`T1,`A-1,", 1).replace("`CNY,`19.80,", f"`CNY,`{amount},", 1)
    items = read(tmp_path, text, Source.WECHATPAY)[0]
    assert errors(items) == {2: code} and [line.txn_id for line in lines(items)] == ["T2"]
    message = next(item.message for item in items if isinstance(item, LineError))
    assert "应结订单金额" in message


def test_a_line_without_any_reference_or_transaction_id_is_refused(tmp_path: Path) -> None:
    text = ("流水号,交易时间,小票号,门店,交易类型,金额\n"
            ",2026-11-19 09:10:00,,西湖店,销售,58.00\n"
            ",2026-11-19 09:11:00,XP0009,西湖店,销售,58.00\n")
    items = read(tmp_path, text, Source.POS)[0]
    assert errors(items) == {2: "line.no_reference", 3: "line.no_transaction_id"}


def test_a_line_dated_in_the_future_is_refused(tmp_path: Path) -> None:
    bill = wechatpay_bill([BillLine("A-1", 100, NOW + timedelta(days=1), "T1"),
                           BillLine("A-2", 100, NOW + timedelta(minutes=2), "T2")])  # within the clock grace
    items = read(tmp_path, bill, Source.WECHATPAY)[0]
    assert errors(items) == {2: "line.future"} and [line.txn_id for line in lines(items)] == ["T2"]


def test_an_unknown_kind_and_an_unreadable_time_are_row_errors(tmp_path: Path) -> None:
    text = ("流水号,交易时间,小票号,门店,交易类型,金额\n"
            "P-1,2026-11-19 09:10:00,XP1,西湖店,赠送,58.00\n"
            "P-2,昨天,XP2,西湖店,销售,58.00\n")
    assert errors(read(tmp_path, text, Source.POS)[0]) == {2: "line.unknown_kind", 3: "line.bad_time"}


def test_a_header_that_fits_no_format_of_the_source_is_refused_whole(tmp_path: Path) -> None:
    with pytest.raises(UnknownStatementFormat, match="fits no wechatpay format"):
        read(tmp_path, "订单号,金额\nA,1.00\n", Source.WECHATPAY)
    with pytest.raises(UnknownStatementFormat, match="no bank format"):
        read(tmp_path, ICBC, Source.BANK, format_name="bank_boc")
    with pytest.raises(StatementFileError, match="not JSON"):
        read(tmp_path, '{"a": 1}', Source.WECHATPAY)
    with pytest.raises(StatementFileError, match="empty"):
        read(tmp_path, "\n\n", Source.WECHATPAY)
