"""The anomaly rules on a parcel's facts, table-driven, no database; and the rules file checked at load."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orderhub.logistics.anomaly_rules import (
    AnomaliesFileError,
    AnomalyKind,
    ParcelFacts,
    ScanFact,
    anomaly_rules,
)
from orderhub.logistics.states import TrackingState as S

SHIPPED = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
RULES = anomaly_rules()


def at(hours: float) -> datetime:
    return SHIPPED + timedelta(hours=hours)


def parcel(state: S = S.PENDING, events: tuple[ScanFact, ...] = (), *, province: str = "浙江省",
           carrier: str = "YTO", cross_border: bool = False, later: bool = False) -> ParcelFacts:
    return ParcelFacts(carrier=carrier, state=state, last_scan_at=events[-1].at if events else None,
                       shipped_at=SHIPPED, receiver_province=province, cross_border=cross_border,
                       has_later_waybill=later, events=events)


COLLECTED = ScanFact(at(2), S.COLLECTED, "【杭州市】已揽收", "浙江,杭州市")
OUT = ScanFact(at(20), S.OUT_FOR_DELIVERY, "【杭州市】正在派件", "浙江,杭州市")
SIGNED = ScanFact(at(24), S.DELIVERED, "【杭州市】已签收", "浙江,杭州市")
CLEARED = ScanFact(at(10), S.IN_TRANSIT, "【杭州海关】包裹已清关", "", "已清关")


@pytest.mark.parametrize(("facts", "hours", "kinds"), [
    (parcel(), 23.9, set()),
    (parcel(), 24, {AnomalyKind.NOT_COLLECTED}),
    (parcel(), 72, {AnomalyKind.NOT_COLLECTED, AnomalyKind.NOT_DELIVERED}),
    (parcel(S.COLLECTED, (COLLECTED,)), 49.9, set()),
    (parcel(S.COLLECTED, (COLLECTED,)), 50, {AnomalyKind.NO_UPDATE}),
    (parcel(S.COLLECTED, (COLLECTED,), province="西藏自治区"), 73.9, set()),
    (parcel(S.COLLECTED, (COLLECTED,), province="西藏自治区"), 168, {AnomalyKind.NO_UPDATE, AnomalyKind.NOT_DELIVERED}),
    (parcel(S.DELIVERED, (COLLECTED, OUT, SIGNED)), 500, set()),
    (parcel(S.DELIVERED, (COLLECTED, SIGNED)), 30, {AnomalyKind.SUSPICIOUS_SIGNOFF}),
    (parcel(S.DELIVERED, (COLLECTED, OUT, ScanFact(at(24), S.DELIVERED, "已签收", "广东,广州市"))), 30,
     {AnomalyKind.SUSPICIOUS_SIGNOFF}),
    # A scan naming only a city, or the receiver's own province in full, is not judged far off.
    (parcel(S.DELIVERED, (COLLECTED, OUT, ScanFact(at(24), S.DELIVERED, "【广州市】已签收"))), 30, set()),
    (parcel(S.DELIVERED, (COLLECTED, OUT, SIGNED), province="新疆维吾尔自治区"), 30,
     {AnomalyKind.SUSPICIOUS_SIGNOFF}),
    (parcel(S.IN_TRANSIT, (COLLECTED, CLEARED), cross_border=True), 12, {AnomalyKind.CROSS_BORDER_SWITCH}),
    (parcel(S.IN_TRANSIT, (COLLECTED, CLEARED), cross_border=True, later=True), 12, set()),
    (parcel(S.IN_TRANSIT, (COLLECTED, CLEARED)), 12, set()),
])
def test_findings(facts: ParcelFacts, hours: float, kinds: set[AnomalyKind]) -> None:
    assert {finding.kind for finding in RULES.findings(facts, at(hours))} == kinds


def test_a_finding_says_since_when_its_condition_holds() -> None:
    found = {f.kind: f.since for f in RULES.findings(parcel(S.COLLECTED, (COLLECTED,)), at(100))}
    assert found == {AnomalyKind.NO_UPDATE: at(50), AnomalyKind.NOT_DELIVERED: at(72)}


@pytest.mark.parametrize(("kind", "carrier", "province", "owner"), [
    (AnomalyKind.NOT_COLLECTED, "YTO", "浙江省", "ops_supervisor"),
    (AnomalyKind.NOT_COLLECTED, "SF", "浙江省", "direct-carrier-desk"),
    (AnomalyKind.NOT_DELIVERED, "SF", "新疆维吾尔自治区", "west-ops"),
    (AnomalyKind.SUSPICIOUS_SIGNOFF, "SF", "西藏自治区", "ops"),
    (AnomalyKind.CROSS_BORDER_SWITCH, "YTO", "浙江省", "ops_supervisor"),
])
def test_the_first_matching_owner_rule_wins(kind: AnomalyKind, carrier: str, province: str, owner: str) -> None:
    assert RULES.owner_of(kind, carrier=carrier, province=province) == owner


def test_a_late_delivery_counts_against_the_regions_limit() -> None:
    late = parcel(S.DELIVERED, (COLLECTED, OUT, ScanFact(at(80), S.DELIVERED, "已签收")))
    assert RULES.late(late, at(100))
    assert not RULES.late(parcel(S.DELIVERED, (COLLECTED, OUT, ScanFact(at(80), S.DELIVERED, "已签收")),
                                 province="新疆维吾尔自治区"), at(100))
    assert not RULES.late(parcel(S.IN_TRANSIT, (COLLECTED,)), at(71))


def test_a_broken_rules_file_is_refused_with_every_problem(tmp_path: Path) -> None:
    broken = tmp_path / "anomalies.yaml"
    broken.write_text("""version: 1
thresholds: {not_collected: 0, no_update: 48, not_delivered: 72}
regions:
  - {provinces: [火星], not_delivered: 100}
provinces: [浙江, 新疆]
cross_border: {cleared_words: [已清关]}
owners:
  default: ops
  rules:
    - {kinds: [lost], owner: ops}
    - {carriers: [NOPE], owner: ops}
""", encoding="utf-8")
    with pytest.raises(AnomaliesFileError) as caught:
        anomaly_rules(broken)
    problems = "\n".join(caught.value.problems)
    assert "thresholds.not_collected" in problems and "owners.rules.0.kinds.0" in problems


def test_a_province_in_two_regions_or_an_unknown_carrier_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "anomalies.yaml"
    broken.write_text("""version: 1
thresholds: {not_collected: 24, no_update: 48, not_delivered: 72}
regions:
  - {provinces: [新疆], not_delivered: 100}
  - {provinces: [新疆, 火星], not_delivered: 120}
provinces: [浙江, 新疆]
cross_border: {cleared_words: [已清关]}
owners: {default: ops, rules: [{carriers: [NOPE], owner: ops}]}
""", encoding="utf-8")
    with pytest.raises(AnomaliesFileError) as caught:
        anomaly_rules(broken)
    problems = "\n".join(caught.value.problems)
    assert "in two regions" in problems and "火星" in problems and "unknown carrier 'NOPE'" in problems
