"""Statement layouts as data: one YAML file per provider, bank or platform export (`finance/formats/`).

A format names the columns that make a statement line, how a row's kind (payment or refund) is
told, and the quirks of the file: backtick-prefixed values (WeChat Pay), `#` preface and footer
lines (Alipay), summary rows after the data. Files are validated when loaded, every defect at once.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orderhub.core.datafile import load_model
from orderhub.finance.errors import StatementFormatError, UnknownStatementFormat
from orderhub.finance.model import LineKind, Source

FORMATS_DIR = Path(__file__).with_name("formats")

Column = str | dict[LineKind, str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KindByColumn(_Strict):
    """A column's value names the kind; values mapped to `skip` are not statement lines (e.g. REVOKED)."""

    column: str
    map: dict[str, LineKind | Literal["skip"]] = Field(min_length=1)


class KindBySign(_Strict):
    """The amount's sign tells: a negative amount is a refund (till exports)."""

    sign_of: str


class KindByCreditDebit(_Strict):
    """Separate credit and debit columns (bank statements); debits are refunds or not receipts at all."""

    credit: str
    debit: str
    debit_is: LineKind | Literal["skip"] = "skip"


class Fields(_Strict):
    txn_id: Column
    occurred_at: str | list[str]  # several columns are joined with a space (a date and a time column)
    amount: Column | None = None  # None with credit/debit kinds: the amount is the credit or debit
    reference: Column = ""
    refund_reference: str = ""
    fee: str = ""
    fee_rate: str = ""
    commission: list[str] = Field(default_factory=list)  # summed: a platform's several deductions
    net: str = ""
    batch_no: str = ""
    account: str = ""
    counterparty: str = ""
    memo: list[str] = Field(default_factory=list)


class ReferenceFrom(_Strict):
    """Where a reference hides in free text (a bank transfer's 附言), when its column is empty."""

    columns: list[str] = Field(min_length=1)
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        if "ref" not in compiled.groupindex:
            raise ValueError("the pattern needs a named group (?P<ref>…)")
        return value


class StatementFormat(_Strict):
    source: Source
    name: str
    follows: str  # which public description or export this layout follows
    header: list[str] = Field(min_length=1)  # columns a file must have; also how the format is recognised
    unit: Literal["yuan", "fen"] = "yuan"
    fee_decimals: int = Field(default=2, ge=2, le=6)  # WeChat writes fees with 5 decimals: rounded to fen
    timezone: str = "Asia/Shanghai"
    strip_backtick: bool = False
    comment_prefix: str = ""
    end_marker: str = ""  # the first cell of the summary rows after the data
    channel: str = ""  # the platform of every line (settlement, POS files)
    kind: KindByColumn | KindBySign | KindByCreditDebit
    fields: Fields
    reference_from: ReferenceFrom | None = None

    @model_validator(mode="after")
    def _consistent(self) -> StatementFormat:
        if isinstance(self.kind, KindByCreditDebit) == (self.fields.amount is not None):
            raise ValueError("give fields.amount, or a credit/debit kind, not both")
        for column in self.columns():
            if column not in self.header and column not in self.optional_columns():
                raise ValueError(f"column {column!r} is used but not listed in header")
        return self

    def columns(self) -> set[str]:
        """Every column the format reads."""
        used: set[str] = set()
        for value in (self.fields.txn_id, self.fields.amount, self.fields.reference):
            if isinstance(value, dict):
                used.update(value.values())
            elif value:
                used.add(value)
        occurred = self.fields.occurred_at
        used.update([occurred] if isinstance(occurred, str) else occurred)
        for single in (self.fields.refund_reference, self.fields.fee, self.fields.fee_rate, self.fields.net,
                       self.fields.batch_no, self.fields.account, self.fields.counterparty):
            if single:
                used.add(single)
        used.update(self.fields.commission)
        used.update(self.fields.memo)
        if isinstance(self.kind, KindByColumn):
            used.add(self.kind.column)
        elif isinstance(self.kind, KindBySign):
            used.add(self.kind.sign_of)
        else:
            used.update((self.kind.credit, self.kind.debit))
        if self.reference_from is not None:
            used.update(self.reference_from.columns)
        return used

    def optional_columns(self) -> set[str]:
        """Columns read when present: older or shorter exports leave them out."""
        found_in = self.reference_from.columns if self.reference_from is not None else []
        return {*self.fields.memo, *found_in, self.fields.counterparty, self.fields.fee_rate,
                self.fields.refund_reference, self.fields.account} - {""}

    def fee_scale(self) -> Decimal:
        return Decimal(1).scaleb(-self.fee_decimals)


def _load(path: Path) -> StatementFormat:
    return load_model(path, StatementFormat, StatementFormatError)


@cache
def builtin_formats() -> dict[str, StatementFormat]:
    """Every format shipped in `finance/formats/`, by file stem (`wechatpay`, `bank_icbc` …)."""
    return {path.stem: _load(path) for path in sorted(FORMATS_DIR.glob("*.yaml"))}


def formats_for(source: Source) -> dict[str, StatementFormat]:
    return {name: layout for name, layout in builtin_formats().items() if layout.source is source}


def load_format(source: Source, name: str | Path | None, header: list[str]) -> tuple[str, StatementFormat]:
    """The format named (a built-in name or a YAML file), else the one of `source` whose columns the header has."""
    if isinstance(name, Path) or (name and name.endswith((".yaml", ".yml"))):
        path = Path(name)
        layout = _load(path)
        if layout.source is not source:
            raise UnknownStatementFormat(
                f"格式文件 {path.name} 属于 {layout.source.value}，不是 {source.value} / the format file is for "
                f"{layout.source.value}, not {source.value}"
            )
        return path.stem, layout
    known = formats_for(source)
    if name:
        if name not in known:
            raise UnknownStatementFormat(
                f"没有名为 {name} 的 {source.value} 格式（可选：{', '.join(known)}）/ no {source.value} format "
                f"{name!r} (known: {', '.join(known)})"
            )
        return name, known[name]
    present = set(header)
    fitting = [(candidate, layout) for candidate, layout in known.items() if set(layout.header) <= present]
    if len(fitting) == 1:
        return fitting[0]
    found = ", ".join(column for column in header if column) or "-"
    if not fitting:
        expected = "; ".join(f"{candidate}: {', '.join(layout.header)}" for candidate, layout in known.items())
        raise UnknownStatementFormat(
            f"表头与任何 {source.value} 格式都不符，文件中的列：{found}；各格式需要的列：{expected} / the header "
            f"fits no {source.value} format. Columns in the file: {found}. Each format needs: {expected}"
        )
    names = ", ".join(candidate for candidate, _ in fitting)
    raise UnknownStatementFormat(
        f"表头符合多个格式（{names}），请用 --format 指定 / the header fits several formats ({names}): "
        "choose one with --format"
    )
