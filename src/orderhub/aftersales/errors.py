"""Typed errors of the after-sales domain."""

from __future__ import annotations

from typing import Any

from orderhub.core.errors import Conflict, InvalidInput, NotFound


class CaseNotFound(NotFound):
    code = "aftersales.not_found"

    def __init__(self, case_no: str) -> None:
        super().__init__(f"after-sales case {case_no} not found / 售后单 {case_no} 不存在")


class IllegalCaseTransition(Conflict):
    code = "aftersales.illegal_transition"

    def __init__(self, kind: str, current: str, target: str) -> None:
        super().__init__(
            f"a {kind} case cannot move from {current} to {target} / {kind} 售后单不能从 {current} 变为 {target}",
            details=[{"kind": kind, "from": current, "to": target}],
        )


class OrderNotEligible(Conflict):
    """The order's state rules out this kind of request (unpaid, cancelled, not shipped for an exchange…)."""

    code = "aftersales.order_not_eligible"


class CaseInvalid(InvalidInput):
    """Every defect of a request at once: field errors with `field`, `rule` and `message`."""

    code = "aftersales.invalid"

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__(f"the after-sales request has {len(details)} error(s) / 售后申请有 {len(details)} 处错误",
                         details=details)


class OverRefund(InvalidInput):
    """More money back than a line, or the order, was paid."""

    code = "aftersales.over_refund"

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__("the refund exceeds what was paid / 退款金额超过实付金额", details=details)
