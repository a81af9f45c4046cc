"""Every route checks a permission: unauthenticated → 401 (or the login page), viewer writing → 403.

Only health checks, the docs, the public lookup, the console login and signature-authenticated
callbacks are exempt; a new route is covered by this walk without touching the test.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/console/login"),
    ("POST", "/console/login"),
    ("POST", "/api/v1/lookup"),  # the customers' own lookup: the order number and phone are the proof
}
PUBLIC_PREFIXES = ("/docs", "/openapi.json", "/redoc", "/static", "/lookup")
# Callbacks authenticate by the sender's signature, not by a user (checked in their own tests).
SIGNED_CALLBACKS = re.compile(r"^/api/v1/(channels/[^/]+/[^/]+/push|logistics/kuaidi100/push)$")
READ_METHODS = {"GET", "HEAD"}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "X", path)


def walk(client: TestClient) -> list[tuple[str, str]]:
    routes = []
    # FastAPI keeps included routers nested; iter_route_contexts flattens them with their full paths.
    for context in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        path = context.path
        if not isinstance(context.original_route, APIRoute) or path is None:
            continue
        for method in sorted((context.methods or set()) - {"HEAD"}):
            if (method, path) in PUBLIC or path.startswith(PUBLIC_PREFIXES) or SIGNED_CALLBACKS.match(path):
                continue
            routes.append((method, path))
    return routes


def test_the_walk_covers_the_orders_api(client: TestClient) -> None:
    covered = set(walk(client))
    assert ("POST", "/api/v1/orders") in covered and ("GET", "/api/v1/orders/{order_no}/timeline") in covered


def test_unauthenticated_calls_are_refused_everywhere(client: TestClient) -> None:
    for method, path in walk(client):
        response = client.request(method, concrete(path), follow_redirects=False)
        if path.startswith("/console") and method in READ_METHODS:
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/console/login"), (method, path)
        else:
            assert response.status_code == 401, (method, path, response.status_code)


@pytest.mark.usefixtures("merchant")
def test_a_viewer_cannot_write_anywhere(
    client: TestClient, auth_headers: Callable[[str], dict[str, str]], runtime: object
) -> None:
    viewer = auth_headers("viewer")
    for method, path in walk(client):
        if method in READ_METHODS or path.startswith("/console"):
            continue
        response = client.request(method, concrete(path), headers=viewer, json={})
        assert response.status_code == 403, (method, path, response.status_code, response.text)


def test_a_revoked_or_forged_token_is_refused(
    client: TestClient, runtime: object, token_for: Callable[[str], str]
) -> None:
    from orderhub.auth import service as auth
    from orderhub.runtime import Runtime

    assert isinstance(runtime, Runtime)
    secret = token_for("ops")
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/orders", headers=headers).status_code == 200
    assert client.get("/api/v1/orders", headers={"Authorization": "Bearer oh_forged"}).status_code == 401
    assert client.get("/api/v1/orders", headers={"Authorization": secret}).status_code == 401
    with runtime.reading() as session:
        token_id = auth.list_tokens(session)[0].id
    auth.revoke_token(runtime.uow(), token_id=token_id)
    assert client.get("/api/v1/orders", headers=headers).status_code == 401


@pytest.mark.parametrize("path", [
    "/api/v1/logistics/tickets/{id}/acknowledge",
    "/api/v1/logistics/tickets/{id}/resolve",
    "/api/v1/inventory/transfers/{id}/arrival",
    "/api/v1/fulfillment/scan-conflicts/{id}/resolve",
])
def test_a_row_id_past_bigint_or_below_one_is_a_422_not_a_driver_error(
        client: TestClient, auth_headers: Callable[[str], dict[str, str]], path: str) -> None:
    admin = auth_headers("admin")
    for row_id in (2**63, 10**30, 0, -5):
        response = client.post(path.format(id=row_id), headers=admin, json={"reason": "x", "note": "x"})
        assert (response.status_code, response.json()["error"]["code"]) == (422, "request.invalid"), row_id
    found = client.get(f"/api/v1/finance/discrepancies/{2**63}", headers=admin)
    assert found.status_code == 422
