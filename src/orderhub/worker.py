"""What `orderhub worker` runs (and the demo beside its web server): each domain's periodic jobs."""

from __future__ import annotations

from datetime import timedelta

from orderhub.aftersales import jobs as aftersales_jobs
from orderhub.channels import health, jobs, writeback
from orderhub.core.actor import Actor
from orderhub.core.jobs import PeriodicJob
from orderhub.finance import jobs as finance_jobs
from orderhub.fulfillment import jobs as fulfillment_jobs
from orderhub.inventory import service as inventory
from orderhub.inventory import sync as stock_sync
from orderhub.logistics import jobs as logistics_jobs
from orderhub.runtime import Runtime


def worker_jobs(runtime: Runtime) -> list[PeriodicJob]:
    window = timedelta(minutes=runtime.settings.health_window_minutes)
    threshold = runtime.settings.health_failure_threshold
    return [
        PeriodicJob("channels.pull", timedelta(seconds=60), lambda: jobs.pull_due_shops(runtime)),
        PeriodicJob("channels.fetch_notified", timedelta(seconds=10), lambda: jobs.fetch_notified(runtime)),
        PeriodicJob("channels.writeback", timedelta(seconds=15), lambda: writeback.deliver_writebacks(runtime)),
        PeriodicJob(
            "channels.health", timedelta(seconds=60),
            lambda: health.raise_degraded(runtime.uow(), threshold=threshold, window=window),
        ),
        PeriodicJob("channels.prune_calls", timedelta(hours=1), lambda: health.prune_calls(runtime.uow())),
        PeriodicJob("inventory.release_expired", timedelta(seconds=30),
                    lambda: inventory.release_expired(runtime.uow(), actor=Actor("worker", "worker"))),
        PeriodicJob("inventory.sync_stock", timedelta(seconds=5), lambda: stock_sync.sync_stock(runtime.uow())),
        # Approved orders, batch by batch (FOR UPDATE SKIP LOCKED claims): workers never route one order twice.
        PeriodicJob("fulfillment.route", timedelta(seconds=10),
                    lambda: fulfillment_jobs.route_approved_orders(runtime)),
        PeriodicJob("finance.reconcile", timedelta(hours=1), lambda: finance_jobs.reconcile_recent(runtime)),
        PeriodicJob("finance.reversals", timedelta(minutes=5), lambda: finance_jobs.reversals(runtime)),
        PeriodicJob("finance.escalate", timedelta(minutes=10), lambda: finance_jobs.escalate(runtime)),
        PeriodicJob("aftersales.finish_restocks", timedelta(minutes=1),
                    lambda: aftersales_jobs.finish_restocks(runtime)),
        # Waybills kuaidi100 has not pushed for a while: ask its query API (claims: SKIP LOCKED).
        PeriodicJob("logistics.poll", timedelta(minutes=5), lambda: logistics_jobs.poll_due_waybills(runtime)),
        # Parcel anomalies: open exception tickets, resolve the ones whose condition cleared.
        PeriodicJob("logistics.scan_anomalies", timedelta(minutes=10),
                    lambda: logistics_jobs.scan_anomalies(runtime)),
    ]
