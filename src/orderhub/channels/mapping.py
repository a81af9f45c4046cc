"""The one mapping engine: a channel's mapping file turns its raw order object into an `OrderDraft`.

A mapping file (``mappings/<channel>.yaml``) names, for each field of the unified order, where it
sits in the platform's order object and how to read it (``as``: text, integer, yuan, fen, a time
in a format and zone, unix seconds…), and maps the platform's raw statuses onto the unified ones.
Anything it cannot read — a missing required field, a status it does not know, "abc" where
an amount belongs — raises `ChannelMappingError` naming the channel, the field path and the raw
value; ingestion turns that into a dead letter. Nothing unknown is passed through.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache, cached_property, partial
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from orderhub.core.datafile import DataFileError, load_model
from orderhub.logistics.carriers import carrier_table
from orderhub.orders.draft import DraftLine, DraftWaybill, OrderDraft, Receiver
from orderhub.orders.status import OrderStatus

MAPPINGS_DIR = Path(__file__).with_name("mappings")
_CENT = Decimal("0.01")
_DIGITS = re.compile(r"-?\d+")


class MappingFileError(DataFileError):
    title = "invalid channel mapping file / 渠道映射文件无效"


class ChannelMappingError(Exception):
    """A payload the mapping cannot read. Not retryable: it needs a person (or a fixed mapping)."""

    def __init__(self, channel: str, path: str, raw: Any, reason: str) -> None:
        self.channel = channel
        self.path = path
        self.raw = raw
        self.reason = reason
        shown = repr(raw) if len(repr(raw)) <= 80 else repr(raw)[:77] + "..."
        super().__init__(f"{channel}: {path} = {shown}: {reason}")


def load_json(body: bytes | str) -> Any:
    """Platform JSON, with every non-integer number as `Decimal` so no amount passes through float.

    orjson reads a payload several times faster than `json`, but reads such numbers, and integers past
    64 bits, as float: a document holding a float anywhere is read again by `json`, with `Decimal`s.
    What orjson refuses (NaN, lone surrogates, UTF-16) is left to `json` too, which reads it as before.
    """
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body, parse_float=Decimal)
    return json.loads(body, parse_float=Decimal) if _holds_float(value) else value


def _holds_float(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        elif kind is float:
            return True
    return False


# ---------------------------------------------------------------------------------------------
# The mapping file
# ---------------------------------------------------------------------------------------------

Kind = Literal["str", "int", "yuan", "fen", "time", "unix", "unix_ms", "iso"]


def _spec_shorthand(value: Any) -> Any:
    """`receiver_name` or `[receiver_mobile, receiver_phone]` stand for `{path: …}`."""
    if isinstance(value, str | list):
        return {"path": value}
    return value


class FieldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # A dotted path into the order object; with several, the first one present and not empty wins.
    path: str | list[str]
    kind: Kind = Field(default="str", alias="as")
    format: str | None = None  # strptime format, for `as: time`
    required: bool = False
    # Values the platform uses for "none" (JD's 0001-01-01 00:00:00, a 0 unix time…).
    empty: list[str] = Field(default_factory=list)
    # Text values translated through a table (Shopify's province codes → 省 names); a value not in
    # the table cannot be read.
    lookup: dict[str, str] | None = None

    @cached_property
    def paths(self) -> list[str]:
        return [self.path] if isinstance(self.path, str) else list(self.path)

    @cached_property
    def steps(self) -> list[tuple[str, list[str]]]:
        """Each path with its parts split once, for reading hundreds of thousands of payloads."""
        return [(path, path.split(".")) for path in self.paths]

    @model_validator(mode="after")
    def _time_has_format(self) -> FieldSpec:
        if self.kind == "time" and not self.format:
            raise ValueError("`as: time` needs a `format`, e.g. '%Y-%m-%d %H:%M:%S'")
        return self


Spec = Annotated[FieldSpec, BeforeValidator(_spec_shorthand)]

# Unified fields a mapping may fill, by where they go on the draft.
ORDER_FIELDS = {
    "channel_order_id",
    "platform_modified_at",
    "paid_at",
    "payment_method",
    "customer_name",
    "customer_phone",
    "receiver.name",
    "receiver.phone",
    "receiver.province",
    "receiver.city",
    "receiver.district",
    "receiver.address",
    "id_card",
    "shipping_fee_fen",
    "discount_fen",
    "paid_amount_fen",
    "buyer_memo",
    "seller_memo",
    "invoice_title",
    "invoice_tax_id",
    "currency",
}
LINE_FIELDS = {"sku", "platform_sku", "title", "spec", "qty", "unit_price_fen", "discount_fen", "amount_fen"}


PRESENT = "*"
# The time format nearly every Chinese platform uses, read on a fast path.
PLATFORM_TIME = "%Y-%m-%d %H:%M:%S"


def _keys_as_text(data: Any, table: str) -> Any:
    """`data` with the keys of its `table` as text: YAML reads `1: paid` with an integer key."""
    if isinstance(data, dict) and isinstance(data.get(table), dict):
        return {**data, table: {str(key): value for key, value in data[table].items()}}
    return data


class StatusRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Every listed path must hold one of the listed raw values (compared as text); "*" matches any
    # value that is present and not empty (Shopify's `cancelled_at`).
    when: dict[str, list[str]]
    then: OrderStatus

    @model_validator(mode="before")
    @classmethod
    def _single_values(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("when"), dict):
            data = {**data, "when": {k: v if isinstance(v, list) else [v] for k, v in data["when"].items()}}
        return data


class StatusMap(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Raw status paths: their values, joined by "/", are the `channel_status` kept on the order.
    path: str | list[str]
    # Checked first, in order: combinations a single raw status cannot express (refund state…).
    rules: list[StatusRule] = Field(default_factory=list)
    map: dict[str, OrderStatus]

    @cached_property
    def paths(self) -> list[str]:
        return [self.path] if isinstance(self.path, str) else list(self.path)

    @cached_property
    def steps(self) -> list[tuple[str, list[str]]]:
        """Each path with its parts split once, for reading hundreds of thousands of payloads."""
        return [(path, path.split(".")) for path in self.paths]

    @model_validator(mode="before")
    @classmethod
    def _text_keys(cls, data: Any) -> Any:
        return _keys_as_text(data, "map")  # raw statuses (`1: paid`) are compared as text


class LineMap(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    fields: dict[str, Spec]
    # The platform's own id of a line (Douyin's sub-order id): parcels that name the lines they carry by
    # it are matched to them (`waybills.lines`). Read for that only, not stored.
    id: Spec | None = None

    @model_validator(mode="after")
    def _known_fields(self) -> LineMap:
        unknown = set(self.fields) - LINE_FIELDS
        if unknown:
            raise ValueError(f"unknown line fields {sorted(unknown)}; known: {sorted(LINE_FIELDS)}")
        for needed in ("qty", "unit_price_fen"):
            if needed not in self.fields:
                raise ValueError(f"line field {needed!r} must be mapped")
        if "sku" not in self.fields and "platform_sku" not in self.fields:
            raise ValueError("map `sku` (merchant code) or `platform_sku`, or both")
        return self


class ParcelLines(BaseModel):
    """Where a parcel lists the lines it carries by the platform's line id (Douyin's product_info[])."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str  # within the parcel's entry
    line_id: Spec
    qty: Spec


class WaybillMap(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Where the platform lists parcels (per line for Taobao, per package for Douyin and Kuaishou,
    # per fulfillment for Shopify); "" when they are fields of the order itself (JD, Pinduoduo). An
    # entry without a number has not shipped; entries repeating a carrier and number are one parcel.
    path: str = ""
    carrier: Spec
    waybill_no: Spec
    shipped_at: Spec | None = None
    # Platforms that name carriers by their own ids (JD's logisticsId, Pinduoduo's logistics_id): id →
    # OrderHub's carrier code. An id not listed is kept as `<channel>:<id>`: recorded, not tracked.
    carrier_ids: dict[str, str] | None = None
    # One field holding several parcels (JD: numbers joined by ",", each carrier's group by "|", the
    # carrier ids joined by "|" alike).
    carrier_separator: str | None = None
    number_separator: str | None = None
    lines: ParcelLines | None = None

    @model_validator(mode="before")
    @classmethod
    def _text_ids(cls, data: Any) -> Any:
        return _keys_as_text(data, "carrier_ids")  # platform carrier ids (`467: SF`) are compared as text

    @model_validator(mode="after")
    def _known_carriers(self) -> WaybillMap:
        known = carrier_table().carriers
        unknown = sorted(set((self.carrier_ids or {}).values()) - set(known))
        if unknown:
            raise ValueError(f"carrier_ids name carriers not in carriers.yaml: {unknown}; known: {sorted(known)}")
        return self


class PiiRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # When any of these paths holds a value, the contact data is still ciphertext (Douyin before
    # batchDecrypt): the order is stored as pending decryption with the masked values shown.
    encrypted_when: list[str] = Field(default_factory=list)


class ChannelMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str
    source: str  # which platform document or SDK version the mapping follows
    timezone: str = "Asia/Shanghai"
    order: dict[str, Spec]
    # `balance`: the platform gives no single order-level discount, so it is what makes
    # goods + shipping − discount = paid hold (platform coupons, seller price changes, …).
    order_discount: Literal["mapped", "balance"] = "balance"
    lines: LineMap
    status: StatusMap
    pii: PiiRules = Field(default_factory=PiiRules)
    waybills: WaybillMap | None = None

    @model_validator(mode="after")
    def _coherent(self) -> ChannelMapping:
        unknown = set(self.order) - ORDER_FIELDS
        if unknown:
            raise ValueError(f"unknown order fields {sorted(unknown)}; known: {sorted(ORDER_FIELDS)}")
        for needed in ("channel_order_id", "platform_modified_at", "paid_amount_fen"):
            if needed not in self.order:
                raise ValueError(f"order field {needed!r} must be mapped")
        if self.order_discount == "mapped" and "discount_fen" not in self.order:
            raise ValueError("order_discount: mapped needs an order field `discount_fen`")
        if self.order_discount == "balance" and "discount_fen" in self.order:
            raise ValueError("order_discount: balance computes discount_fen; do not map it as well")
        if self.waybills and self.waybills.lines and self.lines.id is None:
            raise ValueError("waybills.lines names lines by their id: map the lines' `id`")
        ZoneInfo(self.timezone)
        return self

    def order_id_of(self, payload: Any) -> str:
        """The platform order id of a payload the mapping could not read, if it can be found at all."""
        if not isinstance(payload, dict):
            return ""
        for path in self.order["channel_order_id"].paths:
            value = dig(payload, path)
            if _present(value) and not isinstance(value, dict | list | bool):
                return str(value)[:64]
        return ""

    def to_draft(self, payload: dict[str, Any], *, shop: str) -> OrderDraft:
        """The unified draft of one raw order object; `ChannelMappingError` if it cannot be read."""
        return self.compiled.draft(payload, shop)

    @cached_property
    def compiled(self) -> _CompiledMapping:
        """The mapping made ready for reading, once: see `_CompiledMapping`."""
        return _CompiledMapping(self)


@cache
def load_mapping(channel: str, directory: Path = MAPPINGS_DIR) -> ChannelMapping:
    path = directory / f"{channel}.yaml"
    if not path.exists():
        raise MappingFileError(path, [f"no mapping file for channel {channel!r}"])
    mapping = load_model(path, ChannelMapping, MappingFileError)
    if mapping.channel != channel:
        raise MappingFileError(path, [f"channel: the file is named for {channel!r} but says {mapping.channel!r}"])
    return mapping


def available_channels(directory: Path = MAPPINGS_DIR) -> list[str]:
    return sorted(path.stem for path in directory.glob("*.yaml"))


# ---------------------------------------------------------------------------------------------
# Reading a payload
# ---------------------------------------------------------------------------------------------


def dig(payload: Any, path: str) -> Any:
    """The value at a dotted path (`post_addr.province.name`, `item_list.0.sku_id`), or None."""
    return _dig_parts(payload, path.split("."))


def _dig_parts(payload: Any, parts: list[str]) -> Any:
    value = payload
    for part in parts:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _matches(raw: Any, allowed: list[str]) -> bool:
    return (PRESENT in allowed and _present(raw)) or (raw is not None and str(raw) in allowed)


# A mapping is compiled once (per process, as `load_mapping` is cached) into plain closures: every
# path split, every converter chosen and every set built before the first payload, so reading an
# order is a few dictionary lookups per field rather than a walk through the mapping's models.
Getter = Callable[[Any], Any]
# (order or line object, path prefix for errors) → value, or None when absent.
FieldReader = Callable[[dict[str, Any], str], Any]


def _getter(parts: list[str]) -> Getter:
    """`_dig_parts` for one path, specialised once: a plain key is one dictionary lookup."""
    if len(parts) == 1:
        key = parts[0]

        def by_key(source: Any) -> Any:
            return source.get(key) if isinstance(source, dict) else None

        return by_key
    steps = [(part, int(part) if part.isdecimal() else -1) for part in parts]

    def by_path(source: Any) -> Any:
        value = source
        for part, index in steps:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and 0 <= index < len(value):
                value = value[index]
            else:
                return None
        return value

    return by_path


def _itself(source: Any) -> Any:
    """The getter of path "": the order object itself (JD's and Pinduoduo's shipping fields sit on it)."""
    return source


def _field_reader(spec: FieldSpec, channel: str, zone: ZoneInfo) -> FieldReader:
    """Read one field: the first of its paths that holds a value, converted (and looked up)."""
    # A path of one key is read in place: most fields are one, and a call costs more than the lookup.
    getters = [(path, parts[0] if len(parts) == 1 else None, _getter(parts)) for path, parts in spec.steps]
    convert = _converter(spec, zone)
    kind, lookup, required = spec.kind, spec.lookup, spec.required
    empty = frozenset(spec.empty)
    plain_text = kind == "str" and lookup is None
    every_path = "|".join(spec.paths)

    def read(source: dict[str, Any], where: str = "") -> Any:
        for path, key, get in getters:
            raw = source.get(key) if key is not None else get(source)
            if raw is None:
                continue
            if isinstance(raw, str):
                text = raw.strip()
                if not text or text in empty:
                    continue
                if plain_text:
                    return text
            elif empty and str(raw).strip() in empty:
                continue
            try:
                value = convert(raw)
            except (ValueError, InvalidOperation, TypeError, OverflowError) as exc:
                raise ChannelMappingError(channel, where + path, raw, f"not a valid {kind}: {exc}") from None
            if lookup is None:
                return value
            if str(value) not in lookup:
                raise ChannelMappingError(channel, where + path, raw, "not in the mapping's lookup table")
            return lookup[str(value)]
        if required:
            raise ChannelMappingError(channel, where + every_path, None, "required field missing")
        return None

    return read


class _CompiledMapping:
    """A `ChannelMapping` ready to read payloads; `draft` is `ChannelMapping.to_draft`."""

    def __init__(self, mapping: ChannelMapping) -> None:
        zone = ZoneInfo(mapping.timezone)
        self.channel = channel = mapping.channel
        self.balance = mapping.order_discount == "balance"
        self.order = [(name, _field_reader(spec, channel, zone)) for name, spec in mapping.order.items()]
        # (order field, Receiver attribute) of the receiver's fields.
        self.receiver = [(name, name[len("receiver.") :]) for name in mapping.order if name.startswith("receiver.")]
        status = mapping.status
        self.status_path = status.paths[0]
        self.status_getters = [_getter(parts) for _, parts in status.steps]
        self.status_rules = [
            ([(_getter(path.split(".")), allowed) for path, allowed in rule.when.items()], rule.then)
            for rule in status.rules
        ]
        self.status_map = status.map
        lines = mapping.lines
        self.lines_path = lines.path
        self.line_items = _getter(lines.path.split("."))
        self.line_fields = [(name, _field_reader(spec, channel, zone)) for name, spec in lines.fields.items()]
        self.line_qty = dict(self.line_fields)["qty"]
        self.line_id = _field_reader(lines.id, channel, zone) if lines.id else None
        self.encrypted = [_getter(path.split(".")) for path in mapping.pii.encrypted_when]
        self.waybill_map = waybills = mapping.waybills
        self.waybill_items: Getter | None = None
        self.carrier: FieldReader | None = None
        self.waybill_no: FieldReader | None = None
        self.shipped_at: FieldReader | None = None
        self.parcel_lines: tuple[str, Getter, FieldReader, FieldReader] | None = None
        if waybills:
            self.waybill_items = _getter(waybills.path.split(".")) if waybills.path else _itself
            self.carrier = _field_reader(waybills.carrier, channel, zone)
            self.waybill_no = _field_reader(waybills.waybill_no, channel, zone)
            if waybills.shipped_at:
                self.shipped_at = _field_reader(waybills.shipped_at, channel, zone)
            if waybills.lines:
                self.parcel_lines = (waybills.lines.path, _getter(waybills.lines.path.split(".")),
                                     _field_reader(waybills.lines.line_id, channel, zone),
                                     _field_reader(waybills.lines.qty, channel, zone))

    def fail(self, path: str, raw: Any, reason: str) -> ChannelMappingError:
        return ChannelMappingError(self.channel, path, raw, reason)

    def draft(self, payload: dict[str, Any], shop: str) -> OrderDraft:
        values = {name: read(payload, "") for name, read in self.order}
        status, channel_status = self.status(payload)
        lines = self.lines(payload)
        receiver = Receiver(**{short: values.pop(name) or "" for name, short in self.receiver})
        goods = sum(line.amount_fen for line in lines)
        shipping = values.pop("shipping_fee_fen", None) or 0
        paid = values.pop("paid_amount_fen")
        discount = values.pop("discount_fen", None)
        if self.balance:
            discount = goods + shipping - paid
        draft = OrderDraft(
            channel=self.channel,
            shop=shop,
            receiver=receiver,
            lines=lines,
            shipping_fee_fen=shipping,
            discount_fen=discount or 0,
            paid_amount_fen=paid,
            status=status.value,
            channel_status=channel_status,
            raw_payload=payload,
            waybills=self.waybills(payload),
            **{name: value for name, value in values.items() if value is not None},
        )
        draft.extra["pii_encrypted"] = any(_present(get(payload)) for get in self.encrypted)
        return draft

    def status(self, payload: dict[str, Any]) -> tuple[OrderStatus, str]:
        raws = [get(payload) for get in self.status_getters]
        channel_status = "/".join(str(raw) for raw in raws if _present(raw))
        for conditions, then in self.status_rules:
            if all(_matches(get(payload), allowed) for get, allowed in conditions):
                return then, channel_status
        found = self.status_map.get("" if raws[0] is None else str(raws[0]))
        if found is None:
            raise self.fail(self.status_path, raws[0], "status not in the mapping's status map")
        return found, channel_status

    def waybills(self, payload: dict[str, Any]) -> list[DraftWaybill]:
        spec = self.waybill_map
        if spec is None or self.waybill_items is None or self.carrier is None or self.waybill_no is None:
            return []
        items = self.waybill_items(payload)
        items = [items] if isinstance(items, dict) else items if isinstance(items, list) else []
        # Waybills read off the order lines themselves (Taobao's orders.order[].invoice_no): each names its line.
        per_line = spec.path == self.lines_path
        line_numbers: dict[str, int] | None = None
        found: dict[tuple[str, str], tuple[list[tuple[int, int]], datetime | None]] = {}
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            where = f"{spec.path}.{index}." if spec.path else ""
            numbers = self.waybill_no(item, where)
            if not numbers:
                continue
            shipped_at = self.shipped_at(item, where) if self.shipped_at else None
            named: list[tuple[int, int]] = []
            if per_line and isinstance(qty := self.line_qty(item, where), int) and qty > 0:
                named.append((index + 1, qty))
            elif self.parcel_lines:
                if line_numbers is None:
                    line_numbers = self._line_numbers(payload)
                named = self._lines_named(item, where, line_numbers)
            for carrier, number in self._parcels(str(self.carrier(item, where) or ""), str(numbers)):
                found.setdefault((carrier, number), ([], shipped_at))[0].extend(named)
        return [DraftWaybill(carrier, number, tuple(lines), shipped_at)
                for (carrier, number), (lines, shipped_at) in found.items()]

    def _line_numbers(self, payload: dict[str, Any]) -> dict[str, int]:
        """The order's line numbers (from 1) by the platform's line id."""
        items = self.line_items(payload)
        items = [items] if isinstance(items, dict) else items if isinstance(items, list) else []
        assert self.line_id is not None
        return {str(line_id): index + 1 for index, item in enumerate(items) if isinstance(item, dict)
                and (line_id := self.line_id(item, f"{self.lines_path}.{index}.")) is not None}

    def _lines_named(self, item: dict[str, Any], where: str, line_numbers: dict[str, int]) -> list[tuple[int, int]]:
        """(line number, qty) of each line a parcel's entry names by id; ids of no line of the order are left out."""
        assert self.parcel_lines is not None
        path, get, read_id, read_qty = self.parcel_lines
        listed = get(item)
        named = []
        for index, entry in enumerate(listed if isinstance(listed, list) else []):
            if not isinstance(entry, dict):
                continue
            at = f"{where}{path}.{index}."
            line_no = line_numbers.get(str(read_id(entry, at)))
            qty = read_qty(entry, at)
            if line_no is not None and isinstance(qty, int) and qty > 0:
                named.append((line_no, qty))
        return named

    def _parcels(self, carriers: str, numbers: str) -> list[tuple[str, str]]:
        """(carrier as OrderHub reads it, number) of each parcel one platform entry names."""
        spec = self.waybill_map
        assert spec is not None
        groups = numbers.split(spec.carrier_separator) if spec.carrier_separator else [numbers]
        named = carriers.split(spec.carrier_separator) if spec.carrier_separator else [carriers]
        parcels = []
        for index, group in enumerate(groups):
            carrier = named[min(index, len(named) - 1)].strip()
            if spec.carrier_ids is not None and carrier:
                carrier = spec.carrier_ids.get(carrier, f"{self.channel}:{carrier}")
            for number in group.split(spec.number_separator) if spec.number_separator else [group]:
                if number.strip():
                    parcels.append((carrier, number.strip()))
        return parcels

    def lines(self, payload: dict[str, Any]) -> list[DraftLine]:
        items = self.line_items(payload)
        if items is None:
            items = []
        elif isinstance(items, dict):
            items = [items]  # one line per order (Kuaishou's orderItemInfo)
        if not isinstance(items, list):
            raise self.fail(self.lines_path, items, "order lines are not a list")
        lines = []
        for index, item in enumerate(items):
            where = f"{self.lines_path}.{index}."
            if not isinstance(item, dict):
                raise self.fail(where.rstrip("."), item, "an order line is not an object")
            values = {name: read(item, where) for name, read in self.line_fields}
            qty, unit = values["qty"], values["unit_price_fen"]
            if qty is None or unit is None:
                raise self.fail(where + "qty|unit_price", item, "an order line needs a quantity and a price")
            amount = values.get("amount_fen")
            discount = values.get("discount_fen")
            if discount is None:
                discount = qty * unit - amount if amount is not None else 0
            lines.append(
                DraftLine(
                    sku=values.get("sku") or "",
                    platform_sku=values.get("platform_sku") or "",
                    qty=qty,
                    unit_price_fen=unit,
                    discount_fen=discount,
                    title=values.get("title") or "",
                    spec=values.get("spec") or "",
                )
            )
        return lines


# ---------------------------------------------------------------------------------------------
# Converters: raw JSON value → Python value; ValueError (or kin) means "cannot read"
# ---------------------------------------------------------------------------------------------

# The shapes nearly every amount arrives in ("236.00", "-5", "0.5"), read exactly with integer
# arithmetic; anything else ("1e2", "1.005", " 1_000") goes through Decimal, which decides.
_PLAIN_YUAN = re.compile(r"(-?)(\d{1,18})(?:\.(\d{1,2}))?")
_PLAIN_FEN = re.compile(r"-?\d{1,18}")
_SMALL = 10**18  # integers this small are exact in every route; bigger ones take the Decimal route


def _converter(spec: FieldSpec, zone: ZoneInfo) -> Callable[[Any], Any]:
    if spec.kind == "time":
        assert spec.format is not None
        return partial(_as_time, spec.format, zone)
    return _CONVERTERS[spec.kind]


def _as_text(raw: Any) -> str:
    if isinstance(raw, bool | dict | list):
        raise ValueError("expected text")
    if isinstance(raw, Decimal):
        return format(raw, "f")
    return str(raw).strip()


def _as_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("expected a whole number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, Decimal) and raw == raw.to_integral_value():
        return int(raw)
    if isinstance(raw, str) and _DIGITS.fullmatch(raw.strip()):
        return int(raw.strip())
    raise ValueError("expected a whole number")


def _decimal(raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | Decimal | str):
        raise ValueError("expected an amount")
    amount = Decimal(raw.strip()) if isinstance(raw, str) else Decimal(raw)
    if not amount.is_finite():
        raise ValueError("expected an amount")
    return amount


def _yuan_to_fen(amount: Decimal) -> int:
    if amount != amount.quantize(_CENT):
        raise ValueError("more than two decimal places")
    return int(amount * 100)


def _as_yuan(raw: Any) -> int:
    """Yuan as string ("236.00"), JSON number (PDD's 149.8) or integer → fen."""
    if type(raw) is str:
        plain = _PLAIN_YUAN.fullmatch(raw.strip())
        if plain:
            sign, whole, cents = plain.groups()
            fen = int(whole) * 100 + (int(cents) * (10 if len(cents) == 1 else 1) if cents else 0)
            return -fen if sign else fen
    elif type(raw) is int and -_SMALL < raw < _SMALL:
        return raw * 100
    return _yuan_to_fen(_decimal(raw))


def _as_fen(raw: Any) -> int:
    """Integer fen (Douyin). A decimal string such as "199.00" in a fen field is the known drift of
    a platform switching to yuan strings: read as yuan rather than refused."""
    if type(raw) is int:
        return raw
    if isinstance(raw, str):
        if "." in raw:
            return _as_yuan(raw)
        if _PLAIN_FEN.fullmatch(raw.strip()):
            return int(raw)
    amount = _decimal(raw)
    if amount != amount.to_integral_value():
        raise ValueError("fen must be a whole number")
    return int(amount)


def _as_time(pattern: str, zone: ZoneInfo, raw: Any) -> datetime:
    text = str(raw).strip()
    if pattern == PLATFORM_TIME and len(text) == 19 and text[4] == text[7] == "-" and text[10] == " ":
        local = datetime.fromisoformat(text)  # the same reading as strptime, many times faster
    else:
        local = datetime.strptime(text, pattern)
    return local.replace(tzinfo=zone).astimezone(UTC)


def _as_unix(raw: Any) -> datetime | None:
    seconds = _as_int(raw)
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def _as_unix_ms(raw: Any) -> datetime | None:
    millis = _as_int(raw)
    return datetime.fromtimestamp(millis / 1000, UTC) if millis > 0 else None


def _as_iso(raw: Any) -> datetime:
    value = datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("ISO time without an offset")
    return value.astimezone(UTC)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "str": _as_text,
    "int": _as_int,
    "yuan": _as_yuan,
    "fen": _as_fen,
    "unix": _as_unix,
    "unix_ms": _as_unix_ms,
    "iso": _as_iso,
}
