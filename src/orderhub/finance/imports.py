"""`orderhub statements import`: a statement file in, its lines stored once each, every refusal reported.

Lines are stored in batches, one transaction each, with INSERT … ON CONFLICT DO NOTHING on their
natural key (source, kind, transaction id): importing a file twice, or the same lines in another
file, stores nothing twice and says how many were already there. A repeat whose figures differ
from the stored line is refused (the stored line is never changed). Refused rows go to
`<file>.errors.csv`; the report's counts add up to the rows read.
"""

from __future__ import annotations

import csv
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from orderhub.core.actor import Actor
from orderhub.core.db import insert_ignoring_conflicts
from orderhub.finance.model import Source, StatementFile, StatementLine
from orderhub.finance.reader import LineError, ParsedLine, Skipped, open_statement
from orderhub.runtime import Runtime

BATCH_SIZE = 1_000
PROGRESS_EVERY = 500
# The figures a repeat must agree on to be the same line.
_COMPARED = ("amount_fen", "reference", "fee_fen", "net_fen")

Progress = Callable[[int, int], None]  # (bytes read, bytes in the file)


@dataclass
class StatementReport:
    path: Path
    source: str
    format: str = ""
    describe: str = ""
    file_id: int | None = None
    read: int = 0  # data rows
    new: int = 0
    duplicate: int = 0  # already stored (from this or another file), or repeated within the file
    refused: int = 0
    skipped: int = 0  # rows that are not statement lines (revoked payments, bank debits)
    ignored_columns: list[str] = field(default_factory=list)
    imported_before: list[tuple[int, datetime]] = field(default_factory=list)  # same file: (file id, when)
    summary: dict[str, str] = field(default_factory=dict)
    errors_path: Path | None = None
    samples: list[LineError] = field(default_factory=list)
    business_dates: set[date] = field(default_factory=set)
    seconds: float = 0.0

    def figures(self) -> list[tuple[str, int]]:
        return [("读取 read", self.read), ("新增 new", self.new), ("已导入 already imported", self.duplicate),
                ("拒绝 refused", self.refused), ("跳过 skipped", self.skipped)]


class _ErrorLog:
    """`<file>.errors.csv` (UTF-8 with BOM, for Excel), written as errors come; an old one is removed first."""

    HEADER = ("行号 row", "交易号 transaction", "错误代码 code", "说明 message")
    SAMPLES = 10

    def __init__(self, path: Path, report: StatementReport) -> None:
        self.path, self.report = path, report
        self._file: IO[str] | None = None
        self._writer: Any = None
        path.unlink(missing_ok=True)

    def add(self, error: LineError) -> None:
        if self._file is None:
            self._file = self.path.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._file)
            self._writer.writerow(self.HEADER)
            self.report.errors_path = self.path
        self._writer.writerow((error.row, error.txn_id, error.code, error.message))
        if len(self.report.samples) < self.SAMPLES:
            self.report.samples.append(error)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            sha.update(chunk)
    return sha.hexdigest()


def import_statement(
    runtime: Runtime,
    path: Path | str,
    *,
    source: Source,
    format_name: str | Path | None = None,
    account: str = "",
    actor: Actor,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> StatementReport:
    """Import `path` as a statement of `source`; `StatementFileError` (nothing stored) if it cannot be read."""
    path = Path(path)
    report = StatementReport(path=path, source=source.value)
    started = time.monotonic()
    now = runtime.clock.now()
    zone = runtime.settings.zone
    log = _ErrorLog(path.with_name(path.name + ".errors.csv"), report)
    try:
        with open_statement(path, source=source, format_name=format_name, now=now, account=account) as (opened, items):
            assert opened.layout is not None
            report.format, report.describe = opened.format_name, opened.describe
            report.ignored_columns = opened.ignored_columns
            digest = _digest(path)
            with runtime.uow() as uow:
                report.imported_before = list(uow.session.execute(
                    select(StatementFile.id, StatementFile.imported_at).where(
                        StatementFile.sha256 == digest, StatementFile.source == source.value)
                    .order_by(StatementFile.id)))
                record = StatementFile(source=source.value, format=opened.format_name, account=account[:64],
                                       file_name=path.name[:255], sha256=digest, imported_at=now,
                                       imported_by=actor.name)
                uow.session.add(record)
                uow.commit()
                report.file_id = record.id
            batch: list[ParsedLine] = []
            for item in items:
                if isinstance(item, Skipped):
                    report.read += 1
                    report.skipped += 1
                elif isinstance(item, LineError):
                    report.read += 1
                    report.refused += 1
                    log.add(item)
                else:
                    report.read += 1
                    batch.append(item)
                    if len(batch) >= batch_size:
                        _store(runtime, batch, report, log, source, zone, now)
                        batch = []
                if progress and report.read % PROGRESS_EVERY == 0:
                    progress(opened.position, opened.size)
            if batch:
                _store(runtime, batch, report, log, source, zone, now)
            report.summary = opened.summary
            if progress:
                progress(opened.size, opened.size)
        with runtime.uow() as uow:
            stored = uow.session.get(StatementFile, report.file_id)
            assert stored is not None
            stored.lines_read, stored.lines_new, stored.lines_duplicate = report.read, report.new, report.duplicate
            stored.lines_refused, stored.lines_skipped = report.refused, report.skipped
            uow.commit()
    finally:
        log.close()
    report.seconds = time.monotonic() - started
    return report


def _store(runtime: Runtime, batch: list[ParsedLine], report: StatementReport, log: _ErrorLog, source: Source,
           zone: Any, now: datetime) -> None:
    """One batch in one transaction: new lines stored, repeats counted, conflicting repeats refused."""
    first: dict[tuple[str, str], ParsedLine] = {}
    repeats: list[ParsedLine] = []
    for line in batch:
        if line.key in first:
            repeats.append(line)
        else:
            first[line.key] = line
    rows = [_row(line, source, report.file_id, zone, now) for line in first.values()]
    with runtime.uow() as uow:
        session = uow.session
        table = StatementLine.__table__
        inserted = set(session.execute(
            insert_ignoring_conflicts(session, table).returning(table.c.kind, table.c.txn_id), rows))
        stored = _stored(session, source, [key for key in first if key not in inserted])
        uow.commit()
    report.new += len(inserted)
    for key in inserted:
        report.business_dates.add(first[key].occurred_at.astimezone(zone).date())
    for line in [first[key] for key in first if key not in inserted] + repeats:
        held = stored.get(line.key) or _as_stored(first[line.key])
        different = [name for name in _COMPARED if getattr(line, name) != held[name]]
        if different:
            report.refused += 1
            log.add(LineError(line.row, line.txn_id, "line.conflicts_with_stored", _conflict(line, held, different)))
        else:
            report.duplicate += 1


def _as_stored(line: ParsedLine) -> dict[str, Any]:
    return {name: getattr(line, name) for name in _COMPARED}


def _stored(session: Session, source: Source, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    if not keys:
        return {}
    line = StatementLine
    rows = session.execute(
        select(line.kind, line.txn_id, *[getattr(line, name) for name in _COMPARED], line.file_id)
        .where(line.source == source.value, tuple_(line.kind, line.txn_id).in_(keys))
    ).mappings()
    return {(row["kind"], row["txn_id"]): dict(row) for row in rows}


def _conflict(line: ParsedLine, held: dict[str, Any], different: list[str]) -> str:
    listed = ", ".join(f"{name}: {held[name]} → {getattr(line, name)}" for name in different)
    if "file_id" in held:
        where = f"（文件 #{held['file_id']}）/ (file #{held['file_id']})"
    else:
        where = "（本文件较早的行）/ (earlier in this file)"
    return (f"交易 {line.txn_id} 已导入，但数据不同，未覆盖 {where}: {listed} / transaction {line.txn_id} was imported "
            f"before with other figures; the stored line is kept: {listed}")


def _row(line: ParsedLine, source: Source, file_id: int | None, zone: Any, now: datetime) -> dict[str, Any]:
    return {
        "source": source.value, "kind": line.kind.value, "txn_id": line.txn_id, "file_id": file_id, "row_no": line.row,
        "account": line.account, "channel": line.channel, "reference": line.reference,
        "refund_reference": line.refund_reference, "batch_no": line.batch_no, "occurred_at": line.occurred_at,
        "business_date": line.occurred_at.astimezone(zone).date(), "amount_fen": line.amount_fen,
        "fee_fen": line.fee_fen, "fee_rate_ppm": line.fee_rate_ppm, "commission_fen": line.commission_fen,
        "net_fen": line.net_fen, "counterparty": line.counterparty, "memo": line.memo, "imported_at": now,
    }

