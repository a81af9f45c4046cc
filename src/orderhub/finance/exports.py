"""Excel and PDF of the receivables report and the discrepancy list.

Excel cells hold real numbers (yuan, two decimals, thousands separators) and real dates, under a
frozen, filterable header. PDFs use reportlab's built-in STSong-Light CJK font, so Chinese renders
without any font installed on the machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from orderhub.core.i18n import format_money
from orderhub.core.money import fen_to_yuan
from orderhub.finance.explain import class_label, discrepancy_text, status_label
from orderhub.finance.model import Discrepancy
from orderhub.finance.repository import ReportRow

CJK_FONT = "STSong-Light"
MONEY_FORMAT = "#,##0.00;[Red]-#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"
TIME_FORMAT = "yyyy-mm-dd hh:mm"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_TYPE = "application/pdf"


@dataclass(frozen=True)
class _Column:
    title: str
    kind: str  # text, int, money, date, time
    width: int


REPORT_COLUMNS = (
    _Column("日期 Day", "date", 12), _Column("渠道 Channel", "text", 14), _Column("订单 Orders", "int", 10),
    _Column("实付 Paid", "money", 14), _Column("退款 Refunded", "money", 14), _Column("应收 Receivable", "money", 15),
    _Column("实收 Received", "money", 15), _Column("未收 Outstanding", "money", 15),
    _Column("手续费 Fees", "money", 13),
    _Column("成本 Cost", "money", 14), _Column("毛利 Margin", "money", 14),
)
DISCREPANCY_COLUMNS = (
    _Column("编号 Id", "int", 8), _Column("日期 Day", "date", 12), _Column("类别 Class", "text", 16),
    _Column("状态 Status", "text", 12), _Column("渠道 Channel", "text", 11), _Column("订单号 Order", "text", 22),
    _Column("对账单订单号 Reference", "text", 24), _Column("应为 Expected", "money", 13),
    _Column("实际 Actual", "money", 13), _Column("差额 Difference", "money", 13), _Column("负责人 Owner", "text", 14),
    _Column("到期 Due", "time", 17), _Column("说明 Explanation", "text", 50), _Column("处理 Resolution", "text", 30),
)


def _yuan(fen: int) -> Decimal:
    return Decimal(fen_to_yuan(fen))


def _report_values(row: ReportRow, language: str) -> list[Any]:
    channel = row.channel or ("未匹配收款" if language == "zh-CN" else "unmatched payments")
    return [row.day, channel, row.orders, row.paid_fen, row.refunded_fen, row.receivable_fen, row.received_fen,
            row.outstanding_fen, row.fee_fen, row.cost_fen, row.margin_fen]


def _total_values(totals: dict[str, Any], language: str) -> list[Any]:
    return [None, "合计" if language == "zh-CN" else "Total", totals["orders"], totals["paid_fen"],
            totals["refunded_fen"], totals["receivable_fen"], totals["received_fen"], totals["outstanding_fen"],
            totals["fee_fen"], totals["cost_fen"], totals["margin_fen"]]


def _discrepancy_values(item: Discrepancy, zone: ZoneInfo, language: str) -> list[Any]:
    return [item.id, item.business_date, class_label(item.recon_class, language), status_label(item.status, language),
            item.channel, item.order_no, item.reference, item.expected_fen, item.actual_fen, item.difference_fen,
            item.owner, item.due_at.astimezone(zone).replace(tzinfo=None), discrepancy_text(item, language),
            item.resolution or ""]


# ------------------------------------------------------------------------------------------------
# Excel
# ------------------------------------------------------------------------------------------------


def _workbook(title: str, columns: Sequence[_Column], rows: list[list[Any]], total: list[Any] | None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append([column.title for column in columns])
    header_fill = PatternFill("solid", fgColor="E8F0FB")
    for position, column in enumerate(columns, start=1):
        cell = sheet.cell(1, position)
        cell.font = Font(bold=True)
        cell.fill = header_fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        sheet.column_dimensions[get_column_letter(position)].width = column.width
    for values in [*rows, *([total] if total else [])]:
        sheet.append([_cell(column, value) for column, value in zip(columns, values, strict=True)])
        number = sheet.max_row
        for position, column in enumerate(columns, start=1):
            cell = sheet.cell(number, position)
            if column.kind == "money":
                cell.number_format = MONEY_FORMAT
            elif column.kind == "date":
                cell.number_format = DATE_FORMAT
            elif column.kind == "time":
                cell.number_format = TIME_FORMAT
            if total is not None and values is total:
                cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(1, len(rows) + 1)}"
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(column: _Column, value: Any) -> Any:
    if value is None:
        return None
    if column.kind == "money":
        return _yuan(value)
    return value


def report_workbook(rows: list[ReportRow], totals: dict[str, Any], *, language: str) -> bytes:
    return _workbook("应收与实收", REPORT_COLUMNS, [_report_values(row, language) for row in rows],
                     _total_values(totals, language))


def discrepancies_workbook(items: list[Discrepancy], *, zone: ZoneInfo, language: str) -> bytes:
    return _workbook("对账差异", DISCREPANCY_COLUMNS, [_discrepancy_values(item, zone, language) for item in items],
                     None)


# ------------------------------------------------------------------------------------------------
# PDF
# ------------------------------------------------------------------------------------------------


def _font() -> str:
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return CJK_FONT


def _pdf_text(column: _Column, value: Any) -> str:
    if value is None:
        return ""
    if column.kind == "money":
        return format_money(value)
    if column.kind == "date" and isinstance(value, date):
        return value.isoformat()
    if column.kind == "time" and isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _pdf(title: str, subtitle: str, columns: Sequence[_Column], rows: list[list[Any]], total: list[Any] | None,
         wrap: frozenset[int] = frozenset()) -> bytes:
    font = _font()
    out = BytesIO()
    document = SimpleDocTemplate(out, pagesize=landscape(A4), leftMargin=10 * mm, rightMargin=10 * mm,
                                 topMargin=12 * mm, bottomMargin=12 * mm, title=title)
    cell_style = ParagraphStyle("cell", fontName=font, fontSize=7, leading=9)
    header = [Paragraph(column.title, cell_style) for column in columns]
    body = []
    for values in [*rows, *([total] if total else [])]:
        body.append([Paragraph(_pdf_text(column, value), cell_style) if index in wrap else _pdf_text(column, value)
                     for index, (column, value) in enumerate(zip(columns, values, strict=True))])
    widths = [column.width for column in columns]
    scale = (document.width) / sum(widths)
    table = Table([header, *body], colWidths=[width * scale for width in widths], repeatRows=1)
    style = [
        ("FONTNAME", (0, 0), (-1, -1), font),
        ("FONTSIZE", (0, 0), (-1, -1), 7),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E8F0FB")),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#C3CCD5")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    for index, column in enumerate(columns):
        if column.kind in ("money", "int"):
            style.append(("ALIGN", (index, 1), (index, -1), "RIGHT"))
    if total:
        style.append(("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#F3F5F7")))
    table.setStyle(TableStyle(style))
    heading = ParagraphStyle("title", fontName=font, fontSize=13, leading=17)
    note = ParagraphStyle("note", fontName=font, fontSize=8, leading=11, textColor=colors.HexColor("#66717D"))
    document.build([Paragraph(title, heading), Paragraph(subtitle, note), Spacer(1, 4 * mm), table])
    return out.getvalue()


def report_pdf(rows: list[ReportRow], totals: dict[str, Any], *, date_from: date, date_to: date, generated: str,
               language: str) -> bytes:
    return _pdf("应收与实收 Receivable vs received", f"{date_from} – {date_to} · {generated}", REPORT_COLUMNS,
                [_report_values(row, language) for row in rows], _total_values(totals, language))


def discrepancies_pdf(items: list[Discrepancy], *, zone: ZoneInfo, generated: str, language: str) -> bytes:
    return _pdf("对账差异 Reconciliation discrepancies", generated, DISCREPANCY_COLUMNS,
                [_discrepancy_values(item, zone, language) for item in items], None,
                wrap=frozenset({12, 13}))
