"""Typed errors of the finance domain."""

from __future__ import annotations

from orderhub.core.datafile import DataFileError
from orderhub.core.errors import Conflict, InvalidInput, NotFound


class StatementFileError(InvalidInput):
    """The statement file cannot be imported at all; nothing was stored."""

    code = "statement.unreadable"


class UnknownStatementFormat(StatementFileError):
    code = "statement.unknown_format"


class DiscrepancyNotFound(NotFound):
    code = "discrepancy.not_found"


class DiscrepancyClosed(Conflict):
    code = "discrepancy.closed"


class InvalidSelection(InvalidInput):
    code = "discrepancy.invalid_selection"


class ResolutionReasonRequired(InvalidInput):
    code = "discrepancy.reason_required"


class UnknownOwner(InvalidInput):
    code = "discrepancy.unknown_owner"


class SettlementBatchNotFound(NotFound):
    code = "settlement.not_found"


class FinanceRulesError(DataFileError):
    title = "invalid finance rules / 财务规则文件无效"


class StatementFormatError(DataFileError):
    title = "invalid statement format / 对账单格式文件无效"
