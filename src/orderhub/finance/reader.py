"""Statement files in, statement lines out: CSV (UTF-8, UTF-8 with BOM, GBK) or XLSX, per a format file.

The sheet readers are the order importer's (`channels/importer.py`): encoding told from the first
bytes, a row that does not decode is a row error, XLSX read-only with formulas as their values.
Every data row becomes a `ParsedLine`, a `LineError` (the row is refused, with why) or a `Skipped`
row (not a statement line: a revoked payment, a bank debit); nothing is dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from orderhub.channels.importer import (
    SNIFF_BYTES,
    CellProblem,
    CsvSheet,
    ImportFileError,
    ReadingStopped,
    XlsxSheet,
    cell_text,
    detect_kind,
    order_time,
)
from orderhub.finance.errors import StatementFileError
from orderhub.finance.formats import KindByColumn, KindByCreditDebit, KindBySign, StatementFormat, load_format
from orderhub.finance.model import LineKind, Source
from orderhub.finance.rules import PPM

# A statement may be stamped a little ahead of our clock (the provider's clock); more is refused.
FUTURE_GRACE = timedelta(minutes=5)
MAX_FEN = 10**13  # 一千亿元: anything larger is a misread column
_TIME = "%Y-%m-%d %H:%M:%S"
_RATE = re.compile(r"^(\d{1,2}(?:\.\d{1,6})?)%$")


@dataclass(frozen=True)
class ParsedLine:
    row: int
    kind: LineKind
    txn_id: str
    occurred_at: datetime
    amount_fen: int  # signed: a payment in is positive, a refund out negative
    net_fen: int
    fee_fen: int = 0
    fee_rate_ppm: int | None = None
    commission_fen: int = 0
    reference: str = ""
    refund_reference: str = ""
    batch_no: str = ""
    account: str = ""
    channel: str = ""
    counterparty: str = ""
    memo: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.kind.value, self.txn_id


@dataclass(frozen=True)
class LineError:
    row: int
    txn_id: str
    code: str
    message: str


@dataclass(frozen=True)
class Skipped:
    row: int
    reason: str


Item = ParsedLine | LineError | Skipped


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class StatementSource:
    """An open statement file: its format, once the header is read, and its rows as items."""

    path: Path
    source: Source
    describe: str
    size: int
    format_name: str = ""
    layout: StatementFormat | None = None
    ignored_columns: list[str] = field(default_factory=list)
    summary: dict[str, str] = field(default_factory=dict)  # the summary rows' figures, when the file has them
    _sheet: Any = None

    @property
    def position(self) -> int:
        return int(self._sheet.position)


@contextmanager
def open_statement(path: Path, *, source: Source, format_name: str | Path | None, now: datetime,
                   account: str = "") -> Iterator[tuple[StatementSource, Iterator[Item]]]:
    """The file's rows as items; `StatementFileError` (nothing read) when it is not a statement of `source`."""
    try:
        stream = path.open("rb")
        size = path.stat().st_size
    except OSError as exc:
        raise StatementFileError(f"无法打开文件 / cannot open the file: {exc}") from None
    with stream:
        try:
            kind = detect_kind(stream.read(SNIFF_BYTES))
            stream.seek(0)
            if kind == "json":
                raise StatementFileError("对账单应为 CSV 或 XLSX，不是 JSON / a statement is CSV or XLSX, not JSON")
            sheet: Any = CsvSheet(stream) if kind == "csv" else XlsxSheet(path, stream)
        except ImportFileError as exc:
            raise StatementFileError(exc.message) from None
        try:
            opened = StatementSource(path, source, sheet.describe, size, _sheet=sheet)
            rows = _Rows(sheet, opened)
            header = rows.header()
            opened.format_name, opened.layout = load_format(source, format_name, header)
            yield opened, _items(opened, opened.layout, header, rows, now, account)
        finally:
            if isinstance(sheet, XlsxSheet):
                sheet.close()


class _Rows:
    """The sheet's rows as text cells, comment lines left out."""

    def __init__(self, sheet: Any, opened: StatementSource) -> None:
        self.rows: Iterator[tuple[int, Sequence[Any], list[tuple[str, str]]]] = sheet.rows()
        self.opened = opened
        self.comment = "#"  # until the format says otherwise: the Alipay preface comes before the header

    def header(self) -> list[str]:
        for _, cells, _ in self:
            names = [_clean(cell) for cell in cells]
            if any(names):
                names[0] = names[0].lstrip("\ufeff")
                return names
        raise StatementFileError("文件里没有表头行 / the file has no header row")

    def __iter__(self) -> Iterator[tuple[int, Sequence[Any], list[tuple[str, str]]]]:
        for number, cells, problems in self.rows:
            first = next((_clean(cell) for cell in cells if _clean(cell)), "")
            if self.comment and first.startswith(self.comment):
                continue
            if not first and not problems:
                continue
            yield number, cells, problems


def _clean(cell: Any) -> str:
    if cell is None:
        return ""
    return str(cell).strip()


def _items(opened: StatementSource, layout: StatementFormat, header: list[str], rows: _Rows, now: datetime,
           account: str) -> Iterator[Item]:
    rows.comment = layout.comment_prefix
    index = {name: position for position, name in enumerate(header) if name}
    opened.ignored_columns = [name for name in header if name and name not in layout.columns()]
    zone = ZoneInfo(layout.timezone)
    try:
        for number, cells, problems in rows:
            values, cell_problems = _values(layout, index, cells)
            problems = problems + cell_problems
            if layout.end_marker and values.get("", "") == layout.end_marker:
                opened.summary = _summary(cells, rows)
                return
            if problems:
                code, message = problems[0]
                yield LineError(number, values.get(_txn_column(layout), ""), code, message)
                continue
            try:
                yield parse_row(layout, values, row=number, zone=zone, now=now, account=account)
            except _Refused as refused:
                yield LineError(number, _txn_of(layout, values), refused.code, refused.message)
    except ReadingStopped as stopped:
        yield LineError(stopped.error.rows[0] if stopped.error.rows else 0, "", stopped.error.code,
                        stopped.error.message)


def _values(layout: StatementFormat, index: dict[str, int], cells: Sequence[Any]
            ) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The row's cells by column name ("" holds the first cell, for the end marker)."""
    values: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for name, position in [("", 0), *index.items()]:
        raw = cells[position] if position < len(cells) else None
        try:
            text = cell_text(name, raw) if not isinstance(raw, str) else raw.strip()
        except CellProblem as problem:
            problems.append((problem.code, problem.message))
            text = ""
        if layout.strip_backtick:
            text = text.removeprefix("`").strip()
        values[name] = text
    return values, problems


def _summary(cells: Sequence[Any], rows: _Rows) -> dict[str, str]:
    names = [_clean(cell).removeprefix("`") for cell in cells]
    following = next(iter(rows), None)
    if following is None:
        return {}
    figures = [_clean(cell).removeprefix("`").strip() for cell in following[1]]
    return {name: figures[i] for i, name in enumerate(names) if name and i < len(figures)}


def _txn_column(layout: StatementFormat) -> str:
    txn = layout.fields.txn_id
    return txn if isinstance(txn, str) else txn[LineKind.PAYMENT]


def _txn_of(layout: StatementFormat, values: dict[str, str]) -> str:
    txn = layout.fields.txn_id
    if isinstance(txn, str):
        return values.get(txn, "")
    return next((values.get(column, "") for column in txn.values() if values.get(column)), "")


def _pick(column: str | dict[LineKind, str] | None, kind: LineKind, values: dict[str, str]) -> str:
    if column is None:
        return ""
    name = column.get(kind, "") if isinstance(column, dict) else column
    return values.get(name, "") if name else ""


def parse_row(layout: StatementFormat, values: dict[str, str], *, row: int, zone: ZoneInfo, now: datetime,
              account: str = "") -> ParsedLine | Skipped:
    """One data row by the format's rules; `_Refused` says why a row cannot be a statement line."""
    kind, amount = _kind_and_amount(layout, values)
    if kind is None:
        return Skipped(row, _skip_reason(values, layout))
    fields = layout.fields
    txn_id = _pick(fields.txn_id, kind, values)
    reference = _pick(fields.reference, kind, values) or _reference_from(layout, values)
    if not txn_id:
        if not reference:
            raise _Refused("line.no_reference",
                           "这一行既没有交易号也没有订单号 / the line has neither a transaction id "
                           "nor an order reference")
        raise _Refused("line.no_transaction_id",
                       f"这一行没有交易号（订单号 {reference}），无法去重，未导入 / the line has no transaction id "
                       f"(reference {reference}): it cannot be told apart from a repeat, not imported")
    for label, text in (("transaction id", txn_id), ("reference", reference)):
        if len(text) > 64:
            raise _Refused("line.too_long", f"{label} 超过 64 个字符 / {label} longer than 64 characters: {text[:80]}")
    occurred_at = _time(layout, values, zone)
    if occurred_at > now + FUTURE_GRACE:
        raise _Refused("line.future", f"交易时间 {occurred_at.astimezone(zone):%Y-%m-%d %H:%M:%S} 在未来 / the line is "
                                      "dated in the future")
    signed = amount if kind is LineKind.PAYMENT else -amount
    fee = _fee(layout, values.get(fields.fee, "") if fields.fee else "")
    commission = sum(_money(layout, column, values.get(column, ""), allow_negative=True, blank_is_zero=True)
                     for column in fields.commission)
    if fields.net:
        stated = _money(layout, fields.net, values.get(fields.net, ""), allow_negative=True)
        net = abs(stated) if kind is LineKind.PAYMENT else -abs(stated)
    else:
        net = signed - fee - commission
    return ParsedLine(
        row=row, kind=kind, txn_id=txn_id, occurred_at=occurred_at, amount_fen=signed, net_fen=net, fee_fen=fee,
        fee_rate_ppm=_rate(values.get(fields.fee_rate, "")) if fields.fee_rate else None,
        commission_fen=commission, reference=reference,
        refund_reference=_refund_reference(kind, values.get(fields.refund_reference, "")) if fields.refund_reference
        else "",
        batch_no=values.get(fields.batch_no, "")[:64] if fields.batch_no else "",
        account=(values.get(fields.account, "") if fields.account else "")[:64] or account[:64],
        channel=layout.channel,
        counterparty=(values.get(fields.counterparty, "") if fields.counterparty else "")[:100],
        memo=" / ".join(values[column] for column in fields.memo if values.get(column))[:200],
    )


def _refund_reference(kind: LineKind, text: str) -> str:
    """The merchant's refund number; payment rows carry none (WeChat fills them with `0`)."""
    return text[:64] if kind is LineKind.REFUND and text != "0" else ""


def _skip_reason(values: dict[str, str], layout: StatementFormat) -> str:
    """Why a row is skipped, for the import report."""
    if isinstance(layout.kind, KindByColumn):
        return f"{layout.kind.column}={values.get(layout.kind.column, '')}"
    return "借方（付款）/ debit (money out)"


def _kind_and_amount(layout: StatementFormat, values: dict[str, str]) -> tuple[LineKind | None, int]:
    """The row's kind (None: not a statement line) and its amount in fen, never negative."""
    rule = layout.kind
    if isinstance(rule, KindByCreditDebit):
        credit = _money(layout, rule.credit, values.get(rule.credit, ""), blank_is_zero=True)
        debit = _money(layout, rule.debit, values.get(rule.debit, ""), blank_is_zero=True)
        if credit and debit:
            raise _Refused("amount.both_sides", "同一行既有借方又有贷方金额 / the line has both a debit and a credit")
        if credit:
            return LineKind.PAYMENT, credit
        if rule.debit_is == "skip":
            return None, debit
        return LineKind(rule.debit_is), debit
    if isinstance(rule, KindBySign):
        amount = _money(layout, rule.sign_of, values.get(rule.sign_of, ""), allow_negative=True)
        return (LineKind.REFUND if amount < 0 else LineKind.PAYMENT), abs(amount)
    raw_kind = values.get(rule.column, "")
    if raw_kind not in rule.map:
        known = ", ".join(rule.map)
        raise _Refused("line.unknown_kind", f"{rule.column} 的值 {raw_kind!r} 不认识（可为：{known}）/ unknown "
                                            f"{rule.column} {raw_kind!r} (expected one of {known})")
    mapped = rule.map[raw_kind]
    if mapped == "skip":
        return None, 0
    kind = LineKind(mapped)
    amount_column = layout.fields.amount
    column = amount_column.get(kind, "") if isinstance(amount_column, dict) else amount_column or ""
    amount = _money(layout, column, values.get(column, ""), allow_negative=kind is LineKind.REFUND)
    return kind, abs(amount)


def _money(layout: StatementFormat, column: str, text: str, *, allow_negative: bool = False,
           blank_is_zero: bool = False) -> int:
    """An amount cell in fen: yuan with at most two decimals, or whole fen; malformed is refused."""
    cleaned = text.replace(",", "").replace("¥", "").replace("￥", "").strip()
    if not cleaned:
        if blank_is_zero:
            return 0
        raise _Refused("amount.missing", f"{column} 为空 / {column} is empty")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():
        raise _Refused("amount.malformed", f"{column} 不是金额：{text!r} / {column} is not an amount: {text!r}")
    if abs(amount) >= MAX_FEN:  # before any rounding: a huge exponent would overflow the decimal context
        raise _Refused("amount.too_large", f"{column} 金额过大：{text} / {column} is implausibly large: {text}")
    if amount < 0 and not allow_negative:
        raise _Refused("amount.negative", f"{column} 为负数：{text} / {column} is negative: {text}")
    if layout.unit == "fen":
        if amount != amount.to_integral_value():
            raise _Refused("amount.malformed", f"{column} 应为整数分：{text} / {column} must be whole fen: {text}")
        fen = int(amount)
    else:
        if amount != amount.quantize(Decimal("0.01")):
            raise _Refused("amount.malformed", f"{column} 超过两位小数：{text} / {column} has more than two "
                                               f"decimals: {text}")
        fen = int(amount * 100)
    if abs(fen) >= MAX_FEN:
        raise _Refused("amount.too_large", f"{column} 金额过大：{text} / {column} is implausibly large: {text}")
    return fen


def _fee(layout: StatementFormat, text: str) -> int:
    """A fee in fen; WeChat writes 5 decimals (0.06000), rounded half up to the fen it is charged in."""
    cleaned = text.replace(",", "").replace("¥", "").replace("￥", "").strip()
    if not cleaned:
        return 0
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise _Refused("fee.malformed", f"手续费不是金额：{text!r} / the fee is not an amount: {text!r}") from None
    if not amount.is_finite() or abs(amount) >= MAX_FEN or amount != amount.quantize(layout.fee_scale()):
        raise _Refused("fee.malformed", f"手续费不是金额：{text!r} / the fee is not an amount: {text!r}")
    if layout.unit == "fen":
        return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _rate(text: str) -> int | None:
    if not text:
        return None
    match = _RATE.match(text.replace(" ", ""))
    if not match:
        raise _Refused("fee.rate_malformed", f"费率不是百分比：{text!r} / the fee rate is not a percentage: {text!r}")
    return int(Decimal(match.group(1)) * PPM / 100)


def _time(layout: StatementFormat, values: dict[str, str], zone: ZoneInfo) -> datetime:
    columns = layout.fields.occurred_at
    parts = [values.get(column, "") for column in ([columns] if isinstance(columns, str) else columns)]
    if len(parts) > 1:
        # A date column read from XLSX comes as a midnight datetime; its time is in the next column.
        parts[0] = parts[0].removesuffix(" 00:00:00")
    text = " ".join(parts).strip()
    normal = order_time(text)
    try:
        local = datetime.strptime(normal, _TIME)
    except ValueError:
        raise _Refused("line.bad_time", f"交易时间无法识别：{text!r} / the time is not readable: {text!r}") from None
    return local.replace(tzinfo=zone).astimezone(UTC)


def _reference_from(layout: StatementFormat, values: dict[str, str]) -> str:
    if layout.reference_from is None:
        return ""
    pattern = re.compile(layout.reference_from.pattern)
    for column in layout.reference_from.columns:
        match = pattern.search(values.get(column, ""))
        if match:
            return match.group("ref")
    return ""
