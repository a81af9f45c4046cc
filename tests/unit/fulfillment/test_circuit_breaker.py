"""The warehouse circuit breaker: three SLA breaches in a row take a warehouse out of routing for two hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orderhub.fulfillment.model import BreakerState, WarehouseBreaker
from orderhub.fulfillment.tables import BreakerPolicy

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
POLICY = BreakerPolicy(threshold=3, open_for=timedelta(hours=2))


def fresh() -> WarehouseBreaker:
    return WarehouseBreaker(warehouse_code="WH-GZ", consecutive_breaches=0, half_open=False, trips=0, updated_at=T0)


def test_three_breaches_in_a_row_trip_it_for_two_hours() -> None:
    breaker = fresh()
    assert [breaker.record(breached=True, at=T0 + timedelta(minutes=m), policy=POLICY) for m in (0, 1, 2)] == [
        False, False, True]
    assert breaker.state(T0 + timedelta(minutes=3)) is BreakerState.OPEN
    assert breaker.tripped_until == T0 + timedelta(minutes=2, hours=2)
    assert breaker.state(T0 + timedelta(minutes=2, hours=2)) is BreakerState.HALF_OPEN


def test_a_met_sla_in_between_starts_the_count_again() -> None:
    breaker = fresh()
    for breached in (True, True, False, True, True):
        assert not breaker.record(breached=breached, at=T0, policy=POLICY)
    assert breaker.state(T0) is BreakerState.CLOSED and breaker.consecutive_breaches == 2


def test_breaches_while_open_do_not_extend_it() -> None:
    breaker = fresh()
    for _ in range(3):
        breaker.record(breached=True, at=T0, policy=POLICY)
    assert not breaker.record(breached=True, at=T0 + timedelta(hours=1), policy=POLICY)
    assert breaker.tripped_until == T0 + timedelta(hours=2) and breaker.trips == 1


def test_half_open_the_next_breach_trips_it_again_at_once() -> None:
    breaker = fresh()
    for _ in range(3):
        breaker.record(breached=True, at=T0, policy=POLICY)
    later = T0 + timedelta(hours=2, minutes=5)
    assert breaker.record(breached=True, at=later, policy=POLICY)
    assert breaker.state(later) is BreakerState.OPEN and breaker.trips == 2


def test_half_open_a_met_sla_closes_it() -> None:
    breaker = fresh()
    for _ in range(3):
        breaker.record(breached=True, at=T0, policy=POLICY)
    later = T0 + timedelta(hours=3)
    assert not breaker.record(breached=False, at=later, policy=POLICY)
    assert breaker.state(later) is BreakerState.CLOSED
    assert not breaker.record(breached=True, at=later, policy=POLICY)  # one breach no longer trips it
