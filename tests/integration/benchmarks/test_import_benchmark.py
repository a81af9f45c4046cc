"""The import benchmark runs end to end at a small size, so its figures keep meaning what they say."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func, inspect, select

from orderhub.benchmarks.imports import RAW_TABLES, run_import_benchmark
from orderhub.benchmarks.orders import BenchmarkRefused
from orderhub.orders.model import Order
from orderhub.runtime import Runtime


def test_the_import_benchmark_measures_both_rates_and_leaves_no_scratch_tables(
    runtime: Runtime, tmp_path: Path
) -> None:
    output = tmp_path / "benchmarks.md"
    console = Console(file=io.StringIO(), width=200)
    if runtime.engine.dialect.name != "postgresql":
        with pytest.raises(BenchmarkRefused):
            run_import_benchmark(runtime.settings, orders=50, raw=50, channel="taobao", file=None,
                                 output=str(output), console=console)
        return
    run_import_benchmark(runtime.settings, orders=600, raw=300, channel="taobao", file=None, output=str(output),
                         console=console)
    report = output.read_text()
    assert "orderhub import` of 600 taobao orders" in report
    assert "raw batched INSERT of the same order and line rows (300 orders" in report
    assert "import / raw: **" in report
    with runtime.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 600
    assert not set(RAW_TABLES) & set(inspect(runtime.engine).get_table_names())
