"""The merchant's finance rules as data (`finance/rules/default.yaml`, or ORDERHUB_FINANCE_RULES_FILE).

Matching windows, where each channel keeps the payment number and the refunded amount in its
payload, the fee and commission rates agreed with providers and platforms, how long a platform
takes to settle, and who owns a discrepancy: validated at load, every defect reported at once.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from orderhub.channels.model import Channel
from orderhub.core.datafile import load_model
from orderhub.core.money import yuan_to_fen
from orderhub.finance.errors import FinanceRulesError
from orderhub.finance.model import Source

DEFAULT_RULES = Path(__file__).with_name("rules") / "default.yaml"
_PERCENT = re.compile(r"^\d{1,2}(\.\d{1,4})?%$")
PPM = 1_000_000


def _percent(value: str) -> str:
    if not _PERCENT.match(value.strip()):
        raise ValueError('a rate is a percentage such as "0.60%"')
    return value.strip()


def _amount(value: str) -> str:
    yuan_to_fen(value)
    return value


Percent = Annotated[str, AfterValidator(_percent)]
Yuan = Annotated[str, AfterValidator(_amount)]


def ppm(rate: str) -> int:
    """"0.60%" → 6000 parts per million."""
    return int(Decimal(rate.rstrip("%")) * PPM / 100)


def apply_rate(amount_fen: int, rate_ppm: int) -> int:
    """A fee on an amount, rounded half up to the fen (as providers charge it)."""
    return int((Decimal(amount_fen) * rate_ppm / PPM).quantize(Decimal(1), rounding=ROUND_HALF_UP))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Matching(_Strict):
    # A payment without a reference may belong to an order of the same amount paid this close in time.
    time_window_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # Fuzzy matching looks this far around the payment, and wants at least this score (0–100).
    fuzzy_window_days: int = Field(default=7, ge=1, le=60)
    fuzzy_min_score: int = Field(default=88, ge=50, le=100)
    # A stated fee may differ from the agreed rate by this much (providers round per line).
    fee_tolerance_fen: int = Field(default=1, ge=0)


class RefundAmount(_Strict):
    """Where a channel's payload states the refunded money; `*` sums over a list."""

    path: str
    unit: Literal["yuan", "fen"] = "yuan"


class PlatformRates(_Strict):
    commission: Percent = "0%"
    fee: Percent = "0%"


class OwnerWhen(_Strict):
    channel: list[Channel] = Field(default_factory=list)
    province: list[str] = Field(default_factory=list)
    min_amount: Yuan | None = None

    def fits(self, *, channel: str, province: str, amount_fen: int) -> bool:
        if self.channel and channel not in {c.value for c in self.channel}:
            return False
        if self.province and province not in self.province:
            return False
        return self.min_amount is None or abs(amount_fen) >= yuan_to_fen(self.min_amount)


class OwnerRule(_Strict):
    name: str
    when: OwnerWhen
    owner: str = Field(min_length=1, max_length=64)
    supervisor: str | None = Field(default=None, max_length=64)


class Assignee(_Strict):
    owner: str = Field(min_length=1, max_length=64)
    supervisor: str = Field(min_length=1, max_length=64)


class Discrepancies(_Strict):
    due_hours: int = Field(default=48, ge=1, le=24 * 30)
    default: Assignee
    rules: list[OwnerRule] = Field(default_factory=list)


class FinanceRules(_Strict):
    matching: Matching = Matching()
    payment_refs: dict[Channel, list[str]] = Field(default_factory=dict)
    refund_amounts: dict[Channel, RefundAmount] = Field(default_factory=dict)
    fee_rates: dict[Source, Percent] = Field(default_factory=dict)
    platform_rates: dict[Channel, PlatformRates] = Field(default_factory=dict)
    # Days a platform may take to pay for an order; until then an unpaid order is not a discrepancy.
    settles_within_days: dict[Channel, int] = Field(default_factory=dict)
    default_settles_within_days: int = Field(default=2, ge=0, le=90)
    # Reconciliation reruns this many past business days each time the daily job runs.
    lookback_days: int = Field(default=2, ge=1, le=31)
    discrepancies: Discrepancies

    def settle_days(self, channel: str) -> int:
        try:
            return self.settles_within_days.get(Channel(channel), self.default_settles_within_days)
        except ValueError:
            return self.default_settles_within_days

    def assignee(self, *, channel: str, province: str, amount_fen: int) -> tuple[str, str, str]:
        """(owner, supervisor, rule name) of a new discrepancy: the first rule that fits, else the default."""
        default = self.discrepancies.default
        rule = next((rule for rule in self.discrepancies.rules
                     if rule.when.fits(channel=channel, province=province, amount_fen=amount_fen)), None)
        if rule is None:
            return default.owner, default.supervisor, "default"
        return rule.owner, rule.supervisor or default.supervisor, rule.name


@cache
def _cached(path: Path) -> FinanceRules:
    return load_model(path, FinanceRules, FinanceRulesError)


def load_rules(path: Path | None = None) -> FinanceRules:
    """The rules file (default: the built-in one); `FinanceRulesError` lists every defect."""
    return _cached((path or DEFAULT_RULES).resolve())
