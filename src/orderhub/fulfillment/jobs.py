"""Routing's periodic work: route approved orders, batch by batch, while there are due ones."""

from __future__ import annotations

from orderhub.fulfillment import service
from orderhub.fulfillment.tables import tables_at
from orderhub.runtime import Runtime

# Batches per run: a long backlog is worked off over several runs, so one run stays short.
MAX_BATCHES = 20


def route_approved_orders(runtime: Runtime) -> service.BatchReport:
    tables = tables_at(runtime.settings.routing_file)
    total = service.BatchReport()
    for _ in range(MAX_BATCHES):
        report = service.route_approved_orders(runtime.uow(), tables=tables)
        total.add(report)
        if report.claimed < service.BATCH:
            break
    return total
