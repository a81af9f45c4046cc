"""The push benchmark drives a real `orderhub serve` at a small size: every push stored exactly once."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from sqlalchemy import func, select

from orderhub.benchmarks.push import run_push_benchmark
from orderhub.orders.model import Order
from orderhub.runtime import Runtime


def test_the_push_benchmark_stores_one_order_per_push(runtime: Runtime, tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    run_push_benchmark(runtime.settings, orders=120, clients=4, workers=1, output=str(output),
                       console=Console(file=io.StringIO(), width=200))
    report = output.read_text()
    assert "120 signed mini-program pushes" in report and "; 0 failed; 120 orders stored" in report
    with runtime.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 120
