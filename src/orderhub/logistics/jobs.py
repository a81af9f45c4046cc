"""Logistics' periodic work: the polling fallback for waybills kuaidi100 has not pushed for a while, and the
parcel anomaly scan."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from orderhub.core.logging import log
from orderhub.logistics import anomalies, kuaidi100, service
from orderhub.logistics.anomalies import ScanReport
from orderhub.logistics.errors import TrackingQueryFailed
from orderhub.runtime import Runtime

# Rounds per run: a long backlog is worked off over several runs, so one run stays short.
MAX_ROUNDS = 10


@dataclass
class PollReport:
    polled: int = 0
    new_events: int = 0
    failed: int = 0


def poll_due_waybills(runtime: Runtime, http: httpx.Client | None = None) -> PollReport:
    """Query each due waybill's track and take in what is new; a failed query is retried with back-off."""
    settings = runtime.settings
    report = PollReport()
    if not (settings.kuaidi100_key and settings.kuaidi100_customer):
        # Without an account there is nobody to ask; waybills stay due and are polled once it is set.
        log.info("tracking_poll_not_configured", missing="ORDERHUB_KUAIDI100_KEY / ORDERHUB_KUAIDI100_CUSTOMER")
        return report
    client = http or httpx.Client(timeout=10)
    try:
        for _ in range(MAX_ROUNDS):
            targets = service.claim_due_polls(runtime.uow())
            for target in targets:
                try:
                    snapshot = kuaidi100.query(client, url=settings.kuaidi100_query_url, key=settings.kuaidi100_key,
                                               customer=settings.kuaidi100_customer, com=target.com,
                                               number=target.number)
                except TrackingQueryFailed as exc:
                    log.warning("tracking_poll_failed", waybill=target.number, carrier=target.com, error=exc.message)
                    service.record_poll_failure(runtime.uow(), waybill_id=target.waybill_id)
                    report.failed += 1
                    continue
                taken = service.record_poll(runtime.uow(), waybill_id=target.waybill_id, snapshot=snapshot)
                report.polled += 1
                report.new_events += taken.new_events
            if len(targets) < service.POLL_BATCH:
                break
    finally:
        if http is None:
            client.close()
    return report


def scan_anomalies(runtime: Runtime) -> ScanReport:
    """Open exception tickets for parcel anomalies and resolve those whose condition cleared, batch by batch."""
    total = ScanReport()
    after = 0
    while True:
        report, last = anomalies.scan_batch(runtime.uow(), after_id=after)
        if last is None:
            break
        total.scanned += report.scanned
        total.opened += report.opened
        total.resolved += report.resolved
        total.delivered_orders += report.delivered_orders
        after = last
    if total.opened or total.resolved or total.delivered_orders:
        log.info("anomaly_scan", scanned=total.scanned, opened=total.opened, resolved=total.resolved,
                 delivered_orders=total.delivered_orders)
    return total
