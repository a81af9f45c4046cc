"""Money is integer fen inside OrderHub; `Decimal` appears only at the edges."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

_CENT = Decimal("0.01")


class MoneyFormatError(ValueError):
    pass


def yuan_to_fen(value: str | int | Decimal) -> int:
    """Parse a yuan amount ("199.00", "199", 199) into fen; more than two decimals is an error."""
    if isinstance(value, (bool, float)):
        raise MoneyFormatError(f"money must be a decimal string, not {type(value).__name__}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise MoneyFormatError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise MoneyFormatError(f"not an amount: {value!r}")
    if amount != amount.quantize(_CENT):
        raise MoneyFormatError(f"more than two decimal places: {value!r}")
    return int(amount * 100)


def fen_to_yuan(fen: int) -> str:
    """Render fen as the API's two-place yuan string: 19800 → "198.00"."""
    return str((Decimal(fen) / 100).quantize(_CENT, rounding=ROUND_HALF_UP))
