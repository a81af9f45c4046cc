"""What a customer must type to see an order, and what of it is shown: rules without a database."""

from __future__ import annotations

import uuid

import pytest

from orderhub.lookup.errors import LookupInvalid, ReferenceLocked, TooManyLookups
from orderhub.lookup.guard import LookupGuard
from orderhub.lookup.service import mask_name, mask_phone, normalise_phone, normalise_reference, phone_matches


@pytest.mark.parametrize(("stored", "given", "matches"), [
    ("13800138000", "8000", True),
    ("13800138000", "13800138000", True),
    ("13800138000", "0000", False),
    ("13800138000", "13800138001", False),
    ("138****8000", "8000", True),  # masked by the platform: the digits it shows still count
    ("138****8000", "13812348000", True),
    ("138****8000", "13912348000", False),
    ("138****8000-1234", "8000", True),
    ("13800001111-1234", "1234", False),  # a platform's virtual number is nobody's the customer knows
    ("13800001111-1234", "1111", False),
    ("0571-88886666", "6666", True),
    ("0571-88886666", "057188886666", True),
    ("0571-88886666", "88886666", True),
    ("0571-88886666-801", "0801", False),  # an extension is not the phone
    ("", "8000", False),
    ("not a phone", "8000", False),
])
def test_the_phone_matches_on_its_last_four_digits_or_as_a_whole(stored: str, given: str, matches: bool) -> None:
    assert phone_matches(stored, given) is matches


@pytest.mark.parametrize(("raw", "normalised"), [
    ("tb_20261205_8A3F7B", "TB_20261205_8a3f7b"),
    ("  DY_20260209_8a3f7b ", "DY_20260209_8a3f7b"),
    ("３７９１２３４５６７８９０", "3791234567890"),  # full-width digits from a phone keyboard
    ("JD-2026-001", "JD-2026-001"),
])
def test_order_numbers_are_read_as_customers_type_them(raw: str, normalised: str) -> None:
    assert normalise_reference(raw) == normalised


@pytest.mark.parametrize("raw", ["", "abc", "x" * 65, "TB_2026'; DROP", "订单123456"])
def test_an_order_number_that_cannot_be_one_is_refused_with_its_field(raw: str) -> None:
    with pytest.raises(LookupInvalid) as refused:
        normalise_reference(raw)
    assert refused.value.details[0]["field"] == "order" and refused.value.status == 422


@pytest.mark.parametrize(("raw", "normalised"), [("8000", "8000"), ("138 0013 8000", "13800138000"),
                                                 ("+86 138-0013-8000", "13800138000"), ("８０００", "8000")])
def test_phones_are_read_with_spaces_dashes_and_country_code(raw: str, normalised: str) -> None:
    assert normalise_phone(raw) == normalised


@pytest.mark.parametrize("raw", ["", "800", "80000", "abcd", "1" * 13, "8000x"])
def test_a_phone_that_is_neither_a_tail_nor_a_number_is_refused_with_its_field(raw: str) -> None:
    with pytest.raises(LookupInvalid) as refused:
        normalise_phone(raw)
    assert refused.value.details[0]["field"] == "phone"


@pytest.mark.parametrize(("name", "masked"),
                         [("张三", "张*"), ("欧阳娜娜", "欧***"), ("Li", "L*"), ("王", "王*"), ("", "")])
def test_the_receivers_name_shows_only_its_first_character(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize(("phone", "masked"), [("13800138000", "138****8000"), ("138****8000", "138****8000"),
                                               ("0571-88886666", "0571-****6666"), ("13800001111-1234", ""),
                                               ("", "")])
def test_the_phone_shows_only_what_platforms_print(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


def guard(client_limits: str = "3/minute", failure_limits: str = "2/hour") -> LookupGuard:
    return LookupGuard(storage_uri="memory://", client_limits=client_limits, failure_limits=failure_limits)


def test_a_client_over_its_limit_is_told_when_to_come_back() -> None:
    limiter = guard()
    for _ in range(3):
        limiter.admit("203.0.113.7")
    with pytest.raises(TooManyLookups) as refused:
        limiter.admit("203.0.113.7")
    assert refused.value.status == 429 and 1 <= refused.value.retry_after <= 60
    assert refused.value.headers == {"Retry-After": str(refused.value.retry_after)}
    limiter.admit("203.0.113.8")  # another client has its own count


def test_wrong_phones_lock_the_number_for_every_client_but_not_other_numbers() -> None:
    limiter = guard()
    reference = f"TB-{uuid.uuid4().hex[:8]}"
    limiter.check_reference(reference)
    limiter.record_failure(reference)
    limiter.check_reference(reference)
    limiter.record_failure(reference)
    with pytest.raises(ReferenceLocked) as locked:
        limiter.check_reference(reference)
    assert 3000 < locked.value.retry_after <= 3600
    limiter.check_reference(f"{reference}-other")


def test_every_limit_of_several_counts() -> None:
    limiter = guard(client_limits="5/minute;2/hour")
    limiter.admit("a")
    limiter.admit("a")
    with pytest.raises(TooManyLookups):
        limiter.admit("a")
