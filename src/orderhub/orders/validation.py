"""Validation rules as data: a YAML rules file, and the checks that apply it to an `OrderDraft`.

`validate_draft` normalises the draft in place (phone, address names and adcode, ID number,
stripped text) and returns every defect at once. Each `FieldError` says whether a person can fix
it after the order is accepted (`fixable`): a channel order whose defects are all fixable goes
on hold instead of being rejected. For a manual order the operator is typing the data right now,
so only a missing district (which anyone can add later) is fixable; for a channel order every
defect in receiver data or the ID number is fixable, amounts and lines never are (they mean the
platform data or its mapping is wrong).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, fields
from datetime import date, datetime
from functools import cache, lru_cache
from operator import attrgetter
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import phonenumbers
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from stdnum.cn import ric
from stdnum.exceptions import InvalidChecksum, InvalidComponent
from stdnum.exceptions import ValidationError as IdNumberError

from orderhub.core.datafile import DataFileError, load_model
from orderhub.core.money import fen_to_yuan
from orderhub.orders.draft import OrderDraft, Receiver

# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldError:
    field: str
    rule: str
    message_zh: str
    message_en: str
    fixable: bool


class RulesFileError(DataFileError):
    title = "invalid rules file / 规则文件无效"


# ---------------------------------------------------------------------------------------------
# The rules file
# ---------------------------------------------------------------------------------------------

# Field paths a rules file may list as required, with a label for messages (zh, en).
FIELD_LABELS: dict[str, tuple[str, str]] = {
    "receiver.name": ("收件人姓名", "receiver name"),
    "receiver.phone": ("收件人电话", "receiver phone"),
    "receiver.province": ("省份", "province"),
    "receiver.city": ("城市", "city"),
    "receiver.address": ("详细地址", "detail address"),
    "lines": ("商品明细", "order lines"),
    "source_type": ("订单来源", "source type"),
    "channel_order_id": ("平台订单号", "channel order id"),
    "customer_name": ("客户姓名", "customer name"),
    "customer_phone": ("客户电话", "customer phone"),
    "id_card": ("身份证号", "ID card number"),
    "payment_method": ("支付方式", "payment method"),
    "paid_at": ("付款时间", "payment time"),
    "invoice_title": ("发票抬头", "invoice title"),
    "invoice_tax_id": ("纳税人识别号", "taxpayer ID"),
    "buyer_memo": ("买家备注", "buyer memo"),
    "seller_memo": ("卖家备注", "seller memo"),
}
_FEE_LABELS: dict[str, tuple[str, str]] = {
    "shipping_fee": ("运费", "shipping fee"),
    "discount": ("优惠", "discount"),
    "paid_amount": ("实付金额", "paid amount"),
}


def _known_paths(paths: list[str]) -> list[str]:
    unknown = [path for path in paths if path not in FIELD_LABELS]
    if unknown:
        hint = " (address.require_district decides that)" if "receiver.district" in unknown else ""
        raise ValueError(f"unknown field path(s) {unknown}{hint}; known: {sorted(FIELD_LABELS)}")
    if len(set(paths)) != len(paths):
        raise ValueError("a field path is listed twice")
    return paths


FieldPaths = Annotated[list[str], AfterValidator(_known_paths)]


class _Section(BaseModel):
    # Strict: a rules file that says `allow_virtual: "no"` is refused, not read as True.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Condition(_Section):
    """When a rule applies; any one matching condition is enough."""

    cross_border: bool = False
    channels: list[str] = Field(default_factory=list)
    source_types: list[str] = Field(default_factory=list)

    def matches(self, draft: OrderDraft, *, cross_border: bool) -> bool:
        return (
            (self.cross_border and cross_border)
            or draft.channel in self.channels
            or (bool(draft.source_type) and draft.source_type in self.source_types)
        )


class PhoneRules(_Section):
    allow_virtual: bool = True
    allow_landline: bool = True


class IdCardRules(_Section):
    required_when: Condition = Field(default_factory=lambda: Condition(cross_border=True))


class AddressRules(_Section):
    require_district: bool = True


class AmountRules(_Section):
    tolerance_fen: int = Field(default=0, ge=0)
    max_qty: int = Field(default=9999, ge=1)


class ManualRules(_Section):
    required_fields: FieldPaths = Field(default_factory=lambda: ["source_type"])
    source_types: list[str] = Field(min_length=1)

    @field_validator("source_types")
    @classmethod
    def _distinct_names(cls, values: list[str]) -> list[str]:
        if any(not value.strip() for value in values):
            raise ValueError("a source type is blank")
        if len(set(values)) != len(values):
            raise ValueError("a source type is listed twice")
        return values


class TextRules(_Section):
    name_max_len: int = Field(default=50, ge=1)
    address_max_len: int = Field(default=200, ge=1)
    memo_max_len: int = Field(default=500, ge=1)


class RuleSet(_Section):
    """The parsed rules file; every section has defaults but `manual` (the merchant's own sources)."""

    version: Literal[1] = 1
    required_fields: FieldPaths = Field(
        default_factory=lambda: [
            "receiver.name",
            "receiver.phone",
            "receiver.province",
            "receiver.city",
            "receiver.address",
            "lines",
        ]
    )
    phone: PhoneRules = Field(default_factory=PhoneRules)
    id_card: IdCardRules = Field(default_factory=IdCardRules)
    address: AddressRules = Field(default_factory=AddressRules)
    amounts: AmountRules = Field(default_factory=AmountRules)
    manual: ManualRules
    text: TextRules = Field(default_factory=TextRules)


def default_rules_path() -> Path:
    return Path(__file__).with_name("rules") / "default.yaml"


def load_rules(path: Path | None = None) -> RuleSet:
    """Read and validate a rules file (None: the default); `RulesFileError` lists every problem."""
    return load_model(default_rules_path() if path is None else Path(path), RuleSet, RulesFileError)


# ---------------------------------------------------------------------------------------------
# Phones
# ---------------------------------------------------------------------------------------------

_MOBILE = re.compile(r"1[3-9]\d{9}")
_MASKED_MOBILE = re.compile(r"1[\d*]{10}")
_EXTENSION_SEP = r"(?:-|_|转|#|,|ext\.?|分机)"
_WITH_EXTENSION = re.compile(rf"(?P<head>.+){_EXTENSION_SEP}(?P<ext>\d{{1,6}})", re.IGNORECASE)
_LANDLINE = re.compile(
    r"(?:\((?P<paren_area>0\d{2,3})\)-?|(?P<area>0\d{2,3})-)?(?P<local>\d{7,12}|\d{3,4}-\d{4})"
    rf"(?:{_EXTENSION_SEP}(?P<ext>\d{{1,6}}))?",
    re.IGNORECASE,
)
_FIXED_LINE_TYPES = {
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}


def _without_country_code(text: str) -> str:
    """Drop +86 / 0086 (and a bare 86 before a mobile); a landline then gets its trunk 0 back."""
    for prefix in ("+86", "0086"):
        if text.startswith(prefix):
            rest = text.removeprefix(prefix).lstrip("-")
            return rest if rest.startswith(("1", "0")) else "0" + rest
    if text.startswith("86") and text[2:].lstrip("-").startswith("1"):
        return text[2:].lstrip("-")
    return text


def classify_phone(raw: str) -> tuple[str, str]:
    """Return (kind, normalised) with kind in mobile, virtual, landline, masked, invalid, empty."""
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", raw))
    if not text:
        return "empty", ""
    text = _without_country_code(text)
    compact = text.replace("-", "")
    if _MOBILE.fullmatch(compact):
        return "mobile", compact
    split = _WITH_EXTENSION.fullmatch(text)
    head, ext = (split["head"].replace("-", ""), split["ext"]) if split else (compact, "")
    if "*" in text:
        # Masked by the platform: not a wrong number but an unknown one.
        if _MASKED_MOBILE.fullmatch(head):
            return "masked", f"{head}-{ext}" if ext else head
        if _MASKED_MOBILE.fullmatch(compact):
            return "masked", compact
        return "invalid", raw.strip()
    if ext and _MOBILE.fullmatch(head):
        return "virtual", f"{head}-{ext}"
    landline = _landline(text)
    if landline:
        return "landline", landline
    return "invalid", raw.strip()


def _landline(text: str) -> str | None:
    """Shape by regex; phonenumbers decides whether the area code is real and the length right."""
    match = _LANDLINE.fullmatch(text)
    if not match:
        return None
    area = match["paren_area"] or match["area"] or ""
    local = match["local"].replace("-", "")
    try:
        number = phonenumbers.parse(area + local, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in _FIXED_LINE_TYPES:
        return None
    significant = phonenumbers.national_significant_number(number)
    area_len = phonenumbers.length_of_geographical_area_code(number)
    real_area, real_local = "0" + significant[:area_len], significant[area_len:]
    if area_len == 0 or (area and area != real_area) or not re.fullmatch(r"[1-9]\d{6,7}", real_local):
        return None
    ext = match["ext"]
    return f"{real_area}-{real_local}" + (f"-{ext}" if ext else "")


# ---------------------------------------------------------------------------------------------
# Addresses (cpca: GB/T 2260 names and codes)
# ---------------------------------------------------------------------------------------------

_SPECIAL_ABBREVIATIONS = {
    "内蒙古自治区": "内蒙古",
    "广西壮族自治区": "广西",
    "西藏自治区": "西藏",
    "新疆维吾尔自治区": "新疆",
    "宁夏回族自治区": "宁夏",
}
_CITY_PLACEHOLDERS = ("市辖区", "县")  # city level of the municipalities in GB/T 2260


def _spellings(name: str) -> set[str]:
    """The spellings cpca recognises: the full name and its short form (浙江省 → 浙江)."""
    short = _SPECIAL_ABBREVIATIONS.get(name) or re.sub(r"([省市]|特别行政区|自治区)$", "", name)
    return {name, short}


@cache
def _divisions() -> dict[str, str]:
    """6-digit code → name, from cpca's table (its keys are 12-digit codes)."""
    # Imported here: importing cpca builds its matcher (~0.2 s), paid on first use, not at start-up.
    import cpca

    return {code[:6]: info.name for code, info in cpca.ad_2_addr_dict.items()}


@cache
def _cities_without_districts() -> frozenset[str]:
    """City codes with no county-level code under them (东莞, 中山, 嘉峪关, 儋州 …).

    cpca lists a county-level "市辖区" placeholder under some of them (嘉峪关 620201); it is not a district.
    """
    divisions = _divisions()
    cities = {
        code
        for code, name in divisions.items()
        if code[2:4] != "00" and code[4:] == "00" and name not in _CITY_PLACEHOLDERS
    }
    parents = {code[:4] + "00" for code, name in divisions.items() if code[4:] != "00" and name != "市辖区"}
    return frozenset(cities - parents)


@cache
def _municipalities() -> frozenset[str]:
    """Province codes whose city level is only placeholders: 北京, 天津, 上海, 重庆."""
    divisions = _divisions()
    city_names: dict[str, set[str]] = {}
    for code, name in divisions.items():
        if code[2:4] != "00" and code[4:] == "00":
            city_names.setdefault(code[:2], set()).add(name)
    return frozenset(prov for prov, names in city_names.items() if names <= set(_CITY_PLACEHOLDERS))


@cache
def _province_spellings() -> frozenset[str]:
    return frozenset(
        spelling for code, name in _divisions().items() if code.endswith("0000") for spelling in _spellings(name)
    )


@dataclass(frozen=True)
class _Parsed:
    province: str | None
    city: str | None
    county: str | None
    adcode: str | None


def _cpca_parse(text: str) -> _Parsed:
    import cpca

    row = cpca.transform([text]).iloc[0]

    def cell(column: str) -> str | None:
        value = row[column]
        return value if isinstance(value, str) and value else None

    return _Parsed(cell("省"), cell("市"), cell("区"), cell("adcode"))


@lru_cache(maxsize=16384)
def normalise_address(province: str, city: str, district: str) -> tuple[str, str, str, str] | None:
    """(province, city, district, adcode) in GB/T 2260 names, or None when the parts are not a real place.

    cpca reads the joined string; each part must then be a spelling of the level cpca found for it,
    so junk around a name or a district of another city is refused. Results are cached: cpca goes
    through pandas and costs milliseconds a call. An empty district comes back empty (the caller
    decides whether the city needs one); in a city without districts, or below a county-level
    city under direct provincial rule (济源), the district field holds a town and is kept as given.
    """
    p, c, d = province.strip(), city.strip(), district.strip()
    if not p or not c:
        return None
    found = _cpca_parse(p + c + d)
    adcode = found.adcode
    if found.province is None or adcode is None or p not in _spellings(found.province):
        return None
    if adcode[:2] in _municipalities():
        return _municipal_address(found.province, found.county, adcode, c, d)
    if found.city is None:
        return None
    if found.city.endswith("直辖县级行政区划"):
        return _direct_county_address(found.province, found.city, found.county, adcode, c, d)
    if c not in _spellings(found.city):
        return None
    city_code = adcode[:4] + "00"
    county = None if found.county == "市辖区" else found.county
    if county is None:
        if not d:
            return found.province, found.city, "", city_code
        if city_code in _cities_without_districts():
            town = "" if d in _spellings(found.city) | {"市辖区"} else d
            return found.province, found.city, town, city_code
        return None
    if d not in _spellings(county):
        return None
    return found.province, found.city, county, adcode


def _municipal_address(name: str, county: str | None, adcode: str, c: str, d: str) -> tuple[str, str, str, str] | None:
    """北京/北京市/海淀区: cpca's city is the placeholder 市辖区; the municipality is also the city."""
    county = None if county == "市辖区" else county
    if c in _spellings(name) or c in _CITY_PLACEHOLDERS:
        if county is None:
            return None if d else (name, name, "", adcode)
        return (name, name, county, adcode) if d in _spellings(county) else None
    if county is not None and c in _spellings(county) and (not d or d in _spellings(county)):
        return name, name, county, adcode
    return None


def _direct_county_address(
    province: str, placeholder: str, county: str | None, adcode: str, c: str, d: str
) -> tuple[str, str, str, str] | None:
    """济源市, 仙桃市 …: cpca's city is 省直辖县级行政区划; the county-level city is city and district."""
    if county is None:
        return (province, placeholder, "", adcode) if c == placeholder and not d else None
    if c in _spellings(county):
        district = county if not d or d in _spellings(county) else d
        return province, county, district, adcode
    if c == placeholder and d in _spellings(county):
        return province, county, county, adcode
    return None


def _district_from_detail(receiver: Receiver) -> None:
    """Many sources put the district at the start of the street address ("西湖区文三路90号", Shopify's
    address1): take it from there when it belongs to the city, and leave the rest as the detail."""
    match = re.match(r"(.{1,10}?(?:区|县|市|旗))", receiver.address)
    if match is None:
        return
    found = normalise_address(receiver.province, receiver.city, match.group(1))
    if found is not None and _address_complete(found[3]) and found[3][:4] == receiver.adcode[:4]:
        receiver.province, receiver.city, receiver.district, receiver.adcode = found
        receiver.address = receiver.address[match.end():].strip() or receiver.address


def _address_complete(adcode: str) -> bool:
    return adcode[4:] != "00" or adcode in _cities_without_districts()


def _unrecognised_part(province: str, city: str, district: str) -> str:
    if province not in _province_spellings():
        return "receiver.province"
    if district and normalise_address(province, city, "") is not None:
        return "receiver.district"
    return "receiver.city"


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------

_BEIJING = ZoneInfo("Asia/Shanghai")
_ID_NUMBER = re.compile(r"\d{17}[\dX]")


def validate_draft(
    draft: OrderDraft,
    rules: RuleSet,
    *,
    manual: bool,
    cross_border: bool = False,
    today: date | None = None,
) -> list[FieldError]:
    """Normalise `draft` in place and return every defect (an empty list: the draft is valid).

    `today` (Beijing date) bounds ID birth dates; it defaults to the current date.
    """
    _strip_text(draft)
    check = _Checks(draft, rules, manual=manual, cross_border=cross_border)
    check.required()
    check.text_lengths()
    check.phone("receiver.phone")
    check.phone("customer_phone")
    check.address()
    check.id_card(today or datetime.now(_BEIJING).date())
    if manual:
        check.source_type()
    check.amounts()
    return check.errors


def _strip_text(draft: OrderDraft) -> None:
    for item in (draft, draft.receiver, *draft.lines):
        for name in _field_names(type(item)):
            value = getattr(item, name)
            if isinstance(value, str) and len(stripped := value.strip()) != len(value):
                setattr(item, name, stripped)


@cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(spec.name for spec in fields(kind))


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str | list) and len(value) == 0)


class _Checks:
    """One pass over a draft; each method appends its findings and never stops the others."""

    def __init__(self, draft: OrderDraft, rules: RuleSet, *, manual: bool, cross_border: bool) -> None:
        self.draft = draft
        self.rules = rules
        self.manual = manual
        self.cross_border = cross_border
        self.errors: list[FieldError] = []
        # Receiver data and the ID number can be corrected on a held channel order.
        self.editable = not manual

    def add(self, field: str, rule: str, zh: str, en: str, *, fixable: bool) -> None:
        self.errors.append(FieldError(field, rule, zh, en, fixable))

    def required(self) -> None:
        paths = list(self.rules.required_fields)
        if self.manual:
            paths += [path for path in self.rules.manual.required_fields if path not in paths]
        for path in paths:
            if _blank(attrgetter(path)(self.draft)):
                zh, en = FIELD_LABELS[path]
                fixable = self.editable and path not in ("lines", "source_type")
                self.add(path, "required", f"{zh}不能为空", f"{en} is required", fixable=fixable)

    def text_lengths(self) -> None:
        limits = self.rules.text
        for path, limit in (
            ("receiver.name", limits.name_max_len),
            ("customer_name", limits.name_max_len),
            ("receiver.address", limits.address_max_len),
            ("buyer_memo", limits.memo_max_len),
            ("seller_memo", limits.memo_max_len),
        ):
            length = len(attrgetter(path)(self.draft))
            if length > limit:
                zh, en = FIELD_LABELS[path]
                self.add(
                    path,
                    "text.too_long",
                    f"{zh}过长：{length} 个字符，最多 {limit} 个",
                    f"{en} is too long: {length} characters, at most {limit}",
                    fixable=self.editable,
                )

    def phone(self, path: str) -> None:
        owner, attr = (self.draft.receiver, "phone") if path == "receiver.phone" else (self.draft, path)
        raw = getattr(owner, attr)
        kind, normalised = classify_phone(raw)
        if path == "receiver.phone":
            self.draft.receiver.phone_kind = ""
        if kind == "empty":
            return  # blank is the required rule's business
        zh, en = FIELD_LABELS[path]
        if kind == "invalid":
            self.add(
                path,
                "phone.invalid",
                f"{zh}“{raw}”不是有效的手机号、平台虚拟号或座机号",
                f"{en} {raw!r} is not a valid mobile, platform virtual or landline number",
                fixable=self.editable,
            )
            return
        setattr(owner, attr, normalised)
        if path == "receiver.phone":
            self.draft.receiver.phone_kind = kind
        if kind == "masked" and self.manual:
            self.add(
                path,
                "phone.masked",
                f"{zh}“{normalised}”是打码号码，手工订单必须填写完整号码",
                f"{en} {normalised!r} is masked; a manual order needs the full number",
                fixable=False,
            )
        elif kind == "virtual" and not self.rules.phone.allow_virtual:
            self.add(
                path,
                "phone.virtual_not_allowed",
                f"{zh}“{normalised}”是平台虚拟号，当前规则不允许",
                f"{en} {normalised!r} is a platform virtual number, which the rules do not allow",
                fixable=self.editable,
            )
        elif kind == "landline" and not self.rules.phone.allow_landline:
            self.add(
                path,
                "phone.landline_not_allowed",
                f"{zh}“{normalised}”是座机号，当前规则要求手机号",
                f"{en} {normalised!r} is a landline; the rules require a mobile number",
                fixable=self.editable,
            )

    def address(self) -> None:
        receiver = self.draft.receiver
        receiver.adcode = ""
        if not receiver.province or not receiver.city:
            return  # nothing to place; blank parts are the required rule's business
        found = normalise_address(receiver.province, receiver.city, receiver.district)
        if found is None:
            given = " ".join(part for part in (receiver.province, receiver.city, receiver.district) if part)
            self.add(
                _unrecognised_part(receiver.province, receiver.city, receiver.district),
                "address.unrecognised",
                f"无法识别省市区“{given}”：名称不存在或省市区不匹配",
                f"province/city/district {given!r} not recognised: an unknown name, or parts that do not "
                "belong together",
                fixable=self.editable,
            )
            return
        receiver.province, receiver.city, receiver.district, receiver.adcode = found
        if not _address_complete(receiver.adcode):
            _district_from_detail(receiver)
        if self.rules.address.require_district and not _address_complete(receiver.adcode):
            place = f"{receiver.province} {receiver.city}"
            self.add(
                "receiver.district",
                "address.district_missing",
                f"缺少区县：{place}下设区县，请补充",
                f"district missing: {place} has districts, one is needed",
                fixable=True,
            )

    def id_card(self, today: date) -> None:
        draft = self.draft
        draft.id_card = ric.compact(draft.id_card) if draft.id_card else ""
        number = draft.id_card
        if not number:
            if self.rules.id_card.required_when.matches(draft, cross_border=self.cross_border):
                self.add(
                    "id_card",
                    "id_card.required",
                    "该订单需要收件人身份证号（跨境或规则要求）",
                    "this order needs the receiver's ID card number (cross-border or required by the rules)",
                    fixable=self.editable,
                )
            return
        rule, zh, en = _id_card_problem(number, today) or ("", "", "")
        if rule:
            self.add(
                "id_card",
                rule,
                f"身份证号“{number}”{zh}",
                f"ID card number {number!r} {en}",
                fixable=self.editable,
            )

    def source_type(self) -> None:
        value = self.draft.source_type
        allowed = self.rules.manual.source_types
        if value and value not in allowed:
            self.add(
                "source_type",
                "source_type.unknown",
                f"未知的订单来源“{value}”，可选：{'、'.join(allowed)}",
                f"unknown source type {value!r}; allowed: {', '.join(allowed)}",
                fixable=False,
            )

    def amounts(self) -> None:
        before = len(self.errors)
        draft = self.draft
        for path, value in (
            ("shipping_fee", draft.shipping_fee_fen),
            ("discount", draft.discount_fen),
            ("paid_amount", draft.paid_amount_fen),
        ):
            self._fen(path, value, _FEE_LABELS[path])
        for index, line in enumerate(draft.lines):
            self._line(index, line.qty, line.unit_price_fen, line.discount_fen)
        # A total computed from a wrong line or fee only repeats that defect: check it on sound parts.
        if len(self.errors) == before and draft.lines:
            self._total()

    def _fen(self, path: str, value: object, label: tuple[str, str]) -> int | None:
        """The amount if it is a non-negative integer of fen; otherwise report it and return None."""
        zh, en = label
        if not isinstance(value, int) or isinstance(value, bool):
            self.add(
                path,
                "amount.not_fen",
                f"{zh}必须是整数（分），收到 {value!r}",
                f"{en} must be an integer number of fen, got {value!r}",
                fixable=False,
            )
            return None
        if value < 0:
            self.add(
                path,
                "amount.negative",
                f"{zh}不能为负数：{value} 分",
                f"{en} cannot be negative: {value} fen",
                fixable=False,
            )
            return None
        return value

    def _line(self, index: int, qty: object, unit_price: object, discount: object) -> None:
        prefix, number = f"lines[{index}]", index + 1
        max_qty = self.rules.amounts.max_qty
        good_qty = qty if isinstance(qty, int) and not isinstance(qty, bool) and 1 <= qty <= max_qty else None
        if good_qty is None:
            self.add(
                f"{prefix}.qty",
                "line.qty_range",
                f"第 {number} 行数量 {qty!r} 超出范围（1 至 {max_qty}）",
                f"line {number}: quantity {qty!r} is outside 1..{max_qty}",
                fixable=False,
            )
        price = self._fen(f"{prefix}.unit_price", unit_price, (f"第 {number} 行单价", f"line {number} unit price"))
        cut = self._fen(f"{prefix}.discount", discount, (f"第 {number} 行优惠", f"line {number} discount"))
        if good_qty is not None and price is not None and cut is not None and cut > good_qty * price:
            self.add(
                f"{prefix}.discount",
                "line.discount_exceeds",
                f"第 {number} 行优惠 {cut} 分超过商品金额 {good_qty} × {price} = {good_qty * price} 分",
                f"line {number}: discount {cut} fen exceeds {good_qty} × {price} = {good_qty * price} fen",
                fixable=False,
            )

    def _total(self) -> None:
        draft = self.draft
        goods, shipping, discount = draft.goods_amount_fen, draft.shipping_fee_fen, draft.discount_fen
        expected = goods + shipping - discount
        paid = draft.paid_amount_fen
        if abs(paid - expected) > self.rules.amounts.tolerance_fen:
            self.add(
                "paid_amount",
                "amount.mismatch",
                f"实付金额 {paid} 分（{fen_to_yuan(paid)} 元）与应付 {expected} 分"
                f"（{fen_to_yuan(expected)} 元）不符："
                f"商品 {goods} 分 + 运费 {shipping} 分 − 优惠 {discount} 分",
                f"paid amount {paid} fen ({fen_to_yuan(paid)} yuan) differs from {expected} fen "
                f"({fen_to_yuan(expected)} yuan) = goods {goods} + shipping {shipping} − discount {discount}",
                fixable=False,
            )


def _id_card_problem(number: str, today: date) -> tuple[str, str, str] | None:
    """(rule, zh, en) for the first GB 11643 defect of a compacted number, or None when it is valid."""
    if len(number) != 18:
        return (
            "id_card.length",
            f"应为 18 位，实为 {len(number)} 位",
            f"must have 18 characters, has {len(number)}",
        )
    # stdnum would call a wrong last character a checksum error; it is a format error.
    if not _ID_NUMBER.fullmatch(number):
        return (
            "id_card.format",
            "格式错误：前 17 位须为数字，末位为数字或 X",
            "must be 17 digits then a digit or X",
        )
    try:
        ric.validate(number)
    except InvalidChecksum:
        return "id_card.checksum", "校验位错误", "has a wrong check character"
    except InvalidComponent:
        try:
            ric.get_birth_date(number)
        except InvalidComponent:
            return "id_card.birth_date", "出生日期不存在", "has a birth date that does not exist"
        return "id_card.region", "地址码不存在", "has an unknown region code"
    except IdNumberError:
        return "id_card.format", "格式错误", "is malformed"
    born = ric.get_birth_date(number)
    if born > today:
        return "id_card.birth_date", f"出生日期 {born} 晚于今天", f"has a birth date {born} in the future"
    return None
