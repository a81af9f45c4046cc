"""Typed errors: services raise these; one handler renders them as the JSON error shape."""

from __future__ import annotations

from typing import Any, ClassVar


class OrderHubError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the error's answer carries (a throttled caller's Retry-After)."""
        return {}


class NotFound(OrderHubError):
    code, status = "not_found", 404


class Conflict(OrderHubError):
    code, status = "conflict", 409


class InvalidInput(OrderHubError):
    code, status = "request.invalid", 422


class Unauthenticated(OrderHubError):
    code, status = "auth.unauthenticated", 401


class Forbidden(OrderHubError):
    code, status = "auth.forbidden", 403


class StaleVersion(OrderHubError):
    """Optimistic lock: someone changed the record since the caller read it."""

    code, status = "conflict.stale_version", 409
