from decimal import Decimal

import pytest

from orderhub.core.money import MoneyFormatError, fen_to_yuan, yuan_to_fen


@pytest.mark.parametrize(
    ("raw", "fen"),
    [
        ("199.00", 19900),
        ("199", 19900),
        ("0.01", 1),
        ("200.07", 20007),
        (" 3.5 ", 350),
        (12, 1200),
        (Decimal("9.99"), 999),
        ("-5.00", -500),
        ("123456789.99", 12345678999),
    ],
)
def test_yuan_parses_to_integer_fen(raw: str, fen: int) -> None:
    assert yuan_to_fen(raw) == fen


@pytest.mark.parametrize("raw", ["1.001", "abc", "", "NaN", "Infinity", "1e3x", 1.5, True])
def test_bad_amounts_are_refused(raw: object) -> None:
    with pytest.raises(MoneyFormatError):
        yuan_to_fen(raw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("fen", "text"), [(19800, "198.00"), (1, "0.01"), (0, "0.00"), (-250, "-2.50")])
def test_fen_renders_as_two_place_yuan(fen: int, text: str) -> None:
    assert fen_to_yuan(fen) == text
