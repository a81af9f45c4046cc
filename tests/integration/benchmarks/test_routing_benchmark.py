"""The routing benchmark runs end to end at a small size, so its figure keeps meaning what it says."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func, select

from orderhub.benchmarks.orders import BenchmarkRefused
from orderhub.benchmarks.routing import run_routing_benchmark
from orderhub.fulfillment.model import RoutingDecision
from orderhub.orders.model import Order
from orderhub.runtime import Runtime


def test_the_routing_benchmark_routes_every_order_once_and_reports_the_rate(runtime: Runtime, tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    console = Console(file=io.StringIO(), width=200)
    if runtime.engine.dialect.name != "postgresql":
        with pytest.raises(BenchmarkRefused):
            run_routing_benchmark(runtime.settings, orders=50, workers=1, output=str(output), console=console)
        return
    run_routing_benchmark(runtime.settings, orders=400, workers=2, output=str(output), console=console)
    report = output.read_text()
    assert "routing: 400 orders over 10 warehouses" in report
    assert "2 worker process(es): **" in report and "failed 0" in report
    with runtime.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 400
        assert session.scalar(select(func.count()).select_from(RoutingDecision)) == 400
        waiting = session.scalar(select(func.count()).select_from(Order).where(Order.status == "approved"))
        routed = session.scalar(select(func.count()).select_from(Order).where(Order.status == "allocated"))
    assert routed and routed + (waiting or 0) == 400
