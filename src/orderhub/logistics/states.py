"""Unified tracking states and how kuaidi100's codes and texts map onto them (the tables are data: states.yaml)."""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from orderhub.core.datafile import DataFileError, load_model

STATES_FILE = Path(__file__).with_name("states.yaml")


class TrackingState(StrEnum):
    PENDING = "pending"  # bound, nothing heard from the carrier yet
    COLLECTED = "collected"
    IN_TRANSIT = "in_transit"
    CUSTOMS = "customs"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    REJECTED = "rejected"
    RETURNING = "returning"
    RETURNED = "returned"


# Nothing more will happen to the parcel: polling stops.
FINAL = frozenset({TrackingState.DELIVERED, TrackingState.RETURNED})

class StatesFileError(DataFileError):
    title = "invalid tracking states file / 物流状态映射文件无效"


class KeywordRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    words: list[str] = Field(min_length=1)
    state: TrackingState


class StateTables(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    states: dict[str, TrackingState]
    statuses: dict[str, TrackingState]
    keywords: list[KeywordRule]
    default: TrackingState

    def of_event(self, *, status: str, text: str) -> TrackingState:
        """An event's state: its own `status` if kuaidi100 sent one it names, else the words of its text."""
        if status in self.statuses:
            return self.statuses[status]
        for rule in self.keywords:
            if any(word in text for word in rule.words):
                return rule.state
        return self.default

    def of_code(self, code: str) -> TrackingState | None:
        """lastResult.state (the newest event's state); None for a code the table does not know."""
        return self.states.get(code)


@cache
def state_tables(path: Path = STATES_FILE) -> StateTables:
    return load_model(path, StateTables, StatesFileError)
