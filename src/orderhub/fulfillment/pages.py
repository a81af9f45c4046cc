"""Routing in the console: the order page's "why this warehouse, why this carrier" panel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from orderhub.fulfillment import service
from orderhub.fulfillment.model import RoutingDecision


@dataclass(frozen=True)
class RoutingPanel:
    decision: RoutingDecision
    warehouses: list[dict[str, Any]]  # the stored verdicts, with `until` as a datetime for display
    warehouse_names: dict[str, str]
    carrier_names: dict[str, list[str]]  # code → [Chinese, English]

    def carrier(self, code: str, language: str) -> str:
        names = self.carrier_names.get(code)
        if names is None:
            return code
        return names[0] if language == "zh-CN" else names[1]

    def warehouse(self, code: str) -> str:
        return self.warehouse_names.get(code, code)


def routing_panel(session: Session, *, order_id: int) -> RoutingPanel | None:
    """The order's latest routing decision, ready for `fulfillment/_routing.html` (None: never routed)."""
    decision = service.latest_decision(session, order_id=order_id)
    if decision is None:
        return None
    names = decision.reasons["names"]
    warehouses = [{**item, "until": datetime.fromisoformat(item["until"]) if item["until"] else None}
                  for item in decision.reasons["warehouses"]]
    return RoutingPanel(decision, warehouses, names["warehouses"], names["carriers"])
