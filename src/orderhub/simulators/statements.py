"""Payment statements as the providers write them: a WeChat Pay 交易账单 and an Alipay 业务明细.

Used by the demo (a bill for the demo's orders) and by the tests. The layouts follow
shared/formats.md §7: WeChat Pay's 27-column `bill_type=ALL` bill with backtick-prefixed values
and two summary lines (WxJava `WxPayBillResult`), Alipay's GBK trade bill with `#` preface and
footer lines and numeric ids padded with a trailing tab.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from orderhub.core.money import fen_to_yuan
from orderhub.runtime import Runtime

BEIJING = ZoneInfo("Asia/Shanghai")
WECHAT_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
    "手续费,费率,订单金额,申请退款金额,费率备注"
)
WECHAT_SUMMARY = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
ALIPAY_HEADER = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,"
    "商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,"
    "商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
)


@dataclass(frozen=True)
class BillLine:
    """One money movement: a payment, or (with `refund_id`) a refund of `amount_fen` back to the payer."""

    reference: str  # the merchant's order number the provider saw (out_trade_no)
    amount_fen: int
    at: datetime
    txn_id: str
    refund_id: str = ""
    fee_fen: int | None = None  # None: the agreed rate applied to the amount
    rate: str = "0.60%"
    title: str = "商品"

    @property
    def is_refund(self) -> bool:
        return bool(self.refund_id)

    def fee(self) -> Decimal:
        """The fee in yuan, as the provider states it (refunds give the fee back: negative)."""
        if self.fee_fen is not None:
            fee = Decimal(self.fee_fen) / 100
        else:
            rate = Decimal(self.rate.rstrip("%")) / 100
            fee = (Decimal(self.amount_fen) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP) / 100
        return -fee if self.is_refund else fee


def _local(at: datetime) -> str:
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def wechatpay_bill(lines: Sequence[BillLine], *, mch_id: str = "1900000109", app_id: str = "wx2421b1c4370ec43b"
                   ) -> bytes:
    """A WeChat Pay `bill_type=ALL` bill (UTF-8, CRLF) with its two summary lines."""
    rows = [WECHAT_HEADER]
    paid = refunded = fees = 0
    for line in lines:
        amount = fen_to_yuan(line.amount_fen)
        refund = line.is_refund
        values = [
            _local(line.at), app_id, mch_id, "", "", line.txn_id, line.reference, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            "JSAPI", "REFUND" if refund else "SUCCESS", "CMB_DEBIT", "CNY", "0.00" if refund else amount, "0.00",
            line.refund_id or "0", f"R{line.reference}" if refund else "0", amount if refund else "0.00", "0.00",
            "ORIGINAL" if refund else "", "SUCCESS" if refund else "", line.title, "", f"{line.fee():.5f}",
            line.rate, amount, amount if refund else "0.00", "",
        ]
        rows.append(",".join(f"`{value}" for value in values))
        refunded += line.amount_fen if refund else 0
        paid += 0 if refund else line.amount_fen
        fees += int(line.fee() * 100)
    rows.append(WECHAT_SUMMARY)
    summary = [str(len(lines)), fen_to_yuan(paid), fen_to_yuan(refunded), "0.00", f"{Decimal(fees) / 100:.5f}",
               fen_to_yuan(paid), fen_to_yuan(refunded)]
    rows.append(",".join(f"`{value}" for value in summary))
    return ("\r\n".join(rows) + "\r\n").encode("utf-8")


def alipay_bill(lines: Sequence[BillLine], *, account: str = "20880012345601560156") -> bytes:
    """An Alipay 业务明细 (`bill_type=trade`) CSV: GBK, `#` preface and footer, ids padded with a tab."""
    first = min((line.at for line in lines), default=None)
    day = first.astimezone(BEIJING).strftime("%Y年%m月%d日") if first else ""
    rows = [
        "#支付宝业务明细查询",
        f"#账号：[{account}]",
        f"#起始日期：[{day} 00:00:00]   终止日期：[{day} 23:59:59]",
        "#-----------------------------------------业务明细列表----------------------------------------",
        ALIPAY_HEADER,
    ]
    for line in lines:
        refund = line.is_refund
        amount = fen_to_yuan(line.amount_fen)
        received = f"-{amount}" if refund else amount
        values = [
            f"{line.txn_id}\t", f"{line.reference}\t", "退款" if refund else "交易", line.title, _local(line.at),
            _local(line.at), "", "", "", "", "buyer***@163.com", amount, received, "0.00", "0.00", "0.00", "0.00",
            "0.00", "", "0.00", "0.00", f"{line.refund_id}\t" if refund else "", f"{line.fee():.2f}", "0.00", "",
        ]
        rows.append(",".join(values))
    payments = sum(1 for line in lines if not line.is_refund)
    rows += [
        "#-----------------------------------------业务明细列表结束------------------------------------",
        f"#交易合计：{payments}笔，退款合计：{len(lines) - payments}笔",
        "#导出时间：[2026年12月05日 09:00:00]",
    ]
    return ("\r\n".join(rows) + "\r\n").encode("gb18030")


def seed_demo_statements(runtime: Runtime, rng: random.Random) -> None:
    """A WeChat Pay bill for the demo's paid orders, imported and reconciled, so the console's 对账 has content.

    Most orders are paid exactly; a few are paid short, paid twice or not at all, and one payment
    belongs to no order.
    """
    from orderhub.core.actor import Actor
    from orderhub.finance import service as finance
    from orderhub.finance.engine import Scope
    from orderhub.finance.imports import import_statement
    from orderhub.finance.model import Source
    from orderhub.orders.model import Order

    now = runtime.clock.now()
    with runtime.reading() as session:
        paid = session.execute(select(Order.order_no, Order.paid_amount_fen, Order.paid_at)
                               .where(Order.paid_at.is_not(None)).order_by(Order.id)).all()
    lines: list[BillLine] = []
    for number, (order_no, fen, at) in enumerate(paid):
        roll = rng.random()
        if roll < 0.04:
            continue  # the payment never arrives
        short = rng.randint(100, 900) if roll < 0.08 and fen > 1000 else 0
        lines.append(BillLine(order_no, fen - short, min(at + timedelta(seconds=rng.randint(5, 90)), now),
                              f"4200{number:010d}"))
        if roll > 0.98:
            lines.append(BillLine(order_no, fen, min(at + timedelta(minutes=2), now), f"4201{number:010d}"))
    lines.append(BillLine("WX_UNKNOWN_0001", 8800, now - timedelta(hours=3), "4209999999999"))
    with tempfile.TemporaryDirectory(prefix="orderhub-demo-") as folder:
        path = Path(folder) / "wechatpay-demo.csv"
        path.write_bytes(wechatpay_bill(lines))
        import_statement(runtime, path, source=Source.WECHATPAY, actor=Actor("demo", "cli"))
    finance.reconcile(runtime, scope=Scope.everything(), actor=finance.SYSTEM_ACTOR)
