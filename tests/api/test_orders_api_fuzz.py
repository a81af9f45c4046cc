"""Property-based: whatever a client sends to the orders API, the answer is never a 500."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.samples import MANUAL_ORDER

pytestmark = pytest.mark.usefixtures("merchant")
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(["", "199.00", "-1.00", "1e400", "0x10", "１２３", "\u0000", "'; DROP TABLE sales_order; --"]),
)
PATHS: list[list[Any]] = [
    ["channel"],
    ["shop"],
    ["receiver", "phone"],
    ["receiver", "province"],
    ["lines", 0, "qty"],
    ["lines", 0, "unit_price"],
    ["lines"],
    ["paid_amount"],
    ["payment", "paid_at"],
    ["id_card"],
    ["invoice", "type"],
    ["buyer_memo"],
    ["source_type"],
    ["receiver"],
]
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def set_path(body: dict[str, Any], path: list[Any], value: Any) -> None:
    """Put `value` at `path`, first restoring from the sample any container an earlier mutation replaced."""
    parent: Any = body
    sample: Any = MANUAL_ORDER
    for key in path[:-1]:
        sample = sample[key]
        try:
            child = parent[key]
        except (KeyError, IndexError, TypeError):
            child = None
        if type(child) is not type(sample) or not child:
            child = json.loads(json.dumps(sample))
            parent[key] = child
        parent = child
    parent[path[-1]] = value


def mutated_order(draw: Callable[[Any], Any]) -> dict[str, Any]:
    """The valid sample with one to four values replaced by arbitrary JSON."""
    body: dict[str, Any] = json.loads(json.dumps(MANUAL_ORDER))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        set_path(body, draw(st.sampled_from(PATHS)), draw(json_values))
    return body


@FUZZ
@given(data=st.data())
def test_create_never_answers_500(
    client: TestClient, auth_headers: Callable[[str], dict[str, str]], data: st.DataObject
) -> None:
    body = mutated_order(data.draw)
    response = client.post(
        "/api/v1/orders",
        content=json.dumps(body, allow_nan=True).encode(),
        headers={**auth_headers("ops"), "Content-Type": "application/json"},
    )
    assert response.status_code < 500, (body, response.text)
    assert "error" in response.json() or response.status_code == 201


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(["status", "channel", "shop", "created_from", "created_to", "q", "limit", "cursor"]),
        st.text(max_size=30),
        max_size=5,
    )
)
def test_list_never_answers_500(
    client: TestClient, auth_headers: Callable[[str], dict[str, str]], params: dict[str, str]
) -> None:
    response = client.get("/api/v1/orders", params=params, headers=auth_headers("viewer"))
    assert response.status_code < 500, (params, response.text)


@FUZZ
@given(order_no=st.text(max_size=40), body=json_values)
def test_transitions_never_answer_500(
    client: TestClient, auth_headers: Callable[[str], dict[str, str]], order_no: str, body: Any
) -> None:
    response = client.post(
        f"/api/v1/orders/{quote(order_no, safe='')}/transitions",
        content=json.dumps(body).encode(),
        headers={**auth_headers("ops"), "Content-Type": "application/json"},
    )
    assert response.status_code < 500, (order_no, body, response.text)
