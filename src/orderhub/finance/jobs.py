"""The finance domain's periodic work; idempotent, scheduled by `worker.py`."""

from __future__ import annotations

from orderhub.finance import service
from orderhub.runtime import Runtime


def reconcile_recent(runtime: Runtime) -> str:
    """Reconcile the last few business days again: statements imported since are matched, results replaced."""
    report = service.reconcile(runtime, scope=service.recent_days(runtime), actor=service.SYSTEM_ACTOR)
    return (f"{report.scope}: {report.lines} lines, {report.orders} orders, "
            f"{report.discrepancies_created} new and {report.discrepancies_cleared} cleared discrepancies")


def escalate(runtime: Runtime) -> str:
    """Raise orders unpaid past their settlement window, then hand overdue discrepancies to supervisors."""
    raised = service.raise_overdue_orders(runtime)
    escalated = service.escalate_overdue(runtime.uow())
    return f"{raised} unpaid orders raised, {escalated} discrepancies escalated"


def reversals(runtime: Runtime) -> str:
    """Refunds since the last scan: receivables and margins recomputed, adjustments recorded."""
    done = service.apply_refunds(runtime)
    return f"{len(done)} orders adjusted for refunds"
