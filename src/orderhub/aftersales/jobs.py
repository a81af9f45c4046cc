"""After-sales periodic work: finish restocks a receipt committed but could not complete (a crash, a
database hiccup). Idempotent: each stock movement carries its own idempotency key."""

from __future__ import annotations

import logging

from orderhub.aftersales import service
from orderhub.core.actor import Actor
from orderhub.core.errors import OrderHubError
from orderhub.runtime import Runtime

log = logging.getLogger(__name__)
WORKER = Actor("worker", "worker")


def finish_restocks(runtime: Runtime, *, limit: int = 100) -> int:
    """Complete the pending restocks of received returns; how many were completed."""
    with runtime.reading() as session:
        pending = service.pending_restocks(session, limit=limit)
    done = 0
    for case_no in pending:
        try:
            service.complete_restock(runtime.uow(), case_no=case_no, actor=WORKER)
        except OrderHubError as error:
            # Left pending and shown on the case: a person fixes the cause (an unknown SKU, a removed warehouse).
            log.warning("restock of %s failed: %s", case_no, error.message)
            continue
        done += 1
    return done
