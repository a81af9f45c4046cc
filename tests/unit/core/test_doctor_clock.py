from datetime import UTC, datetime, timedelta

from orderhub.core.doctor import check_clock

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def test_clocks_within_a_minute_agree() -> None:
    assert check_clock(NOW + timedelta(seconds=3), NOW).ok


def test_an_eight_hour_skew_is_reported_as_a_timezone_error() -> None:
    check = check_clock(NOW + timedelta(hours=8), NOW)
    assert not check.ok
    assert "+8 h" in check.message and "timezone" in check.message


def test_a_negative_eight_hour_skew_is_reported_too() -> None:
    check = check_clock(NOW - timedelta(hours=8), NOW)
    assert not check.ok and "-8 h" in check.message


def test_a_drifting_clock_is_reported_as_unsynchronised() -> None:
    check = check_clock(NOW + timedelta(minutes=7), NOW)
    assert not check.ok and "NTP" in check.message
