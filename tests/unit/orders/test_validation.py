"""Validation rules: phones, ID numbers, addresses, amounts and the rules file. No database."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from orderhub.orders.draft import DraftLine, OrderDraft, Receiver
from orderhub.orders.validation import (
    AmountRules,
    Condition,
    FieldError,
    IdCardRules,
    PhoneRules,
    RuleSet,
    RulesFileError,
    classify_phone,
    default_rules_path,
    load_rules,
    normalise_address,
    validate_draft,
)

TODAY = date(2025, 6, 1)
_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def with_check_character(body: str) -> str:
    """GB 11643 check character, computed as formats.md §8 states it (independently of stdnum)."""
    remainder = sum(int(digit) * weight for digit, weight in zip(body, _WEIGHTS, strict=True)) % 11
    return body + "10X98765432"[remainder]


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules()


def make_draft(**changes: object) -> OrderDraft:
    """A valid manual draft: 2 × 49.50 + 10.00 shipping − 5.00 discount = 104.00 paid."""
    receiver = Receiver(
        name="张三",
        phone="13800000000",
        province="浙江省",
        city="杭州市",
        district="西湖区",
        address="文三路 90 号 3 幢 501",
    )
    draft = OrderDraft(
        channel="manual",
        shop="main",
        receiver=receiver,
        lines=[DraftLine(sku="SKU-1", qty=2, unit_price_fen=4950)],
        shipping_fee_fen=1000,
        discount_fen=500,
        paid_amount_fen=10400,
        source_type="电话订单",
    )
    return replace(draft, **changes)  # type: ignore[arg-type]


def receiver_at(province: str, city: str, district: str, **changes: str) -> Receiver:
    receiver = Receiver(
        name="李四",
        phone="13900000000",
        province=province,
        city=city,
        district=district,
        address="某某路 1 号",
    )
    return replace(receiver, **changes)


def rules_of(errors: list[FieldError]) -> set[tuple[str, str]]:
    return {(error.field, error.rule) for error in errors}


# --------------------------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800000000", ("mobile", "13800000000")),
        ("+86 138 0000 0000", ("mobile", "13800000000")),
        ("+86-138-0000-0000", ("mobile", "13800000000")),
        ("0086 13800000000", ("mobile", "13800000000")),
        ("8613800000000", ("mobile", "13800000000")),
        ("138-0000-0000", ("mobile", "13800000000")),
        (" 199 1234 5678 ", ("mobile", "19912345678")),
        ("１３８００００００００", ("mobile", "13800000000")),
        ("138000000001", ("invalid", "138000000001")),
        ("1380000000", ("invalid", "1380000000")),
        ("12800000000", ("invalid", "12800000000")),
        ("not a phone", ("invalid", "not a phone")),
        ("13800000000-1234", ("virtual", "13800000000-1234")),
        ("13800000000_1234", ("virtual", "13800000000-1234")),
        ("13800000000转1234", ("virtual", "13800000000-1234")),
        ("138****5678", ("masked", "138****5678")),
        ("1387677****", ("masked", "1387677****")),
        ("0755-26781234", ("landline", "0755-26781234")),
        ("021-12345678-801", ("landline", "021-12345678-801")),
        ("(0755)26781234", ("landline", "0755-26781234")),
        ("（0755）2678 1234", ("landline", "0755-26781234")),
        ("075526781234", ("landline", "0755-26781234")),
        ("010-62751234", ("landline", "010-62751234")),
        ("0123-4567890", ("invalid", "0123-4567890")),
        ("0101-2345678", ("invalid", "0101-2345678")),
        ("0755-123", ("invalid", "0755-123")),
        ("26781234", ("invalid", "26781234")),
        ("", ("empty", "")),
        ("   ", ("empty", "")),
    ],
)
def test_phone_is_classified_and_normalised(raw: str, expected: tuple[str, str]) -> None:
    assert classify_phone(raw) == expected


def test_validation_writes_the_normalised_phone_and_its_kind_back(rules: RuleSet) -> None:
    draft = make_draft(receiver=receiver_at("浙江", "杭州", "西湖区", phone="+86 138-0000-0000"))
    assert validate_draft(draft, rules, manual=True) == []
    assert (draft.receiver.phone, draft.receiver.phone_kind) == ("13800000000", "mobile")


def test_masked_phone_is_an_error_on_a_manual_order(rules: RuleSet) -> None:
    draft = make_draft(receiver=receiver_at("浙江", "杭州", "西湖区", phone="138****5678"))
    errors = validate_draft(draft, rules, manual=True)
    assert rules_of(errors) == {("receiver.phone", "phone.masked")}
    assert "138****5678" in errors[0].message_zh


def test_masked_phone_is_fine_on_a_channel_order(rules: RuleSet) -> None:
    draft = make_draft(channel="taobao", receiver=receiver_at("浙江", "杭州", "西湖区", phone="138****5678"))
    assert validate_draft(draft, rules, manual=False) == []
    assert draft.receiver.phone_kind == "masked"


def test_invalid_phone_is_fixable_only_on_a_channel_order(rules: RuleSet) -> None:
    manual = validate_draft(
        make_draft(receiver=receiver_at("浙江", "杭州", "西湖区", phone="1380000")), rules, manual=True
    )
    channel = validate_draft(
        make_draft(channel="jd", receiver=receiver_at("浙江", "杭州", "西湖区", phone="1380000")),
        rules,
        manual=False,
    )
    assert [(e.rule, e.fixable) for e in manual] == [("phone.invalid", False)]
    assert [(e.rule, e.fixable) for e in channel] == [("phone.invalid", True)]


@pytest.mark.parametrize(
    ("phone_rules", "phone", "rule"),
    [
        (PhoneRules(allow_virtual=False), "13800000000-1234", "phone.virtual_not_allowed"),
        (PhoneRules(allow_landline=False), "0755-26781234", "phone.landline_not_allowed"),
    ],
)
def test_rule_flags_refuse_virtual_numbers_and_landlines(
    rules: RuleSet, phone_rules: PhoneRules, phone: str, rule: str
) -> None:
    strict = rules.model_copy(update={"phone": phone_rules})
    draft = make_draft(receiver=receiver_at("浙江", "杭州", "西湖区", phone=phone))
    assert rules_of(validate_draft(draft, strict, manual=True)) == {("receiver.phone", rule)}
    assert (
        validate_draft(make_draft(receiver=receiver_at("浙江", "杭州", "西湖区", phone=phone)), rules, manual=True)
        == []
    )


def test_customer_phone_is_checked_when_given(rules: RuleSet) -> None:
    draft = make_draft(customer_phone="0086 139 0000 0000")
    assert validate_draft(draft, rules, manual=True) == []
    assert draft.customer_phone == "13900000000"
    assert rules_of(validate_draft(make_draft(customer_phone="12345"), rules, manual=True)) == {
        ("customer_phone", "phone.invalid")
    }


# --------------------------------------------------------------------------------------------- ID cards


def test_id_card_with_a_good_checksum_passes(rules: RuleSet) -> None:
    draft = make_draft(id_card=with_check_character("33010619900307123"))
    assert validate_draft(draft, rules, manual=True, today=TODAY) == []


def test_lowercase_x_is_accepted_and_normalised_to_upper_case(rules: RuleSet) -> None:
    assert with_check_character("11010519491231002") == "11010519491231002X"
    draft = make_draft(id_card=" 11010519491231002x ")
    assert validate_draft(draft, rules, manual=True, today=TODAY) == []
    assert draft.id_card == "11010519491231002X"


@pytest.mark.parametrize(
    ("id_card", "rule"),
    [
        ("110105194912310021", "id_card.checksum"),
        (with_check_character("11010520990101001"), "id_card.birth_date"),
        (with_check_character("11010519490231001"), "id_card.birth_date"),
        (with_check_character("99010519491231001"), "id_card.region"),
        ("1101051949123100", "id_card.length"),
        ("11010519491231002Y", "id_card.format"),
    ],
)
def test_bad_id_card_is_reported_by_its_defect(rules: RuleSet, id_card: str, rule: str) -> None:
    errors = validate_draft(make_draft(id_card=id_card), rules, manual=True, today=TODAY)
    assert rules_of(errors) == {("id_card", rule)}


def test_birth_date_after_today_is_refused(rules: RuleSet) -> None:
    id_card = with_check_character("33010620250602001")
    assert rules_of(validate_draft(make_draft(id_card=id_card), rules, manual=True, today=TODAY)) == {
        ("id_card", "id_card.birth_date")
    }
    assert validate_draft(make_draft(id_card=id_card), rules, manual=True, today=date(2025, 6, 2)) == []


def test_id_card_is_required_for_a_cross_border_shop_only(rules: RuleSet) -> None:
    channel = make_draft(channel="taobao")
    errors = validate_draft(channel, rules, manual=False, cross_border=True)
    assert [(e.field, e.rule, e.fixable) for e in errors] == [("id_card", "id_card.required", True)]
    assert validate_draft(make_draft(channel="taobao"), rules, manual=False, cross_border=False) == []


@pytest.mark.parametrize(
    ("condition", "draft_changes"),
    [
        (Condition(channels=["taobao_global"]), {"channel": "taobao_global"}),
        (Condition(source_types=["展会现场"]), {"source_type": "展会现场"}),
    ],
)
def test_id_card_can_be_required_by_channel_or_source_type(
    rules: RuleSet, condition: Condition, draft_changes: dict[str, str]
) -> None:
    configured = rules.model_copy(update={"id_card": IdCardRules(required_when=condition)})
    errors = validate_draft(make_draft(**draft_changes), configured, manual=True)
    assert rules_of(errors) == {("id_card", "id_card.required")}
    assert validate_draft(make_draft(), configured, manual=True) == []


# --------------------------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (("浙江", "杭州", "西湖区"), ("浙江省", "杭州市", "西湖区", "330106")),
        (("浙江省", "杭州市", "西湖区"), ("浙江省", "杭州市", "西湖区", "330106")),
        (("北京", "北京市", "海淀区"), ("北京市", "北京市", "海淀区", "110108")),
        (("北京市", "市辖区", "海淀区"), ("北京市", "北京市", "海淀区", "110108")),
        (("上海", "上海市", "浦东新区"), ("上海市", "上海市", "浦东新区", "310115")),
        (("重庆", "重庆市", "城口县"), ("重庆市", "重庆市", "城口县", "500229")),
        (("河南", "济源市", ""), ("河南省", "济源市", "济源市", "419001")),
        (("河南省", "省直辖县级行政区划", "济源市"), ("河南省", "济源市", "济源市", "419001")),
        (("湖北", "仙桃市", "仙桃市"), ("湖北省", "仙桃市", "仙桃市", "429004")),
        (("吉林", "吉林市", "船营区"), ("吉林省", "吉林市", "船营区", "220204")),
        (("内蒙古", "呼和浩特市", "新城区"), ("内蒙古自治区", "呼和浩特市", "新城区", "150102")),
        (("广东", "东莞市", ""), ("广东省", "东莞市", "", "441900")),
        (("广东省", "东莞市", "东城街道"), ("广东省", "东莞市", "东城街道", "441900")),
        (("浙江", "杭州", ""), ("浙江省", "杭州市", "", "330100")),
    ],
)
def test_address_is_normalised_to_official_names_and_adcode(
    given: tuple[str, str, str], expected: tuple[str, str, str, str]
) -> None:
    assert normalise_address(*given) == expected


@pytest.mark.parametrize(
    "given",
    [
        ("浙江省", "广州市", ""),
        ("浙江", "杭州", "海淀区"),
        ("浙江", "西湖区", ""),
        ("火星", "杭州", "西湖区"),
        ("浙江", "杭州", "不存在区"),
        ("浙江", "", ""),
    ],
)
def test_address_that_is_not_a_real_place_is_not_normalised(given: tuple[str, str, str]) -> None:
    assert normalise_address(*given) is None


def test_address_names_and_adcode_are_written_back_and_the_detail_is_kept(rules: RuleSet) -> None:
    draft = make_draft(receiver=receiver_at("浙江", "杭州", "西湖区", address="  文三路 90 号  "))
    assert validate_draft(draft, rules, manual=True) == []
    receiver = draft.receiver
    assert (receiver.province, receiver.city, receiver.district, receiver.adcode) == (
        "浙江省",
        "杭州市",
        "西湖区",
        "330106",
    )
    assert receiver.address == "文三路 90 号"


@pytest.mark.parametrize(
    ("province", "city", "adcode"),
    [
        ("广东", "东莞市", "441900"),
        ("海南", "儋州市", "460400"),
        ("广东", "中山市", "442000"),
        ("甘肃", "嘉峪关市", "620200"),
    ],
)
def test_city_without_districts_is_complete_without_one(rules: RuleSet, province: str, city: str, adcode: str) -> None:
    draft = make_draft(receiver=receiver_at(province, city, ""))
    assert validate_draft(draft, rules, manual=True) == []
    assert draft.receiver.adcode == adcode


def test_county_level_city_under_the_province_is_complete_with_itself_as_district(rules: RuleSet) -> None:
    draft = make_draft(receiver=receiver_at("河南省", "济源市", ""))
    assert validate_draft(draft, rules, manual=True) == []
    assert (draft.receiver.city, draft.receiver.district, draft.receiver.adcode) == (
        "济源市",
        "济源市",
        "419001",
    )


@pytest.mark.parametrize("manual", [True, False])
def test_missing_district_where_the_city_has_districts_is_fixable(rules: RuleSet, manual: bool) -> None:
    errors = validate_draft(
        make_draft(channel="taobao", receiver=receiver_at("浙江", "杭州", "")), rules, manual=manual
    )
    assert [(e.field, e.rule, e.fixable) for e in errors] == [("receiver.district", "address.district_missing", True)]


def test_missing_district_in_a_municipality_is_reported(rules: RuleSet) -> None:
    errors = validate_draft(make_draft(receiver=receiver_at("北京", "北京市", "")), rules, manual=True)
    assert rules_of(errors) == {("receiver.district", "address.district_missing")}


def test_missing_district_is_accepted_when_the_rules_do_not_require_one(rules: RuleSet) -> None:
    relaxed = rules.model_copy(update={"address": rules.address.model_copy(update={"require_district": False})})
    assert validate_draft(make_draft(receiver=receiver_at("浙江", "杭州", "")), relaxed, manual=True) == []


@pytest.mark.parametrize(
    ("province", "city", "district", "field"),
    [
        ("浙江省", "广州市", "", "receiver.city"),
        ("浙江", "杭州", "海淀区", "receiver.district"),
        ("火星", "杭州", "西湖区", "receiver.province"),
    ],
)
def test_unrecognised_address_names_the_part_at_fault(
    rules: RuleSet, province: str, city: str, district: str, field: str
) -> None:
    draft = make_draft(receiver=receiver_at(province, city, district, adcode="330106"))
    errors = validate_draft(draft, rules, manual=True)
    assert rules_of(errors) == {(field, "address.unrecognised")}
    assert errors[0].fixable is False
    assert draft.receiver.adcode == ""


def test_unrecognised_address_is_fixable_on_a_channel_order(rules: RuleSet) -> None:
    errors = validate_draft(
        make_draft(channel="pdd", receiver=receiver_at("浙江省", "广州市", "")), rules, manual=False
    )
    assert [(e.rule, e.fixable) for e in errors] == [("address.unrecognised", True)]
    assert "广州市" in errors[0].message_zh


def test_repeated_addresses_are_served_from_the_cache(rules: RuleSet) -> None:
    places = [
        ("浙江", "杭州", "西湖区"),
        ("广东", "东莞市", ""),
        ("北京", "北京市", "海淀区"),
        ("河南", "济源市", ""),
    ]
    drafts = [make_draft(receiver=receiver_at(*places[i % len(places)])) for i in range(10_000)]
    hits_before = normalise_address.cache_info().hits
    assert all(validate_draft(draft, rules, manual=True) == [] for draft in drafts)
    assert normalise_address.cache_info().hits - hits_before >= 10_000 - len(places)


# --------------------------------------------------------------------------------------------- amounts


def test_paid_amount_that_does_not_add_up_is_reported_with_exact_fen(rules: RuleSet) -> None:
    errors = validate_draft(make_draft(paid_amount_fen=10000), rules, manual=True)
    assert rules_of(errors) == {("paid_amount", "amount.mismatch")}
    message = errors[0].message_zh
    assert all(figure in message for figure in ("10000 分", "10400 分", "9900 分", "1000 分", "500 分"))
    assert "100.00" in errors[0].message_en and "104.00" in errors[0].message_en


def test_line_discounts_count_towards_the_goods_amount(rules: RuleSet) -> None:
    lines = [
        DraftLine(sku="A", qty=3, unit_price_fen=1999, discount_fen=997),
        DraftLine(sku="B", qty=1, unit_price_fen=0),
    ]
    draft = make_draft(lines=lines, shipping_fee_fen=0, discount_fen=0, paid_amount_fen=3 * 1999 - 997)
    assert validate_draft(draft, rules, manual=True) == []


def test_difference_within_the_tolerance_is_accepted(rules: RuleSet) -> None:
    tolerant = rules.model_copy(update={"amounts": AmountRules(tolerance_fen=5)})
    assert validate_draft(make_draft(paid_amount_fen=10405), tolerant, manual=True) == []
    assert rules_of(validate_draft(make_draft(paid_amount_fen=10406), tolerant, manual=True)) == {
        ("paid_amount", "amount.mismatch")
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"shipping_fee_fen": -100}, {("shipping_fee", "amount.negative")}),
        ({"discount_fen": -1}, {("discount", "amount.negative")}),
        ({"paid_amount_fen": -10400}, {("paid_amount", "amount.negative")}),
        ({"paid_amount_fen": 104.0}, {("paid_amount", "amount.not_fen")}),
        ({"lines": [DraftLine(sku="A", qty=0, unit_price_fen=100)]}, {("lines[0].qty", "line.qty_range")}),
        ({"lines": [DraftLine(sku="A", qty=10_000, unit_price_fen=1)]}, {("lines[0].qty", "line.qty_range")}),
        (
            {
                "lines": [
                    DraftLine(sku="A", qty=1, unit_price_fen=100),
                    DraftLine(sku="B", qty=1, unit_price_fen=-1),
                ]
            },
            {("lines[1].unit_price", "amount.negative")},
        ),
        (
            {"lines": [DraftLine(sku="A", qty=2, unit_price_fen=100, discount_fen=201)]},
            {("lines[0].discount", "line.discount_exceeds")},
        ),
        ({"lines": []}, {("lines", "required")}),
    ],
)
def test_bad_amounts_and_lines_are_reported_without_a_mismatch_echo(
    rules: RuleSet, changes: dict[str, object], expected: set[tuple[str, str]]
) -> None:
    errors = validate_draft(make_draft(**changes), rules, manual=True)
    assert rules_of(errors) == expected
    assert not any(error.fixable for error in errors)


# --------------------------------------------------------------------------------------------- whole drafts


def test_valid_manual_draft_has_no_errors(rules: RuleSet) -> None:
    assert validate_draft(make_draft(), rules, manual=True) == []


def test_every_defect_is_returned_at_once(rules: RuleSet) -> None:
    draft = make_draft(
        receiver=receiver_at("浙江", "杭州", "", phone="12345"),
        lines=[DraftLine(sku="A", qty=0, unit_price_fen=100)],
        source_type="朋友介绍",
        buyer_memo="很" * 501,
    )
    errors = validate_draft(draft, rules, manual=True)
    assert rules_of(errors) == {
        ("receiver.phone", "phone.invalid"),
        ("receiver.district", "address.district_missing"),
        ("lines[0].qty", "line.qty_range"),
        ("source_type", "source_type.unknown"),
        ("buyer_memo", "text.too_long"),
    }
    assert len(errors) == 5
    assert all(error.message_zh and error.message_en for error in errors)


def test_required_fields_are_blank_after_stripping_whitespace(rules: RuleSet) -> None:
    draft = make_draft(receiver=receiver_at("浙江", "杭州", "西湖区", name="   ", address="\u3000"))
    errors = validate_draft(draft, rules, manual=True)
    assert rules_of(errors) == {("receiver.name", "required"), ("receiver.address", "required")}


def test_manual_order_with_an_unknown_source_type_is_refused(rules: RuleSet) -> None:
    errors = validate_draft(make_draft(source_type="朋友介绍"), rules, manual=True)
    assert [(e.field, e.rule, e.fixable) for e in errors] == [("source_type", "source_type.unknown", False)]
    assert "电话订单" in errors[0].message_zh


def test_manual_order_needs_a_source_type_but_a_channel_order_does_not(rules: RuleSet) -> None:
    assert rules_of(validate_draft(make_draft(source_type=""), rules, manual=True)) == {("source_type", "required")}
    assert validate_draft(make_draft(channel="douyin", source_type=""), rules, manual=False) == []


def test_long_receiver_name_is_too_long(rules: RuleSet) -> None:
    errors = validate_draft(
        make_draft(receiver=receiver_at("浙江", "杭州", "西湖区", name="名" * 51)), rules, manual=True
    )
    assert rules_of(errors) == {("receiver.name", "text.too_long")}
    assert "51" in errors[0].message_en and "50" in errors[0].message_en


# --------------------------------------------------------------------------------------------- rules file


def test_default_rules_file_loads(rules: RuleSet) -> None:
    assert default_rules_path().is_file()
    assert "电话订单" in rules.manual.source_types
    assert rules.id_card.required_when.cross_border is True
    assert (rules.amounts.tolerance_fen, rules.amounts.max_qty) == (0, 9999)
    assert load_rules(None) == rules


def write_rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = "manual:\n  source_types: [电话订单]\n"


def test_minimal_rules_file_takes_defaults_for_every_other_section(tmp_path: Path) -> None:
    rules = load_rules(write_rules(tmp_path, MINIMAL))
    assert rules.text.name_max_len == 50
    assert rules.phone.allow_virtual is True


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (MINIMAL + "phone:\n  allow_virtul: false\n", "phone.allow_virtul: unknown key"),
        (MINIMAL + "colour: red\n", "colour: unknown key"),
        (MINIMAL + "amounts:\n  max_qty: lots\n", "amounts.max_qty"),
        (MINIMAL + "amounts:\n  tolerance_fen: -1\n", "amounts.tolerance_fen"),
        (MINIMAL + "phone:\n  allow_landline: 'no'\n", "phone.allow_landline"),
        (MINIMAL + "required_fields: [receiver.adress]\n", "receiver.adress"),
        ("required_fields: [lines]\n", "manual: Field required"),
        ("manual:\n  source_types: []\n", "manual.source_types"),
        (MINIMAL + "manual:\n  source_types: [a]\n", "duplicate key 'manual'"),
        ("- just\n- a list\n", "YAML mapping"),
        ("manual: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_rules_file_raises_an_error_naming_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = write_rules(tmp_path, text)
    with pytest.raises(RulesFileError) as caught:
        load_rules(path)
    assert caught.value.path == path
    assert any(problem in listed for listed in caught.value.problems), caught.value.problems
    assert str(path) in str(caught.value)


def test_rules_file_error_lists_every_problem(tmp_path: Path) -> None:
    path = write_rules(tmp_path, "colour: red\namounts:\n  max_qty: 0\ntext:\n  memo_max_len: many\n")
    with pytest.raises(RulesFileError) as caught:
        load_rules(path)
    wheres = sorted(problem.split(":")[0] for problem in caught.value.problems)
    assert wheres == ["amounts.max_qty", "colour", "manual", "text.memo_max_len"]


def test_missing_rules_file_raises_rules_file_error(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError, match="cannot read"):
        load_rules(tmp_path / "absent.yaml")
