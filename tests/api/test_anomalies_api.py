"""Exception tickets and the carrier scorecard over HTTP: the API (auth, errors) and the console board."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from orderhub.core.clock import FixedClock
from orderhub.logistics import jobs
from orderhub.logistics.model import ExceptionTicket
from orderhub.runtime import Runtime
from tests.api.test_console_pages import log_in
from tests.integration.logistics.anomaly_setup import bind, shipped_order

pytestmark = pytest.mark.usefixtures("merchant")
Headers = Callable[[str], dict[str, str]]
TICKETS = "/api/v1/logistics/tickets"


@pytest.fixture
def ticket_id(runtime: Runtime, clock: FixedClock) -> int:
    """One open not-collected ticket: a parcel shipped 25 hours ago with no scan."""
    bind(runtime, shipped_order(runtime), "YT1000000001")
    clock.advance(timedelta(hours=25))
    jobs.scan_anomalies(runtime)
    with runtime.reading() as session:
        [found] = session.scalars(select(ExceptionTicket.id)).all()
    return found


def test_tickets_are_listed_and_filtered(client: TestClient, auth_headers: Headers, ticket_id: int) -> None:
    viewer = auth_headers("viewer")
    body = client.get(TICKETS, headers=viewer).json()
    assert [(t["id"], t["kind"], t["status"], t["owner"]) for t in body["items"]] == [
        (ticket_id, "not_collected", "open", "ops_supervisor")]
    assert client.get(TICKETS, headers=viewer, params={"kind": "no_update"}).json()["items"] == []
    assert client.get(TICKETS, headers=viewer, params={"status": "resolved"}).json()["items"] == []
    for params in ({"kind": "lost"}, {"status": "closed"}, {"cursor": "abc"}):
        response = client.get(TICKETS, headers=viewer, params=params)
        assert response.status_code == 422 and "error" in response.json(), params
    assert client.get(TICKETS).status_code == 401


def test_staff_acknowledge_and_resolve_with_a_reason(client: TestClient, auth_headers: Headers, ticket_id: int) -> None:
    ops = auth_headers("ops")
    resolve = f"{TICKETS}/{ticket_id}/resolve"
    assert client.post(resolve, headers=auth_headers("viewer"), json={"reason": "x"}).status_code == 403
    assert client.post(resolve, json={"reason": "x"}).status_code == 401
    assert client.post(resolve, headers=ops, json={"reason": "  "}).status_code == 422
    assert client.post(resolve, headers=ops, json={}).status_code == 422
    missing = client.post(f"{TICKETS}/999999/resolve", headers=ops, json={"reason": "x"})
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "logistics.ticket_not_found")
    acknowledged = client.post(f"{TICKETS}/{ticket_id}/acknowledge", headers=ops, json={"note": "在查"})
    assert (acknowledged.status_code, acknowledged.json()["status"]) == (200, "acknowledged")
    done = client.post(resolve, headers=ops, json={"reason": "网点已揽收"})
    assert (done.status_code, done.json()["status"], done.json()["resolution"]) == (200, "resolved", "网点已揽收")
    again = client.post(resolve, headers=ops, json={"reason": "again"})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "logistics.ticket_state")


def test_the_scorecard_takes_a_month(client: TestClient, auth_headers: Headers, ticket_id: int) -> None:
    viewer = auth_headers("viewer")
    body = client.get("/api/v1/logistics/scorecard", headers=viewer, params={"month": "2026-11"}).json()
    assert body["month"] == "2026-11"
    assert [(c["carrier"], c["shipped"], c["delivered"], c["delay_rate"]) for c in body["carriers"]] == [
        ("YTO", 1, 0, None)]
    for month in ("2026-1", "2026/11", "2026-13", "abcd-ef", ""):
        response = client.get("/api/v1/logistics/scorecard", headers=viewer, params={"month": month})
        assert response.status_code == 422, month
    assert client.get("/api/v1/logistics/scorecard", headers=viewer).status_code == 422
    assert client.get("/api/v1/logistics/scorecard", params={"month": "2026-11"}).status_code == 401


def test_the_console_board_lists_tickets_and_resolves_them_with_htmx(client: TestClient, runtime: Runtime,
                                                                    ticket_id: int) -> None:
    token = log_in(client, runtime, "ops")
    page = client.get("/console/logistics/anomalies")
    assert page.status_code == 200 and "YT1000000001" in page.text and "超时未揽收" in page.text
    assert "承运商考核" in page.text
    resolve = f"/console/logistics/anomalies/{ticket_id}/resolve"
    refused = client.post(resolve, data={"csrf_token": token, "reason": ""}, headers={"HX-Request": "true"})
    assert refused.status_code == 422
    done = client.post(resolve, data={"csrf_token": token, "reason": "已联系快递"}, headers={"HX-Request": "true"})
    assert done.status_code == 200 and "已解决" in done.text
    english = client.get("/console/logistics/anomalies?lang=en&status=resolved&month=2026-11")
    assert "Carrier scorecard" in english.text and "YT1000000001" in english.text
    assert client.get("/console/logistics/anomalies?month=2026-99").status_code == 422
