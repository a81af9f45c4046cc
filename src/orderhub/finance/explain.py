"""What reconciliation found, said to a person in Chinese or English (the console and the API share it)."""

from __future__ import annotations

from typing import Any

from orderhub.core.i18n import format_money
from orderhub.finance.model import Discrepancy, DiscrepancyStatus, Method, ReconClass, Source

ZH = "zh-CN"

CLASS_LABELS = {
    ReconClass.MATCHED: ("已匹配", "Matched"),
    ReconClass.AMOUNT_MISMATCH: ("金额不符", "Amount mismatch"),
    ReconClass.PAYMENT_WITHOUT_ORDER: ("有款无单", "Payment without order"),
    ReconClass.ORDER_WITHOUT_PAYMENT: ("有单无款", "Order without payment"),
    ReconClass.DUPLICATE_PAYMENT: ("重复收款", "Duplicate payment"),
    ReconClass.PARTIAL_REFUND: ("部分退款", "Partial refund"),
    ReconClass.FEE_MISMATCH: ("手续费不符", "Fee mismatch"),
}
STATUS_LABELS = {
    DiscrepancyStatus.OPEN: ("待处理", "Open"),
    DiscrepancyStatus.ESCALATED: ("已升级", "Escalated"),
    DiscrepancyStatus.RESOLVED: ("已解决", "Resolved"),
    DiscrepancyStatus.CLEARED: ("已自动消除", "Cleared"),
}
SOURCE_LABELS = {
    Source.WECHATPAY: ("微信支付", "WeChat Pay"),
    Source.ALIPAY: ("支付宝", "Alipay"),
    Source.BANK: ("银行", "Bank"),
    Source.SETTLEMENT: ("平台结算", "Platform settlement"),
    Source.POS: ("门店收银", "Store POS"),
}
METHOD_LABELS = {
    Method.ORDER_NO: ("订单号", "order number"),
    Method.PAYMENT_REF: ("支付单号", "payment number"),
    Method.CHANNEL_ORDER_ID: ("平台订单号", "platform order id"),
    Method.AMOUNT_TIME: ("金额与时间", "amount and time"),
    Method.FUZZY: ("模糊匹配", "fuzzy match"),
    Method.NONE: ("未匹配", "not matched"),
}


def _pick(pair: tuple[str, str], language: str) -> str:
    return pair[0] if language == ZH else pair[1]


def _label(table: dict[Any, tuple[str, str]], value: str, language: str) -> str:
    for key, pair in table.items():
        if key.value == value:
            return _pick(pair, language)
    return value


def class_label(value: str, language: str) -> str:
    return _label(CLASS_LABELS, value, language)


def status_label(value: str, language: str) -> str:
    return _label(STATUS_LABELS, value, language)


def source_label(value: str, language: str) -> str:
    return _label(SOURCE_LABELS, value, language)


def method_label(value: str, language: str) -> str:
    return _label(METHOD_LABELS, value, language)


def match_text(method: str, detail: dict[str, Any] | None, reference: str, language: str) -> str:
    """How a line was tied to its order, or why it was not."""
    detail = detail or {}
    code = detail.get("code", "")
    if method in (Method.ORDER_NO, Method.PAYMENT_REF, Method.CHANNEL_ORDER_ID):
        field = method_label(method, language)
        return (f"精确匹配：对账单上的订单号 {reference} 即订单的{field}" if language == ZH
                else f"Exact: the statement's reference {reference} is the order's {field}")
    if code == "amount_time":
        minutes = round(detail.get("seconds", 0) / 60, 1)
        amount = format_money(detail.get("amount_fen", 0))
        return (f"无可用订单号；金额 {amount} 相同，付款时间相差 {minutes} 分钟" if language == ZH
                else f"No usable reference; same amount {amount}, paid {minutes} min apart")
    score = detail.get("score")
    if code == "fuzzy_reference":
        ref, order_ref = detail.get("ref"), detail.get("order_ref")
        return (f"订单号 {ref} 与 {order_ref} 近似（相似度 {score}）" if language == ZH
                else f"Reference {ref} is close to {order_ref} (similarity {score})")
    if code == "fuzzy_name":
        name, customer = detail.get("name"), detail.get("customer")
        return (f"付款人 {name} 与客户 {customer} 一致且金额相同（相似度 {score}）" if language == ZH
                else f"Payer {name} matches customer {customer} at the same amount (similarity {score})")
    if code == "ambiguous":
        return (f"订单号 {reference} 对应多个订单，无法确定" if language == ZH
                else f"The reference {reference} fits several orders")
    if reference:
        return (f"没有订单的订单号、支付单号或平台订单号是 {reference}" if language == ZH
                else f"No order has {reference} as its order number, payment number or platform order id")
    return ("没有订单号，附近时间也没有同金额的未匹配订单" if language == ZH
            else "No reference, and no unmatched order of the same amount paid near that time")


def discrepancy_text(found: Discrepancy, language: str) -> str:
    """The problem in one sentence, from its class and figures."""
    expected, actual = format_money(found.expected_fen), format_money(found.actual_fen)
    difference = format_money(found.actual_fen - found.expected_fen)
    zh = language == ZH
    klass = found.recon_class
    if klass == ReconClass.AMOUNT_MISMATCH:
        return (f"应为 {expected}，对账单为 {actual}，差额 {difference}" if zh
                else f"Expected {expected}, the statements show {actual} ({difference})")
    if klass == ReconClass.DUPLICATE_PAYMENT:
        return (f"订单 {expected} 被重复收款，共收 {actual}" if zh
                else f"An order of {expected} was paid more than once: {actual} received")
    if klass == ReconClass.PARTIAL_REFUND:
        return (f"对账单部分退款 {actual}，OrderHub 记录的退款为 {expected}" if zh
                else f"The statements refund {actual} in part; OrderHub knows of {expected} refunded")
    if klass == ReconClass.FEE_MISMATCH:
        return (f"手续费及佣金 {actual}，按约定费率应为 {expected}" if zh
                else f"Fees and commission {actual}; the agreed rates give {expected}")
    if klass == ReconClass.ORDER_WITHOUT_PAYMENT:
        return (f"已付款订单 {expected} 过了结算期仍未在任何对账单上出现" if zh
                else f"A paid order of {expected} is on no statement after its settlement window")
    return (f"收款 {actual} 找不到对应订单（订单号 {found.reference or '无'}）" if zh
            else f"A payment of {actual} belongs to no order (reference {found.reference or 'none'})")
