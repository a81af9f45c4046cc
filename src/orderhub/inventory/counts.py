"""Stock counts (盘点) through Excel: a sheet of balances to fill in, and the filled-in sheet applied.

Each row of an import is one `inventory.count`, under an idempotency key made of the file's
content hash and the row number: importing the same file again changes nothing, and one bad row
never stops the others. The report says what happened to every row.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select
from sqlalchemy.orm import Session

from orderhub.catalog import service as catalog
from orderhub.channels.importer import NO_CACHED_VALUE, CsvSheet, ImportFileError, ReadingStopped, XlsxSheet
from orderhub.core.actor import Actor
from orderhub.core.errors import InvalidInput, OrderHubError
from orderhub.inventory import service as inventory
from orderhub.inventory.errors import InvalidQuantity, UnknownWarehouse
from orderhub.inventory.model import WarehouseStock
from orderhub.runtime import Runtime

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ROWS = 20_000
# Column key → (zh-CN header, English header); an import finds its columns by either.
COLUMNS: dict[str, tuple[str, str]] = {
    "sku": ("商品编码", "SKU"),
    "title": ("商品名称", "Title"),
    "warehouse": ("仓库", "Warehouse"),
    "on_hand": ("在库", "On hand"),
    "reserved": ("已占用", "Reserved"),
    "available": ("可用", "Available"),
    "counted": ("盘点数", "Counted"),
}
REQUIRED = ("sku", "warehouse", "counted")
APPLIED, UNCHANGED, SKIPPED, ERROR = "applied", "unchanged", "skipped", "error"


@dataclass(frozen=True)
class CountLine:
    sku: str
    title: str
    warehouse: str
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def count_sheet(session: Session, *, warehouse: str | None = None) -> list[CountLine]:
    """Every stocked SKU at every active warehouse (or at `warehouse`), by SKU then warehouse."""
    sites = [site for site in inventory.list_warehouses(session) if site.active]
    if warehouse is not None:
        sites = [site for site in sites if site.code == warehouse]
        if not sites:
            raise UnknownWarehouse(warehouse)
    skus = [sku for sku in catalog.list_skus(session) if not sku.is_bundle]
    balances = {(row.sku_id, row.warehouse_id): row for row in session.scalars(select(WarehouseStock))}
    lines = []
    for sku in skus:
        for site in sites:
            row = balances.get((sku.id, site.id))
            lines.append(CountLine(sku.code, sku.title, site.code, row.on_hand if row else 0,
                                   row.reserved if row else 0))
    return lines


def export_counts(lines: Sequence[CountLine], *, language: str) -> bytes:
    """The count sheet as XLSX: frozen header, whole-number formats, an empty 盘点数 column to fill in."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "盘点" if language == "zh-CN" else "Stock count"
    column = 0 if language == "zh-CN" else 1
    sheet.append([labels[column] for labels in COLUMNS.values()])
    for line in lines:
        sheet.append([line.sku, line.title, line.warehouse, line.on_hand, line.reserved, line.available, None])
    bold, to_fill = Font(bold=True), PatternFill("solid", start_color="FFF4CC")
    for cell in sheet[1]:
        cell.font, cell.alignment = bold, Alignment(horizontal="center")
    for row in sheet.iter_rows(min_row=2, min_col=4, max_col=7):
        for cell in row:
            cell.number_format = "#,##0"
        row[-1].fill = to_fill
    for letter, width in zip("ABCDEFG", (18, 30, 10, 10, 10, 10, 12), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    whole = DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0", allow_blank=True,
                           showErrorMessage=True, error="盘点数须为不小于 0 的整数 / a whole number, 0 or more")
    sheet.add_data_validation(whole)
    whole.add(f"G2:G{max(2, len(lines) + 1)}")
    out = BytesIO()
    book.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class RowOutcome:
    row: int
    sku: str
    warehouse: str
    status: str
    counted: int | None = None
    before: int | None = None
    after: int | None = None
    code: str = ""
    message: str = ""


@dataclass
class CountReport:
    file_hash: str
    rows: list[RowOutcome] = field(default_factory=list)

    def total(self, status: str) -> int:
        return sum(1 for row in self.rows if row.status == status)

    @property
    def totals(self) -> dict[str, int]:
        return {status: self.total(status) for status in (APPLIED, UNCHANGED, SKIPPED, ERROR)}


def _header(cells: Sequence[Any]) -> dict[str, int]:
    names = {label.strip().lower(): key for key, labels in COLUMNS.items() for label in labels}
    found: dict[str, int] = {}
    for index, cell in enumerate(cells):
        key = names.get(str(cell).strip().lower()) if cell is not None else None
        if key is not None and key not in found:
            found[key] = index
    missing = [COLUMNS[key][0] for key in REQUIRED if key not in found]
    if missing:
        raise ImportFileError(f"缺少列：{'、'.join(missing)} / missing columns: "
                              f"{', '.join(COLUMNS[key][1] for key in REQUIRED if key not in found)}")
    return found


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _quantity(value: Any) -> int | None:
    """The counted cell as a whole number; None when it is blank (not counted)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if value is NO_CACHED_VALUE:
        raise InvalidInput("公式没有保存计算结果，请在 Excel 中打开后另存 / a formula saved without its value")
    if isinstance(value, bool):
        raise InvalidQuantity("counted", value, allow_negative=False)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise InvalidQuantity("counted", value, allow_negative=False)


def _sheet_rows(content: bytes, filename: str) -> Iterator[tuple[int, Sequence[Any]]]:
    """The rows of an uploaded XLSX or CSV file, header first."""
    if filename.lower().endswith(".csv"):
        yield from ((number, cells) for number, cells, _ in CsvSheet(BytesIO(content)).rows())
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "counts.xlsx"
        path.write_bytes(content)
        with path.open("rb") as stream:
            sheet = XlsxSheet(path, stream)
            try:
                yield from ((number, cells) for number, cells, _ in sheet.rows())
            finally:
                sheet.close()


def _balances(session: Session) -> dict[tuple[str, str], int]:
    codes = {sku.id: sku.code for sku in catalog.list_skus(session)}
    sites = {site.id: site.code for site in inventory.list_warehouses(session)}
    return {(codes[row.sku_id], sites[row.warehouse_id]): row.on_hand
            for row in session.scalars(select(WarehouseStock)) if row.sku_id in codes}


def import_counts(runtime: Runtime, *, content: bytes, filename: str, reason: str, actor: Actor) -> CountReport:
    """Apply a filled-in count sheet row by row; the file's problems as a whole raise ImportFileError."""
    if not content:
        raise ImportFileError("文件是空的 / the file is empty")
    if len(content) > MAX_FILE_BYTES:
        raise ImportFileError(f"文件超过 {MAX_FILE_BYTES // 1024 // 1024} MB / the file is too large")
    digest = hashlib.sha256(content).hexdigest()
    report = CountReport(file_hash=digest)
    with runtime.reading() as session:
        before = _balances(session)
    rows = _sheet_rows(content, filename)
    columns: dict[str, int] | None = None
    try:
        for number, cells in rows:
            if columns is None:
                columns = _header(cells)
                continue
            if not any(_text(cell) for cell in cells):
                continue
            if len(report.rows) >= MAX_ROWS:
                raise ImportFileError(f"最多 {MAX_ROWS} 行 / at most {MAX_ROWS} rows per file")
            report.rows.append(_apply_row(runtime, number, cells, columns, before, digest, reason, actor))
    except ReadingStopped as stopped:
        report.rows.append(RowOutcome(stopped.error.rows[0], "", "", ERROR, code=stopped.error.code,
                                      message=stopped.error.message))
    if columns is None:
        raise ImportFileError("文件是空的 / the file is empty")
    return report


def _apply_row(runtime: Runtime, number: int, cells: Sequence[Any], columns: dict[str, int],
               before: dict[tuple[str, str], int], digest: str, reason: str, actor: Actor) -> RowOutcome:
    def cell(key: str) -> Any:
        index = columns[key]
        return cells[index] if index < len(cells) else None

    sku, warehouse = _text(cell("sku")), _text(cell("warehouse"))
    try:
        counted = _quantity(cell("counted"))
        if counted is None:
            return RowOutcome(number, sku, warehouse, SKIPPED, message="未填写盘点数 / not counted")
        change = inventory.count(runtime.uow(), sku=sku, warehouse=warehouse, counted=counted, reason=reason,
                                 idempotency_key=f"count:{digest[:40]}:{number}", actor=actor)
    except OrderHubError as exc:
        return RowOutcome(number, sku, warehouse, ERROR, code=exc.code, message=exc.message)
    was = before.get((sku, warehouse), 0)
    if change.replayed:
        return RowOutcome(number, sku, warehouse, UNCHANGED, counted, change.on_hand, change.on_hand,
                          message="此文件已导入过 / this file was imported before")
    if counted == was:
        return RowOutcome(number, sku, warehouse, UNCHANGED, counted, was, change.on_hand,
                          message="与账面一致 / matches the books")
    return RowOutcome(number, sku, warehouse, APPLIED, counted, was, change.on_hand)
