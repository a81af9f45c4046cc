"""Parcel anomalies as data (anomalies.yaml) and the pure rules that find them in a parcel's facts.

No database here: the scan job and the scorecard gather a parcel's facts and ask these rules, so the
rules are tested table-driven in milliseconds and the two callers can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orderhub.core.datafile import DataFileError, load_model
from orderhub.logistics.carriers import carrier_table
from orderhub.logistics.states import FINAL, TrackingState

ANOMALIES_FILE = Path(__file__).with_name("anomalies.yaml")


class AnomalyKind(StrEnum):
    NOT_COLLECTED = "not_collected"
    NO_UPDATE = "no_update"
    NOT_DELIVERED = "not_delivered"
    SUSPICIOUS_SIGNOFF = "suspicious_signoff"
    CROSS_BORDER_SWITCH = "cross_border_switch"


KIND_LABELS_ZH = {
    AnomalyKind.NOT_COLLECTED: "超时未揽收",
    AnomalyKind.NO_UPDATE: "轨迹停滞",
    AnomalyKind.NOT_DELIVERED: "超时未签收",
    AnomalyKind.SUSPICIOUS_SIGNOFF: "签收存疑",
    AnomalyKind.CROSS_BORDER_SWITCH: "清关后需换国内单",
}


class AnomaliesFileError(DataFileError):
    title = "invalid parcel anomalies file / 物流异常规则文件无效"


# Up to 60 days: a longer limit is a typo, not a policy.
Hours = Annotated[int, Field(gt=0, le=24 * 60)]


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    not_collected: Hours
    no_update: Hours
    not_delivered: Hours


class RegionThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provinces: list[str] = Field(min_length=1)
    not_collected: Hours | None = None
    no_update: Hours | None = None
    not_delivered: Hours | None = None


class CrossBorder(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cleared_words: list[str] = Field(min_length=1)


class OwnerRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kinds: list[AnomalyKind] = Field(default_factory=list)
    carriers: list[str] = Field(default_factory=list)
    provinces: list[str] = Field(default_factory=list)
    owner: str = Field(min_length=1, max_length=64)


class Owners(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default: str = Field(min_length=1, max_length=64)
    rules: list[OwnerRule] = Field(default_factory=list)


@dataclass(frozen=True)
class ScanFact:
    """One tracking event as the rules read it."""

    at: datetime
    state: TrackingState
    text: str
    location: str = ""
    raw_status: str = ""


@dataclass(frozen=True)
class ParcelFacts:
    """What the rules need of one waybill, gathered from logistics and (through its service) orders."""

    carrier: str
    state: TrackingState
    last_scan_at: datetime | None
    shipped_at: datetime
    receiver_province: str
    cross_border: bool
    # Another waybill bound to the same order after this one (the domestic leg of a cross-border parcel).
    has_later_waybill: bool
    events: Sequence[ScanFact]  # oldest first


@dataclass(frozen=True)
class Finding:
    kind: AnomalyKind
    since: datetime  # when the condition began: a ticket resolved by hand after this is not reopened
    detail: str


class AnomalyRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    thresholds: Thresholds
    regions: list[RegionThresholds] = Field(default_factory=list)
    provinces: list[str] = Field(min_length=1)
    cross_border: CrossBorder
    owners: Owners

    @model_validator(mode="after")
    def _known_names(self) -> AnomalyRules:
        problems: list[str] = []
        known = set(self.provinces)
        if len(known) != len(self.provinces):
            problems.append("provinces: a province is listed twice")
        seen: set[str] = set()
        for number, region in enumerate(self.regions):
            for province in region.provinces:
                if province not in known:
                    problems.append(f"regions.{number}: unknown province {province!r}")
                if province in seen:
                    problems.append(f"regions.{number}: {province!r} is in two regions")
                seen.add(province)
        carriers = set(carrier_table().carriers)
        for number, rule in enumerate(self.owners.rules):
            problems += [f"owners.rules.{number}: unknown province {p!r}" for p in rule.provinces if p not in known]
            problems += [f"owners.rules.{number}: unknown carrier {c!r}" for c in rule.carriers if c not in carriers]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- thresholds and owners ---------------------------------------------------------------

    def province_of(self, text: str) -> str:
        """The short name a receiver's province starts with ("新疆维吾尔自治区" → "新疆"); "" if none."""
        text = text.strip()
        return next((name for name in self.provinces if text.startswith(name)), "")

    def limit(self, kind: Literal["not_collected", "no_update", "not_delivered"], province: str) -> timedelta:
        short = self.province_of(province)
        region = next((r for r in self.regions if short in r.provinces), None)
        hours = getattr(region, kind, None) if region else None
        return timedelta(hours=hours if hours is not None else getattr(self.thresholds, kind))

    def owner_of(self, kind: AnomalyKind, *, carrier: str, province: str) -> str:
        short = self.province_of(province)
        for rule in self.owners.rules:
            if ((not rule.kinds or kind in rule.kinds) and (not rule.carriers or carrier in rule.carriers)
                    and (not rule.provinces or short in rule.provinces)):
                return rule.owner
        return self.owners.default

    # -- the rules ---------------------------------------------------------------------------

    def suspicious_signoff(self, parcel: ParcelFacts) -> Finding | None:
        """A delivered scan with no out-for-delivery scan before it, or naming another province."""
        delivered = next((e for e in reversed(parcel.events) if e.state is TrackingState.DELIVERED), None)
        if delivered is None:
            return None
        if not any(e.state is TrackingState.OUT_FOR_DELIVERY and e.at <= delivered.at for e in parcel.events):
            return Finding(AnomalyKind.SUSPICIOUS_SIGNOFF, delivered.at,
                           "签收前没有派件扫描 / signed for without an out-for-delivery scan")
        receiver = self.province_of(parcel.receiver_province)
        named = [name for name in self.provinces if name in f"{delivered.location} {delivered.text}"]
        if receiver and named and receiver not in named:
            return Finding(AnomalyKind.SUSPICIOUS_SIGNOFF, delivered.at,
                           f"签收地 {'、'.join(named)} 不在收件省份 {receiver} / signed for outside the "
                           f"receiver's province")
        return None

    def delivered_at(self, parcel: ParcelFacts) -> datetime | None:
        if parcel.state is not TrackingState.DELIVERED:
            return None
        return next((e.at for e in reversed(parcel.events) if e.state is TrackingState.DELIVERED),
                    parcel.last_scan_at)

    def late(self, parcel: ParcelFacts, now: datetime) -> bool:
        """Not delivered within the receiver region's limit (delivered late, or still out past it)."""
        deadline = parcel.shipped_at + self.limit("not_delivered", parcel.receiver_province)
        delivered = self.delivered_at(parcel)
        return delivered > deadline if delivered is not None else now > deadline

    def findings(self, parcel: ParcelFacts, now: datetime) -> list[Finding]:
        """Every anomaly the parcel shows at `now`; an empty list when all is well."""
        found: list[Finding] = []
        province = parcel.receiver_province
        moving = parcel.state not in FINAL
        collect_by = parcel.shipped_at + self.limit("not_collected", province)
        if parcel.state is TrackingState.PENDING and now >= collect_by:
            found.append(Finding(AnomalyKind.NOT_COLLECTED, collect_by, "发货后未揽收 / not collected since shipping"))
        if moving and parcel.last_scan_at is not None:
            quiet_by = parcel.last_scan_at + self.limit("no_update", province)
            if now >= quiet_by:
                found.append(Finding(AnomalyKind.NO_UPDATE, quiet_by, "轨迹长时间无更新 / no tracking update"))
        deliver_by = parcel.shipped_at + self.limit("not_delivered", province)
        if moving and now >= deliver_by:
            found.append(Finding(AnomalyKind.NOT_DELIVERED, deliver_by, "超时未签收 / not delivered in time"))
        signoff = self.suspicious_signoff(parcel)
        if signoff is not None:
            found.append(signoff)
        if parcel.cross_border and not parcel.has_later_waybill:
            cleared = next((e for e in parcel.events if any(
                word in e.text or word == e.raw_status for word in self.cross_border.cleared_words)), None)
            if cleared is not None:
                found.append(Finding(AnomalyKind.CROSS_BORDER_SWITCH, cleared.at,
                                     "已清关，需绑定国内运单 / cleared customs: bind the domestic waybill"))
        return found


@cache
def anomaly_rules(path: Path = ANOMALIES_FILE) -> AnomalyRules:
    return load_model(path, AnomalyRules, AnomaliesFileError)
