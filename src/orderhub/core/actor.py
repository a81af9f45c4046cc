"""Who does something: a user, or a part of the system such as a channel or the worker."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    name: str
    source: str  # api, console, channel, worker, cli
    permissions: frozenset[str] = frozenset()

    def can(self, permission: str) -> bool:
        return permission in self.permissions
