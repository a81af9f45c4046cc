"""The reservation benchmark runs end to end at a small size: both races, and nothing oversold."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func, select

from orderhub.benchmarks.orders import BenchmarkRefused
from orderhub.benchmarks.reservations import run_reservation_benchmark
from orderhub.inventory import service as inventory
from orderhub.inventory.model import Reservation
from orderhub.runtime import Runtime


def test_the_reservation_benchmark_races_both_ways_and_oversells_nothing(runtime: Runtime, tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    console = Console(file=io.StringIO(), width=200)
    if runtime.engine.dialect.name != "postgresql":
        with pytest.raises(BenchmarkRefused):
            run_reservation_benchmark(runtime.settings, clients=4, processes=2, units=30, attempts=40,
                                      output=str(output), console=console)
        return
    run_reservation_benchmark(runtime.settings, clients=4, processes=2, units=30, attempts=40, output=str(output),
                              console=console)
    report = output.read_text()
    assert "raw guarded `UPDATE … WHERE available >= 1` (autocommit): **" in report
    assert re.search(r"\*\*[\d,]+ attempts/s\*\*, 30 succeeded", report)  # the raw race: 40 tries, 30 units
    assert "30 reserved, 30 units held, on hand 30; oversold: **0**; ledger check: 0 mismatches" in report
    assert re.search(r"reservations / raw: \*\*\d+%\*\*", report)
    with runtime.reading() as session:
        states = dict(session.execute(select(Reservation.state, func.count()).group_by(Reservation.state)).all())
        assert inventory.verify(session) == []
    assert states == {"active": 30, "short": 10}
