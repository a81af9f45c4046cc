"""The polling fallback against the kuaidi100 simulator, over HTTP as against the real query API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from orderhub.core.clock import FixedClock
from orderhub.logistics import jobs, service
from orderhub.logistics.model import PushOutcome
from orderhub.runtime import Runtime
from orderhub.simulators.kuaidi100 import Kuaidi100State, RunningKuaidi100, TrackEventIn, TrackIn
from tests.integration.logistics.tracking_setup import NUMBER, SALT, STAFF, TRACK, manual_order

pytestmark = pytest.mark.usefixtures("merchant")


@pytest.fixture(scope="module")
def simulator() -> Iterator[tuple[Kuaidi100State, RunningKuaidi100]]:
    state = Kuaidi100State(key="sim-key", customer="SIMCUSTOMER", salt=SALT)
    with RunningKuaidi100(state) as running:
        yield state, running


@pytest.fixture
def kuaidi100(runtime: Runtime, simulator: tuple[Kuaidi100State, RunningKuaidi100]) -> Kuaidi100State:
    state, running = simulator
    state.tracks.clear()
    state.error_rate = 0.0
    runtime.settings.kuaidi100_query_url = running.query_url
    runtime.settings.kuaidi100_key = state.key
    runtime.settings.kuaidi100_customer = state.customer
    return state


def track(events: list[tuple[str, str, str]], state: str) -> TrackIn:
    newest_first = sorted(events, reverse=True)
    return TrackIn(com="yuantong", number=NUMBER, state=state,
                   events=[TrackEventIn(ftime=at, context=text, status=status) for at, text, status in newest_first])


def waybill(runtime: Runtime) -> service.Parcel:
    with runtime.reading() as session:
        return service.get_waybill(session, carrier="YTO", waybill_no=NUMBER)


def bind_and_wait(runtime: Runtime, clock: FixedClock) -> None:
    service.bind_waybill(runtime.uow(), order_no=manual_order(runtime), carrier="YTO", waybill_no=NUMBER,
                         actor=STAFF)
    clock.advance(service.FIRST_POLL_AFTER)


def test_a_waybill_not_pushed_for_hours_is_polled_and_its_track_taken_in(
    runtime: Runtime, clock: FixedClock, kuaidi100: Kuaidi100State
) -> None:
    bind_and_wait(runtime, clock)
    kuaidi100.set_track(track(TRACK[:3], "5"))
    report = jobs.poll_due_waybills(runtime)
    assert (report.polled, report.new_events, report.failed) == (1, 3, 0)
    parcel = waybill(runtime)
    assert parcel.waybill.state == "out_for_delivery"
    assert parcel.waybill.next_poll_at == clock.now() + service.POLL_EVERY
    assert jobs.poll_due_waybills(runtime).polled == 0  # not due again yet
    # The carrier moves on and kuaidi100 pushes: only the event the poll had not seen is new.
    kuaidi100.set_track(track(TRACK, "3"))
    form = kuaidi100.push_form("yuantong", NUMBER)
    receipt = service.receive_kuaidi100_push(runtime.uow(), param=form["param"], sign=form["sign"], salt=SALT)
    assert (receipt.outcome, receipt.new_events, receipt.duplicates) == (PushOutcome.ACCEPTED, 1, 3)
    assert waybill(runtime).waybill.next_poll_at is None  # delivered


def test_a_carrier_without_track_yet_is_asked_again_later(
    runtime: Runtime, clock: FixedClock, kuaidi100: Kuaidi100State
) -> None:
    bind_and_wait(runtime, clock)
    report = jobs.poll_due_waybills(runtime)
    assert (report.polled, report.new_events, report.failed) == (1, 0, 0)
    parcel = waybill(runtime)
    assert (parcel.waybill.state, parcel.waybill.next_poll_at) == ("pending", clock.now() + service.POLL_EVERY)


def test_a_failing_query_api_is_retried_with_back_off_and_loses_nothing(
    runtime: Runtime, clock: FixedClock, kuaidi100: Kuaidi100State
) -> None:
    bind_and_wait(runtime, clock)
    kuaidi100.set_track(track(TRACK[:2], "0"))
    kuaidi100.error_rate = 1.0
    assert jobs.poll_due_waybills(runtime).failed == 1
    assert waybill(runtime).waybill.next_poll_at == clock.now() + timedelta(minutes=15)
    clock.advance(timedelta(minutes=15))
    assert jobs.poll_due_waybills(runtime).failed == 1
    assert waybill(runtime).waybill.next_poll_at == clock.now() + timedelta(minutes=30)
    kuaidi100.error_rate = 0.0
    clock.advance(timedelta(minutes=30))
    assert jobs.poll_due_waybills(runtime).new_events == 2
    assert waybill(runtime).waybill.poll_failures == 0


def test_a_query_signed_with_the_wrong_key_is_a_failure_not_an_empty_track(
    runtime: Runtime, clock: FixedClock, kuaidi100: Kuaidi100State
) -> None:
    bind_and_wait(runtime, clock)
    kuaidi100.set_track(track(TRACK[:2], "0"))
    runtime.settings.kuaidi100_key = "not-the-key"
    assert jobs.poll_due_waybills(runtime).failed == 1


def test_without_a_kuaidi100_account_nothing_is_polled_and_waybills_stay_due(
    runtime: Runtime, clock: FixedClock, kuaidi100: Kuaidi100State
) -> None:
    bind_and_wait(runtime, clock)
    runtime.settings.kuaidi100_key = ""
    assert jobs.poll_due_waybills(runtime) == jobs.PollReport()
    assert waybill(runtime).waybill.next_poll_at == clock.now()
