"""File import: a platform's JSON export or an offline order spreadsheet in, orders out.

The readers stream, so a 1 GB file is read in flat memory:
* JSON through ijson (numbers as int/Decimal, never float): a top-level array of orders, a
  platform's list envelope (`ENVELOPES`), a single order or envelope, or JSON Lines;
* CSV line by line: UTF-8 with BOM, UTF-8, or GBK/GB18030, told apart from the first bytes; a row
  that does not decode is a row error, not the end of the file;
* XLSX through openpyxl in read-only mode, formulas as their cached values.
Spreadsheets follow the offline template (shared/formats.md §10): the rows of one 订单编号 are
grouped into one order object, which `mappings/manual.yaml` reads. Orders go to `ingest_batch` in
batches, one unit of work each: a crash loses at most the batches in flight (two on PostgreSQL), and
importing the same file again completes it and changes nothing else (ingestion is idempotent;
repeated dead letters are not stored twice).
"""

from __future__ import annotations

import codecs
import csv
import gc
import re
import sqlite3
import sys
import time
import zipfile
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from itertools import zip_longest
from pathlib import Path
from typing import IO, Any, BinaryIO, ClassVar, Protocol
from xml.etree.ElementTree import ParseError

import ijson
import openpyxl
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_excel
from openpyxl.utils.exceptions import InvalidFileException

from orderhub.channels import service as channels
from orderhub.channels.ingest import (
    DEAD_LETTERED,
    Incoming,
    Outcome,
    Readings,
    ingest_batch,
    read_payloads,
    shop_ref,
)
from orderhub.channels.mapping import ChannelMapping, available_channels, dig, load_json, load_mapping
from orderhub.channels.model import Channel
from orderhub.core.actor import Actor
from orderhub.core.errors import InvalidInput
from orderhub.orders.intake import IntakeResult, ShopRef, refresh_statistics
from orderhub.runtime import Runtime

SOURCE = "import"
IMPORT_ACTOR = Actor("file-import", "cli")
# Orders per unit of work: small enough that a crash loses little, big enough for bulk inserts.
BATCH_SIZE = 500
# Spreadsheet orders kept open while grouping rows: the rows of one order may be this many orders apart.
LOOKAHEAD = 2_000
# Planner statistics are refreshed after this many orders, then each time the count doubles.
ANALYSE_FIRST = 5_000
# An order with more rows than this is refused (and no longer held in memory).
MAX_ROWS_PER_ORDER = 1_000
SNIFF_BYTES = 64 * 1024
# A JSON Lines file is recognised by its first line, which must end within this many bytes.
MAX_JSON_LINE = 1024 * 1024
# CSV is read in pieces of at most this many bytes, so a file without line breaks cannot fill memory.
MAX_CSV_LINE = 1024 * 1024
PROGRESS_EVERY = 1_000

# ---------------------------------------------------------------------------------------------
# The offline template
# ---------------------------------------------------------------------------------------------

ORDER_ID = "订单编号"
ORDER_TIME = "下单时间"
MEMO = "备注"
PAID = "实付金额"
TEMPLATE_COLUMNS = (
    "订单编号",
    "下单时间",
    "客户姓名",
    "手机号",
    "身份证号",
    "省",
    "市",
    "区",
    "详细地址",
    "商品编码",
    "商品名称",
    "数量",
    "单价",
    "运费",
    "优惠",
    "实付金额",
    "支付方式",
    "支付单号",
    "备注",
)
LINE_COLUMNS = ("商品编码", "商品名称", "数量", "单价")
ORDER_COLUMNS = tuple(c for c in TEMPLATE_COLUMNS if c not in LINE_COLUMNS and c != ORDER_ID)
# Without these no order of the file could be valid; 区 is optional (东莞, 中山 have no districts).
REQUIRED_COLUMNS = (
    "订单编号",
    "下单时间",
    "客户姓名",
    "手机号",
    "省",
    "市",
    "详细地址",
    "商品编码",
    "数量",
    "单价",
    "实付金额",
)
AMOUNT_COLUMNS = frozenset({"单价", "运费", "优惠", "实付金额"})
# Digit strings Excel may have stored as numbers, losing digits past the 15th.
ID_COLUMNS = frozenset({"订单编号", "手机号", "身份证号", "支付单号", "商品编码"})
# Not a template column: the importer derives it (the template has no status), see manual.yaml.
DERIVED_STATUS = "推定状态"
_EXAMPLE_ORDER = {
    "订单编号": "DX20241111001",
    "下单时间": "2024-11-11 09:10:00",
    "客户姓名": "张三",
    "手机号": "+86 138-0013-8000",
    "身份证号": "",
    "省": "浙江省",
    "市": "杭州市",
    "区": "西湖区",
    "详细地址": "文三路90号",
    "商品编码": "SKU-001",
    "商品名称": "保温杯 500ml",
    "数量": "2",
    "单价": "99.00",
    "运费": "10.00",
    "优惠": "7.00",
    "实付金额": "600.00",
    "支付方式": "微信支付",
    "支付单号": "WX20241111091000001",
    "备注": "送货前电话联系",
}
# One order of two lines; the second row repeats the order columns, as the template asks.
TEMPLATE_EXAMPLE = (
    _EXAMPLE_ORDER,
    {**_EXAMPLE_ORDER, "商品编码": "SKU-002", "商品名称": "茶叶礼盒", "数量": "1", "单价": "399.00"},
)
TEMPLATE_CSV = Path(__file__).with_name("templates") / "offline_orders.csv"

# Where each platform's orders sit in its API response, as ijson prefixes: "path[]" is a list of
# orders (a list call), "path" a single order (a detail call). Only the shop's own channel's paths
# are looked for, so a generic one ("orders[]") never catches another platform's order field.
ENVELOPES: dict[str, tuple[str, ...]] = {
    "taobao": (
        "trades_sold_get_response.trades.trade[]",
        "trades_sold_increment_get_response.trades.trade[]",
        "trade_fullinfo_get_response.trade",
    ),
    "jd": (
        "jingdong_pop_order_search_responce.searchorderinfo_result.orderInfoList[]",
        "jingdong_pop_order_get_responce.orderDetailInfo.orderInfo",
    ),
    "pdd": ("order_list_get_response.order_list[]", "order_info_get_response.order_info"),
    "douyin": ("data.shop_order_list[]", "data.shop_order_detail"),
    # As the platform clients read them (channels/platforms/kuaishou.py, shopify.py, miniprogram.py).
    "kuaishou": ("data.orderList[]",),
    "shopify": ("orders[]", "order"),
    "miniprogram": ("items[]",),
}
ENVELOPES["tmall"] = ENVELOPES["taobao"]
# Nested paths are specific enough to name the platform of a file imported into the wrong shop.
_TELLTALES = {
    path.removesuffix("[]"): [owner for owner, paths in ENVELOPES.items() if path in paths]
    for paths in ENVELOPES.values()
    for path in paths
    if "." in path
}

# ---------------------------------------------------------------------------------------------
# Errors and results
# ---------------------------------------------------------------------------------------------


class ImportFileError(InvalidInput):
    """The file cannot be imported at all; nothing was changed."""

    code = "import.unreadable"


class EmptyFile(ImportFileError):
    code = "import.empty"


class MissingColumns(ImportFileError):
    code = "import.missing_columns"


class NotOrders(ImportFileError):
    code = "import.not_orders"


@dataclass(frozen=True)
class RowError:
    """One line of the error report: which rows (spreadsheet rows, or positions in a JSON list)."""

    rows: tuple[int, ...]
    order_id: str
    code: str
    message: str


@dataclass
class ImportReport:
    """What one import did, for the command's summary and for callers (console, benchmark)."""

    path: Path
    channel: str
    shop: str
    format: str = ""  # what was detected, e.g. "CSV, GBK/GB18030" or "JSON, envelope …"
    orders: int = 0  # orders read and handed to ingestion
    counts: Counter[str] = field(default_factory=Counter)  # ingestion outcomes
    row_errors: int = 0  # rows (or JSON items) that never became an order
    ignored_columns: list[str] = field(default_factory=list)
    complete: bool = False  # read to its end
    stopped: RowError | None = None  # where reading broke off, when it did
    errors_path: Path | None = None
    samples: list[RowError] = field(default_factory=list)  # the first few error lines
    seconds: float = 0.0

    @property
    def dead_lettered(self) -> int:
        return self.counts[DEAD_LETTERED]

    def summary(self) -> list[tuple[str, int]]:
        """The figures a person reads after an import, labelled in both languages."""
        return [
            ("新建 created", self.counts[IntakeResult.CREATED]),
            ("更新 updated", self.counts[IntakeResult.UPDATED]),
            ("未变 unchanged", self.counts[IntakeResult.UNCHANGED]),
            ("过期 stale", self.counts[IntakeResult.STALE]),
            ("挂起 on hold", self.counts[IntakeResult.HELD]),
            ("死信 dead-lettered", self.dead_lettered),
            ("行错误 row errors", self.row_errors),
        ]


Progress = Callable[[int, int], None]  # (bytes read, bytes in the file)


class ReadingStopped(Exception):
    """Reading stopped part-way (truncated JSON, a broken CSV quote…); the orders read before stand."""

    def __init__(self, error: RowError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class FileOrder:
    """One order read from the file, ready for ingestion."""

    key: str  # the platform order id as read before mapping ("" when absent)
    rows: tuple[int, ...]  # spreadsheet rows, or the position in a JSON list / the line of JSON Lines
    incoming: Incoming


Item = FileOrder | RowError

# ---------------------------------------------------------------------------------------------
# The use case
# ---------------------------------------------------------------------------------------------


def import_file(
    runtime: Runtime,
    path: Path | str,
    *,
    channel: str,
    shop: str,
    progress: Progress | None = None,
    actor: Actor = IMPORT_ACTOR,
    batch_size: int = BATCH_SIZE,
    lookahead: int = LOOKAHEAD,
) -> ImportReport:
    """Import every order of `path` into the shop; `ImportFileError` (nothing changed) if it cannot be read.

    Per-row problems do not stop the import: they go to `<file>.errors.csv` (UTF-8 with BOM), with
    the orders ingestion dead-lettered.
    """
    path = Path(path)
    found_channel = channels.parse_channel(channel)
    with runtime.reading() as session:
        ref = shop_ref(channels.get_shop(session, channel=found_channel.value, code=shop))
    if ref.channel not in available_channels():
        raise ImportFileError(f"渠道 {ref.channel} 没有映射文件，无法导入 / channel {ref.channel} has no mapping file")
    report = ImportReport(path=path, channel=ref.channel, shop=ref.code)
    started = time.monotonic()
    log = _ErrorLog(path.with_name(path.name + ".errors.csv"), report)
    try:
        with open_source(path, channel=ref.channel, lookahead=lookahead) as source:
            report.format = source.describe
            _run(runtime, ref, source, report, log, actor, batch_size, progress)
    finally:
        log.close()
    report.seconds = time.monotonic() - started
    return report


def _run(
    runtime: Runtime,
    ref: ShopRef,
    source: Source,
    report: ImportReport,
    log: _ErrorLog,
    actor: Actor,
    batch_size: int,
    progress: Progress | None,
) -> None:
    batch: list[FileOrder] = []
    seen = 0
    with _BatchWriter(runtime, ref, actor, report, log) as writer:
        try:
            for item in source.items():
                seen += 1
                if isinstance(item, RowError):
                    report.row_errors += 1
                    log.add(item)
                else:
                    batch.append(item)
                    if len(batch) >= batch_size:
                        writer.submit(batch)
                        batch = []
                if progress and seen % PROGRESS_EVERY == 0:
                    progress(source.position, source.size)
            report.complete = True
        except ReadingStopped as broken:
            report.stopped = broken.error
        report.ignored_columns = source.ignored_columns
        if batch:
            writer.submit(batch)
    if report.stopped is not None:
        log.add(report.stopped)
    if progress:
        progress(source.size if report.complete else source.position, source.size)


@dataclass
class _Flight:
    """A batch handed to the database thread(s), with what its outcomes are recorded against."""

    batch: list[FileOrder]
    items: list[Incoming]
    readings: Readings
    keys: frozenset[str] | None  # the platform orders it writes; None: it is written alone (dead letters)
    future: Future[list[Outcome]]


class _BatchWriter:
    """Writes each batch in its own transaction on background threads while the file is read on.

    The next batch is parsed, mapped and validated while the database works on the previous ones. On
    PostgreSQL two batches are in flight, each on its own connection, so one batch's Python work runs
    while PostgreSQL writes the other (with one, the two mostly took turns: the import's wall time was
    its Python time plus PostgreSQL's). Outcomes are recorded in file order on the reading thread.
    Two batches in flight never hold the same platform order: a batch that repeats an order of one in
    flight waits for it, so a file's later version of an order is applied after its earlier one, as
    in a single stream; a batch that makes dead letters is written alone, so a repeated bad payload
    still finds its first letter. Should PostgreSQL still find a lock cycle between the two (a drawn
    order number or a waybill both write) and roll one back, that batch is written again once the
    other is done: nothing of it was kept. SQLite has one writer at a time: one batch in flight.

    Two interpreter settings hold while it runs (the import owns its process, the CLI, so they are
    process-wide for that time, and restored after):
    * the GIL changes hands every `GIL_SLICE` seconds instead of every 5 ms: a writer gives the
      GIL up at each of a batch's round trips, and with the default slice it waited up to 5 ms for
      the busy reader to hand it back after every one (20k orders: ~20 % slower);
    * the objects that exist when it starts (the application's modules, metadata, mappings) are
      frozen out of the cyclic garbage collector: payloads allocate containers fast enough to run
      a full collection over all of them every few hundred orders, a quarter of the import's CPU;
    * the youngest generation is collected every `GC_YOUNG` net allocations instead of every 700: at
      the default it was collected every ~15 orders, a tenth of the import's CPU. Most of what an
      import allocates is freed by reference counting; the cycles left (sessions, transactions) are
      collected every few thousand orders, so memory stays as flat as before.
    """

    GIL_SLICE = 0.0002
    GC_YOUNG = 30_000
    IN_FLIGHT = 2  # on PostgreSQL
    DEADLOCK = "40P01"  # SQLSTATE deadlock_detected

    def __init__(self, runtime: Runtime, ref: ShopRef, actor: Actor, report: ImportReport, log: _ErrorLog) -> None:
        self.runtime, self.ref, self.actor, self.report, self.log = runtime, ref, actor, report, log
        self.depth = self.IN_FLIGHT if runtime.engine.dialect.name == "postgresql" else 1
        self.database = ThreadPoolExecutor(max_workers=self.depth, thread_name_prefix="import-writer")
        self.in_flight: deque[_Flight] = deque()
        self.analysed_at = ANALYSE_FIRST // 2
        self.slice = sys.getswitchinterval()
        self.thresholds = gc.get_threshold()

    def __enter__(self) -> _BatchWriter:
        sys.setswitchinterval(min(self.slice, self.GIL_SLICE))
        gc.freeze()
        young, *older = self.thresholds
        gc.set_threshold(max(young, self.GC_YOUNG), *older)
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if exc_info[0] is None:
                while self.in_flight:
                    self._record_oldest()
        finally:
            self.database.shutdown(wait=True, cancel_futures=True)
            sys.setswitchinterval(self.slice)
            gc.set_threshold(*self.thresholds)
            gc.unfreeze()

    def submit(self, batch: list[FileOrder]) -> None:
        items = [order.incoming for order in batch]
        readings = read_payloads(self.ref, items, rules=self.runtime.policy.rules)
        keys = _written_orders(readings)
        while self.in_flight and (len(self.in_flight) >= self.depth or keys is None or any(
                flight.keys is None or not keys.isdisjoint(flight.keys) for flight in self.in_flight)):
            self._record_oldest()
        analyse = self.report.orders >= 2 * self.analysed_at
        if analyse:
            self.analysed_at = self.report.orders
        future = self.database.submit(self._write, items, readings, analyse)
        self.in_flight.append(_Flight(batch, items, readings, keys, future))

    def _write(self, items: list[Incoming], readings: Readings, analyse: bool) -> list[Outcome]:
        with self.runtime.uow() as uow:
            if analyse:
                refresh_statistics(uow.session)
            outcomes = ingest_batch(uow.session, shop=self.ref, items=items, policy=self.runtime.policy,
                                    actor=self.actor, at=uow.now(), readings=readings)
            uow.commit()
        return outcomes

    def _record_oldest(self) -> None:
        flight = self.in_flight.popleft()
        try:
            outcomes = flight.future.result()
        except Exception as exc:
            if getattr(getattr(exc, "orig", exc), "sqlstate", None) != self.DEADLOCK:
                raise
            # Rolled back whole: written again once the batch it crossed is done, alone.
            wait([other.future for other in self.in_flight])
            outcomes = self.database.submit(self._write, flight.items, flight.readings, False).result()
        self.report.orders += len(flight.batch)
        for order, outcome in zip(flight.batch, outcomes, strict=True):
            key = outcome.channel_order_id or order.key
            if outcome.result == DEAD_LETTERED:
                self.report.counts[DEAD_LETTERED] += 1
                letter = f"死信 #{outcome.dead_letter_id} / dead letter #{outcome.dead_letter_id}"
                self.log.add(
                    RowError(order.rows, key, f"dead_letter.{outcome.reason_code}", f"{outcome.reason} ({letter})")
                )
            else:
                self.report.counts[outcome.result] += 1


def _written_orders(readings: Readings) -> frozenset[str] | None:
    """The platform order ids a batch writes; None when some of it becomes a dead letter."""
    if readings.unreadable or any(not error.fixable for defects in readings.defects or () for error in defects):
        return None
    return frozenset(draft.channel_order_id for draft in readings.drafts)


class _ErrorLog:
    """`<file>.errors.csv`, written as errors come so a file full of them never fills memory.

    A report left by an earlier run of the same file is removed first: it no longer describes it.
    """

    HEADER = ("行号 row", "订单编号 order", "错误代码 code", "说明 message")
    SAMPLES = 10

    def __init__(self, path: Path, report: ImportReport) -> None:
        self.path = path
        self.report = report
        self._file: IO[str] | None = None
        self._writer: Any = None
        path.unlink(missing_ok=True)

    def add(self, error: RowError) -> None:
        if self._file is None:
            self._file = self.path.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._file)
            self._writer.writerow(self.HEADER)
            self.report.errors_path = self.path
        self._writer.writerow((",".join(map(str, error.rows)), error.order_id, error.code, error.message))
        if len(self.report.samples) < self.SAMPLES:
            self.report.samples.append(error)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


# ---------------------------------------------------------------------------------------------
# Sources: what kind of file it is, and its orders in file order
# ---------------------------------------------------------------------------------------------


class Source(Protocol):
    """The orders of one file, in file order, as they are read."""

    describe: str  # what was detected: "CSV, GBK/GB18030", "JSON, order_list_get_response.order_list[]"…
    size: int
    ignored_columns: list[str]  # known once the header has been read

    @property
    def position(self) -> int: ...

    def items(self) -> Iterator[Item]: ...


@contextmanager
def open_source(path: Path, *, channel: str, lookahead: int = LOOKAHEAD) -> Iterator[Source]:
    """The reader for what the file is (told from its first bytes), closed afterwards.

    `ImportFileError` when the file cannot be imported into a shop of `channel` at all.
    """
    mapping = load_mapping(channel)
    try:
        stream = path.open("rb")
        size = path.stat().st_size
    except OSError as exc:
        raise ImportFileError(f"无法打开文件 / cannot open the file: {exc}") from None
    with stream:
        kind = detect_kind(stream.read(SNIFF_BYTES))
        stream.seek(0)
        if kind == "json":
            yield _JsonSource(stream, size, mapping)
            return
        if mapping.channel != Channel.MANUAL:
            raise ImportFileError(
                f"表格按线下订单模板导入，请导入到 manual 渠道的店铺 / spreadsheets follow the offline order "
                f"template: import them into a shop of channel manual, not {mapping.channel}"
            )
        if kind == "csv":
            yield _SheetSource(CsvSheet(stream), size, lookahead)
            return
        sheet = XlsxSheet(path, stream)
        try:
            yield _SheetSource(sheet, size, lookahead)
        finally:
            sheet.close()


def detect_kind(head: bytes) -> str:
    """json, xlsx or csv, from the first bytes; `ImportFileError` for what cannot be imported."""
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(
            "旧版 .xls 或加密的 Excel 文件：请另存为 .xlsx 或 CSV / a legacy .xls or password-protected Excel file: "
            "save it as .xlsx or CSV"
        )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError("UTF-16 文本：请另存为 CSV (UTF-8) / UTF-16 text: save it as CSV (UTF-8)")
    text = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if not text:
        raise EmptyFile("文件是空的 / the file is empty")
    return "json" if text[:1] in (b"[", b"{") else "csv"


# ---------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------


class _JsonSource:
    """Orders from JSON: an array, a platform envelope (one page, or pages one after another), one
    order, or JSON Lines. The first order is checked against the channel's mapping before anything
    is imported, so a file of something else is refused whole."""

    def __init__(self, stream: BinaryIO, size: int, mapping: ChannelMapping) -> None:
        self.stream = stream
        self.size = size
        self.ignored_columns: list[str] = []
        self.channel = mapping.channel
        self.envelopes = ENVELOPES.get(mapping.channel, ())
        self.id_paths = mapping.order["channel_order_id"].paths
        self.start = len(codecs.BOM_UTF8) if stream.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8 else 0
        self.checked_first = False
        self.prefix, self.describe = self._layout()

    @property
    def position(self) -> int:
        return self.stream.tell()

    def _layout(self) -> tuple[str | None, str]:
        """(ijson prefix of the orders, description); prefix None means JSON Lines."""
        self.stream.seek(self.start)
        if self.stream.read(SNIFF_BYTES).lstrip().startswith(b"["):
            return "item", "JSON, 订单数组 / array of orders"
        first = self._first_line()
        envelopes = [path.removesuffix("[]") for path in self.envelopes] + list(_TELLTALES)
        if isinstance(first, dict) and not any(dig(first, path) is not None for path in envelopes):
            return None, "JSON Lines, 每行一个订单 / one order per line"
        return self._find_envelope()

    def _first_line(self) -> Any:
        self.stream.seek(self.start)
        line = self.stream.readline(MAX_JSON_LINE)
        try:
            return load_json(line)
        except ValueError:  # a pretty-printed document's "{", or a line longer than the limit
            return None

    def _find_envelope(self) -> tuple[str, str]:
        """The prefix of the channel's envelope, found by reading events up to it (pages may follow one another)."""
        self.stream.seek(self.start)
        top_keys: list[str] = []
        try:
            for prefix, event, value in ijson.parse(self.stream, use_float=False, multiple_values=True):
                if prefix == "" and event == "map_key" and len(top_keys) < 1000:
                    top_keys.append(value)
                if event == "start_array" and f"{prefix}[]" in self.envelopes:
                    return f"{prefix}.item", f"JSON, {prefix}[]"
                if event == "start_map" and prefix in self.envelopes:
                    return prefix, f"JSON, {prefix} (单个订单 / one order)"
                owners = _TELLTALES.get(prefix, [self.channel])
                if event in ("start_array", "start_map") and self.channel not in owners:
                    raise NotOrders(
                        f"这是 {'/'.join(owners)} 的导出（{prefix}），不是 {self.channel} 的 / this is a "
                        f"{'/'.join(owners)} export ({prefix}), not {self.channel}"
                    )
        except ijson.JSONError as exc:
            raise ImportFileError(
                f"JSON 在任何订单之前就中断了 / the JSON breaks off before any order: {_first_line_of(exc)}"
            ) from None
        if any(path.split(".")[0] in top_keys for path in self.id_paths):
            return "", "JSON, 单个订单 / one order"
        shown = ", ".join(top_keys[:10]) or "-"
        raise NotOrders(
            f"这个 JSON 不是 {self.channel} 订单（顶层键：{shown}）/ this JSON is not {self.channel} orders "
            f"(top-level keys: {shown})"
        )

    def items(self) -> Iterator[Item]:
        self.stream.seek(self.start)
        if self.prefix is None:
            yield from self._lines()
            return
        number = 0
        try:
            orders = ijson.items(self.stream, self.prefix, use_float=False, multiple_values=True)
            for number, payload in enumerate(orders, start=1):
                yield self._order(number, payload, "")
        except ijson.JSONError as exc:
            message = _first_line_of(exc)
            raise ReadingStopped(
                RowError(
                    (),
                    "",
                    "json.truncated" if "premature EOF" in message else "json.malformed",
                    f"JSON 在第 {number} 个订单之后中断（约第 {self.position} 字节）/ the JSON breaks off after "
                    f"order #{number} (near byte {self.position}): {message}",
                )
            ) from None

    def _lines(self) -> Iterator[Item]:
        for number, line in enumerate(self.stream, start=1):
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8").strip()
                payload = load_json(text)
            except ValueError as exc:
                if not line.endswith(b"\n") and self.position >= self.size:
                    start = self.position - len(line)
                    raise ReadingStopped(
                        RowError(
                            (number,),
                            "",
                            "json.truncated",
                            f"最后一行不完整（第 {number} 行，第 {start} 字节起）/ the last line is cut off "
                            f"(line {number}, from byte {start}): {exc}",
                        )
                    ) from None
                yield RowError((number,), "", "json.invalid_line", f"第 {number} 行不是 JSON / line {number}: {exc}")
                continue
            yield self._order(number, payload, text)

    def _order(self, number: int, payload: Any, raw: str) -> Item:
        first, self.checked_first = not self.checked_first, True
        if not isinstance(payload, dict):
            kind = type(payload).__name__
            if first:
                raise NotOrders(f"第一项不是订单对象 / the first item is not an order object but {kind}")
            return RowError((number,), "", "json.not_an_order", f"第 {number} 项不是订单对象 / item {number} is {kind}")
        key = next((str(dig(payload, path)) for path in self.id_paths if dig(payload, path) is not None), "")
        if first and not key:
            paths, keys = "/".join(self.id_paths), ", ".join(list(payload)[:10]) or "-"
            raise NotOrders(
                f"第一项没有 {paths}，不是 {self.channel} 订单（键：{keys}）/ the first item has no {paths}: "
                f"not a {self.channel} order (keys: {keys})"
            )
        return FileOrder(key, (number,), Incoming(raw=raw, source=SOURCE, payload=payload))


def _first_line_of(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


# ---------------------------------------------------------------------------------------------
# Spreadsheets: rows → cells as text → orders grouped by 订单编号
# ---------------------------------------------------------------------------------------------

Problems = list[tuple[str, str]]  # (error code, message)


class _Sheet(Protocol):
    describe: str
    epoch: datetime

    @property
    def position(self) -> int: ...

    def rows(self) -> Iterator[tuple[int, Sequence[Any], Problems]]:
        """(spreadsheet row number, cells, problems of the whole row) for every row, header included."""
        ...


class CellProblem(Exception):
    """A cell whose value is lost (a formula without its result, an error value, digits Excel dropped)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _NoCachedValue:
    """A formula cell saved without its result (written by a program, never opened in Excel)."""


NO_CACHED_VALUE = _NoCachedValue()
EXCEL_ERRORS = frozenset({"#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!", "#GETTING_DATA"})
EXCEL_EPOCH = datetime(1899, 12, 30)  # serial day 1 is 1900-01-01 (the 1900 date system)


class CsvSheet:
    """A CSV read line by line; each line is decoded on its own, so one bad row stays one bad row."""

    ENCODINGS: ClassVar[dict[str, str]] = {"utf-8-sig": "UTF-8 BOM", "utf-8": "UTF-8", "gb18030": "GBK/GB18030"}

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        head = stream.read(SNIFF_BYTES)
        at_end = not stream.read(1)
        stream.seek(0)
        if b"\r" in head and b"\n" not in head:
            raise ImportFileError(
                "行尾只有 CR（旧版 Mac 的 CSV）：请另存为 CSV UTF-8 / the lines end in CR only (an old Mac CSV): "
                "save it as CSV UTF-8"
            )
        self.encoding = detect_encoding(head, at_end=at_end)
        self.describe = f"CSV, {self.ENCODINGS[self.encoding]}"
        self.epoch = EXCEL_EPOCH
        self.position = 0
        self._undecodable = False

    def _lines(self) -> Iterator[str]:
        codec = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        for number, raw in enumerate(iter(partial(self.stream.readline, MAX_CSV_LINE), b"")):
            self.position += len(raw)
            line = raw.removeprefix(codecs.BOM_UTF8) if number == 0 else raw
            try:
                yield line.decode(codec)
            except UnicodeDecodeError:
                self._undecodable = True
                yield line.decode(codec, errors="replace")

    def rows(self) -> Iterator[tuple[int, Sequence[Any], Problems]]:
        # Line by line: "\n" never occurs inside a UTF-8 or GB18030 character, so splitting is safe.
        records = csv.reader(self._lines())
        number = 0
        while True:
            try:
                record = next(records)
            except StopIteration:
                return
            except csv.Error as exc:
                message = f"第 {number + 1} 行无法解析 / row {number + 1}: {exc}"
                raise ReadingStopped(RowError((number + 1,), "", "csv.malformed", message)) from None
            number += 1
            problems: Problems = []
            if self._undecodable:
                self._undecodable = False
                label = self.ENCODINGS[self.encoding]
                problems.append(("row.encoding", f"第 {number} 行不是 {label} 编码 / row {number} is not {label}"))
            yield number, record, problems


def detect_encoding(head: bytes, *, at_end: bool) -> str:
    """utf-8-sig with a BOM; utf-8 when the first bytes decode as UTF-8; otherwise gb18030 (a superset of GBK).

    When the header line decodes as UTF-8 and only a later row does not, the file is UTF-8 with
    rows in another encoding: those rows become row errors instead of the whole file being misread.
    """
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        # Not final unless the file ends here: a character cut by the sniff window is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=at_end)
    except UnicodeDecodeError as exc:
        start = len(head) - len(head.lstrip())
        header_end = head.find(b"\n", start)
        return "utf-8" if 0 <= header_end < exc.start else "gb18030"
    return "utf-8"


class XlsxSheet:
    """The first worksheet, read-only, formulas as their cached values.

    Read-only mode cannot say which cells are merged: a merged cell's value is in its first cell and
    the others read as empty, which grouping fills in. A formula saved without its result also reads
    as empty; to tell it from an empty cell the sheet is read a second time with formulas, in step,
    but only when the workbook holds formulas at all (a quick scan of the sheet XML): it halves speed.
    """

    def __init__(self, path: Path, stream: BinaryIO) -> None:
        self.stream = stream
        self._books: list[Any] = []
        self._extra: BinaryIO | None = None
        try:
            book = openpyxl.load_workbook(stream, read_only=True, data_only=True)
            self._books.append(book)
            if _has_formulas(path):
                self._extra = path.open("rb")
                self._books.append(openpyxl.load_workbook(self._extra, read_only=True, data_only=False))
        except (zipfile.BadZipFile, InvalidFileException, KeyError, ParseError, OSError, ValueError) as exc:
            self.close()
            raise ImportFileError(f"无法读取 XLSX 文件 / cannot read the XLSX file: {exc}") from None
        self.sheets = [each.worksheets[0] for each in self._books]
        for sheet in self.sheets:
            sheet.reset_dimensions()  # some writers store a wrong sheet size: read the rows that are there
        self.describe = f"XLSX, 工作表 / sheet {self.sheets[0].title}"
        self.epoch = book.epoch

    @property
    def position(self) -> int:
        return self.stream.tell()

    def rows(self) -> Iterator[tuple[int, Sequence[Any], Problems]]:
        values = self.sheets[0].iter_rows(values_only=True)
        formulas = self.sheets[1].iter_rows(values_only=True) if len(self.sheets) > 1 else None
        number = 0
        try:
            for number, row in enumerate(values, start=1):
                if formulas is not None:
                    written = next(formulas, ())
                    row = tuple(
                        NO_CACHED_VALUE
                        if value is None and isinstance(formula, str) and formula.startswith("=")
                        else value
                        for value, formula in zip_longest(row, written)
                    )
                yield number, row, []
        except (ParseError, zipfile.BadZipFile, zlib.error, EOFError, KeyError) as exc:
            raise ReadingStopped(
                RowError(
                    (number + 1,),
                    "",
                    "xlsx.broken",
                    f"从第 {number + 1} 行起无法读取 / unreadable from row {number + 1}: {exc}",
                )
            ) from None

    def close(self) -> None:
        for book in self._books:
            book.close()
        if self._extra is not None:
            self._extra.close()


_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s>/]")


def _has_formulas(path: Path) -> bool:
    """Whether any worksheet XML holds a formula element; streamed, stops at the first."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                continue
            with archive.open(name) as part:
                tail = b""
                while chunk := part.read(1024 * 1024):
                    if _FORMULA_TAG.search(tail + chunk):
                        return True
                    tail = chunk[-16:]
    return False


class _SheetSource:
    def __init__(self, sheet: _Sheet, size: int, lookahead: int) -> None:
        self.sheet = sheet
        self.size = size
        self.ignored_columns: list[str] = []
        self.lookahead = max(1, lookahead)
        self.describe = sheet.describe

    @property
    def position(self) -> int:
        return self.sheet.position

    def items(self) -> Iterator[Item]:
        rows = self.sheet.rows()
        header = next((cells for _, cells, _ in rows if any(_present(cell) for cell in cells)), None)
        if header is None:
            raise EmptyFile("文件里没有表头行 / the file has no header row")
        columns = Columns.from_header(header)
        self.ignored_columns = columns.ignored
        with _Grouper(self.lookahead) as grouper:
            for number, cells, problems in rows:
                values, cell_problems = columns.read(cells, self.sheet.epoch)
                if any(values.values()) or problems or cell_problems:
                    yield from grouper.add(number, values, problems + cell_problems)
            yield from grouper.finish()


def _present(cell: Any) -> bool:
    return cell is not None and not (isinstance(cell, str) and not cell.strip())


@dataclass(frozen=True)
class Columns:
    """Where each template column is in the file, from its header row."""

    index: dict[str, int]
    ignored: list[str]

    @classmethod
    def from_header(cls, header: Sequence[Any]) -> Columns:
        names = [str(cell).strip().lstrip("\ufeff") if cell is not None else "" for cell in header]
        twice = sorted({name for name in names if name and names.count(name) > 1})
        if twice:
            raise ImportFileError(f"列重复 / columns appear twice: {', '.join(twice)}")
        missing = [column for column in REQUIRED_COLUMNS if column not in names]
        if missing:
            found = ", ".join(name for name in names if name) or "-"
            raise MissingColumns(
                f"缺少必填列：{', '.join(missing)}（文件中的列：{found}）/ missing required columns: "
                f"{', '.join(missing)} (columns in the file: {found})"
            )
        index = {name: position for position, name in enumerate(names) if name in TEMPLATE_COLUMNS}
        return cls(index, [name for name in names if name and name not in TEMPLATE_COLUMNS])

    def read(self, cells: Sequence[Any], epoch: datetime = EXCEL_EPOCH) -> tuple[dict[str, str], Problems]:
        """The row's template cells as text, and what is wrong with them."""
        values: dict[str, str] = {}
        problems: Problems = []
        for column, position in self.index.items():
            try:
                values[column] = cell_text(column, cells[position] if position < len(cells) else None, epoch)
            except CellProblem as problem:
                values[column] = ""
                problems.append((problem.code, problem.message))
        return values, problems


def cell_text(column: str, value: Any, epoch: datetime = EXCEL_EPOCH) -> str:
    """A cell as the text the manual mapping reads; `CellProblem` if it cannot be read at all."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("#") and text in EXCEL_ERRORS:
            raise CellProblem("cell.error", f"{column}：单元格是错误值 {text} / {column}: the cell is {text}")
        if column == ORDER_TIME:
            return order_time(text, epoch)
        if column in AMOUNT_COLUMNS:
            return text.lstrip("¥￥").replace(",", "").strip()
        return text
    if value is None:
        return ""
    if value is NO_CACHED_VALUE:
        raise CellProblem(
            "cell.formula_without_value",
            f"{column}：公式没有保存计算结果，请在 Excel 中打开并保存后再导入 / {column}: a formula saved without its "
            "result; open and save the file in Excel, then import again",
        )
    if column == ORDER_TIME:
        return order_time(value, epoch)
    if isinstance(value, float):
        if column in ID_COLUMNS and abs(value) >= 1e15:
            raise CellProblem(
                "cell.precision_lost",
                f"{column}：超过 15 位的数字已被 Excel 改动，请把该列设为文本后重新填写 / {column}: Excel keeps "
                "15 digits of a number; format the column as text and enter it again",
            )
        return _number_text(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value.isoformat() if isinstance(value, date) else str(value)


def _number_text(value: float) -> str:
    """A float cell as Excel shows it: 15 significant digits, so 59.699999999999996 is 59.7."""
    number = Decimal(format(value, ".15g"))
    return str(int(number)) if number == number.to_integral_value() else format(number, "f")


_LOOSE_TIME = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]+(\d{1,2})[:：](\d{1,2})(?:[:：](\d{1,2})(?:\.\d+)?)?)?"
)
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_SERIAL = re.compile(r"\d{5}(?:\.\d+)?")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def order_time(value: Any, epoch: datetime = EXCEL_EPOCH) -> str:
    """下单时间 as "YYYY-MM-DD HH:MM:SS" from an Excel date, an Excel serial or a loose form.

    What cannot be read is returned as written, for the mapping to refuse with the raw value.
    """
    if isinstance(value, datetime):
        return value.strftime(_TIME_FORMAT)
    if isinstance(value, date):
        return f"{value.isoformat()} 00:00:00"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _serial_time(float(value), epoch) or str(value)
    text = str(value).strip()
    if _SERIAL.fullmatch(text):
        return _serial_time(float(text), epoch) or text
    match = _LOOSE_TIME.fullmatch(text) or _COMPACT_DATE.fullmatch(text)
    if not match:
        return text
    try:
        return datetime(*(int(part or 0) for part in match.groups())).strftime(_TIME_FORMAT)
    except ValueError:
        return text


def _serial_time(serial: float, epoch: datetime) -> str | None:
    """An Excel serial day number as a time, to the second Excel shows; None outside 1900–2173."""
    if not 1 <= serial < 100_000:
        return None
    moment = from_excel(serial, epoch=epoch)
    if not isinstance(moment, datetime):
        return None
    return (moment + timedelta(microseconds=500_000)).strftime(_TIME_FORMAT)


# ---------------------------------------------------------------------------------------------
# Grouping rows into orders
# ---------------------------------------------------------------------------------------------


class _Group:
    """The rows of one 订单编号 seen so far."""

    def __init__(self, key: str, *, late: bool) -> None:
        self.key = key
        self.late = late
        self.rows: list[int] = []
        self.too_many = 0  # rows past MAX_ROWS_PER_ORDER, counted but not kept
        self.order: dict[str, str] = {}
        self.memos: list[str] = []
        self.conflicts: dict[str, list[str]] = {}
        self.lines: list[dict[str, str]] = []
        self.problems: list[tuple[int, str, str]] = []

    def continues(self, values: dict[str, str]) -> bool:
        """A row without 订单编号 whose order cells are blank or the same: the rest of a merged cell."""
        return all(
            not values.get(column) or values[column] == self.order.get(column)
            for column in ORDER_COLUMNS
            if column != MEMO
        )

    def add(self, number: int, values: dict[str, str], problems: Problems) -> None:
        if len(self.rows) >= MAX_ROWS_PER_ORDER:
            self.too_many += 1
            return
        self.rows.append(number)
        self.problems += [(number, code, message) for code, message in problems]
        for column in ORDER_COLUMNS:
            value = values.get(column, "")
            if not value:
                continue  # blank below the first row of an order, or the rest of a merged cell
            if column == MEMO:
                if value not in self.memos:  # notes may differ per line: all are kept
                    self.memos.append(value)
                continue
            held = self.order.setdefault(column, value)
            if held != value:
                seen = self.conflicts.setdefault(column, [held])
                if value not in seen:
                    seen.append(value)
        line = {column: values[column] for column in LINE_COLUMNS if values.get(column)}
        if line:
            self.lines.append(line)

    def result(self, lookahead: int) -> list[Item]:
        key, rows = self.key, tuple(self.rows)
        if self.late:
            return [
                RowError(
                    rows,
                    key,
                    "order.rows_too_far_apart",
                    f"这些行与订单 {key} 的前面几行相隔超过 {lookahead} 个订单，未导入；该订单只按前面的行处理，"
                    f"请按订单编号排序后重新导入 / these rows come more than {lookahead} orders after the "
                    f"earlier rows of order {key} and were not imported; the order was taken from its earlier "
                    "rows only: sort the file by 订单编号 and import it again",
                )
            ]
        if self.too_many:
            total = len(rows) + self.too_many
            return [
                RowError(
                    rows[:1],
                    key,
                    "order.too_many_rows",
                    f"订单 {key} 有 {total} 行，超过 {MAX_ROWS_PER_ORDER} 行，未导入 / order {key} has {total} rows, "
                    f"more than {MAX_ROWS_PER_ORDER}: not imported",
                )
            ]
        if self.problems:
            return [
                RowError((row,), key, code, f"{message}（订单 {key} 未导入 / order {key} not imported）")
                for row, code, message in self.problems
            ]
        if self.conflicts:
            listed = "; ".join(f"{column}: {' / '.join(values)}" for column, values in self.conflicts.items())
            return [
                RowError(
                    rows,
                    key,
                    "order.conflicting_values",
                    f"订单 {key} 各行的订单信息不一致，未导入 / the rows of order {key} disagree, "
                    f"not imported: {listed}",
                )
            ]
        payload = self.payload()
        return [FileOrder(key, rows, Incoming(raw="", source=SOURCE, payload=payload))]

    def payload(self) -> dict[str, Any]:
        """The grouped order object `mappings/manual.yaml` reads."""
        payload: dict[str, Any] = {ORDER_ID: self.key}
        for column in ORDER_COLUMNS:
            if column == MEMO and self.memos:
                payload[MEMO] = "；".join(self.memos)
            elif column in self.order:
                payload[column] = self.order[column]
        status = _derived_status(self.order.get(PAID, ""))
        if status:
            payload[DERIVED_STATUS] = status
        payload["lines"] = self.lines
        return payload


def _derived_status(paid: str) -> str:
    """已付款 when 实付金额 > 0, else 待付款; "" when the amount cannot be read (the mapping says why)."""
    try:
        amount = Decimal(paid)
    except InvalidOperation:
        return ""
    if not amount.is_finite():
        return ""
    return "已付款" if amount > 0 else "待付款"


class _Grouper:
    """Groups rows by 订单编号 in a bounded window of open orders.

    An order stays open until `lookahead` newer orders have started; then it is complete. Its key
    goes to a temporary on-disk table, so a row of it that turns up later is reported, rather than
    silently becoming a second, partial order, at flat memory however long the file.
    """

    def __init__(self, lookahead: int) -> None:
        self.lookahead = lookahead
        self.open: dict[str, _Group] = {}
        self.last: _Group | None = None
        self.closed = sqlite3.connect("")  # "": a private temporary database, deleted on close
        self.closed.execute("CREATE TABLE closed (key TEXT PRIMARY KEY) WITHOUT ROWID")

    def __enter__(self) -> _Grouper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed.close()

    def add(self, number: int, values: dict[str, str], problems: Problems) -> Iterator[Item]:
        key = values.get(ORDER_ID, "")
        if key:
            group = self.open.get(key)
            if group is None:
                late = self.closed.execute("SELECT 1 FROM closed WHERE key = ?", (key,)).fetchone() is not None
                group = self.open[key] = _Group(key, late=late)
                while len(self.open) > self.lookahead:
                    yield from self._close(next(iter(self.open)))
        elif self.last is not None and self.open.get(self.last.key) is self.last and self.last.continues(values):
            group = self.last
        else:
            yield RowError((number,), "", "row.no_order_id", f"第 {number} 行没有订单编号 / row {number}: no 订单编号")
            return
        group.add(number, values, problems)
        self.last = group

    def finish(self) -> Iterator[Item]:
        while self.open:
            yield from self._close(next(iter(self.open)))

    def _close(self, key: str) -> list[Item]:
        group = self.open.pop(key)
        self.closed.execute("INSERT OR IGNORE INTO closed VALUES (?)", (key,))
        return group.result(self.lookahead)


# ---------------------------------------------------------------------------------------------
# The downloadable template
# ---------------------------------------------------------------------------------------------

_TEMPLATE_FORMATS = {
    ORDER_TIME: "yyyy-mm-dd hh:mm:ss",
    **{column: "0.00" for column in AMOUNT_COLUMNS},
    # Text, so Excel keeps long order numbers, phones and ID numbers as typed.
    **{column: "@" for column in ID_COLUMNS},
}


def write_template(path: Path | str) -> Path:
    """Write the offline order template, header and one example order, as .csv (UTF-8 with BOM) or .xlsx."""
    path = Path(path)
    rows = [[row[column] for column in TEMPLATE_COLUMNS] for row in TEMPLATE_EXAMPLE]
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(TEMPLATE_COLUMNS)
            writer.writerows(rows)
        return path
    if suffix != ".xlsx":
        raise ImportFileError(f"模板只能写成 .csv 或 .xlsx / the template is written as .csv or .xlsx, not {suffix!r}")
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "订单"
    sheet.append(list(TEMPLATE_COLUMNS))
    for row in rows:
        sheet.append([_template_cell(column, value) for column, value in zip(TEMPLATE_COLUMNS, row, strict=True)])
    for position, column in enumerate(TEMPLATE_COLUMNS, start=1):
        letter = get_column_letter(position)
        sheet.cell(1, position).font = Font(bold=True)
        sheet.column_dimensions[letter].width = 22 if column in ID_COLUMNS or column in (ORDER_TIME, "详细地址") else 12
        if column in _TEMPLATE_FORMATS:
            sheet.column_dimensions[letter].number_format = _TEMPLATE_FORMATS[column]
            for cell in sheet[letter][1:]:
                cell.number_format = _TEMPLATE_FORMATS[column]
    sheet.freeze_panes = "A2"
    book.save(path)
    return path


def _template_cell(column: str, value: str) -> Any:
    if column == ORDER_TIME:
        return datetime.strptime(value, _TIME_FORMAT)
    if column in AMOUNT_COLUMNS:
        return Decimal(value)
    if column == "数量":
        return int(value)
    return value
