"""The tracking benchmark drives a real `orderhub serve` at a small size, so its figure keeps meaning what it says."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func, select

from orderhub.benchmarks.orders import BenchmarkRefused
from orderhub.benchmarks.tracking import run_tracking_benchmark
from orderhub.logistics.model import TrackingEvent, TrackingPush
from orderhub.runtime import Runtime


def test_the_tracking_benchmark_counts_every_event_once_and_reports_the_rate(runtime: Runtime, tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    console = Console(file=io.StringIO(), width=200)
    if runtime.engine.dialect.name != "postgresql":
        with pytest.raises(BenchmarkRefused):
            run_tracking_benchmark(runtime.settings, waybills=4, pushes=2, clients=2, workers=1,
                                   output=str(output), console=console)
        return
    rate = run_tracking_benchmark(runtime.settings, waybills=12, pushes=3, clients=3, workers=1,
                                  output=str(output), console=console)
    assert rate > 0
    report = output.read_text()
    assert "tracking push ingestion over HTTP: 360 events, 30 % duplicates — postgresql" in report
    assert "`orderhub serve --workers 1` on loopback" in report and "events/s** (target ≥ 2,000)" in report
    assert "pushes/s; 0 failed" in report
    assert "stored 288 distinct events = expected 288" in report
    with runtime.reading() as session:
        assert session.scalar(select(func.count()).select_from(TrackingEvent)) == 12 * (3 + 3 * 7)
        assert session.scalar(select(func.count()).select_from(TrackingPush)) == 12 * 4
