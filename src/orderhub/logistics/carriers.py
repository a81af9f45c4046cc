"""Carriers: OrderHub's codes, kuaidi100's `com` codes and the names platforms use (data: carriers.yaml)."""

from __future__ import annotations

from functools import cache, cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orderhub.core.datafile import DataFileError, load_model

CARRIERS_FILE = Path(__file__).with_name("carriers.yaml")


class CarriersFileError(DataFileError):
    title = "invalid carriers file / 快递公司文件无效"


class CarrierEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kuaidi100: str = Field(pattern=r"^[a-z0-9]+$")
    aliases: list[str] = Field(default_factory=list)


class CarrierTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    carriers: dict[str, CarrierEntry]

    @model_validator(mode="after")
    def _unambiguous(self) -> CarrierTable:
        seen: dict[str, str] = {}
        for code, entry in self.carriers.items():
            for name in [code, entry.kuaidi100, *entry.aliases]:
                key = name.strip().lower()
                if seen.setdefault(key, code) != code:
                    raise ValueError(f"{name!r} names both {seen[key]} and {code}")
        return self

    @cached_property
    def _by_name(self) -> dict[str, str]:
        return {name.strip().lower(): code for code, entry in self.carriers.items()
                for name in [code, entry.kuaidi100, *entry.aliases]}

    @cached_property
    def _by_com(self) -> dict[str, str]:
        return {entry.kuaidi100: code for code, entry in self.carriers.items()}

    def resolve(self, name: str) -> str | None:
        """Our carrier code for a code, kuaidi100 code or platform name ("中通快递", "zhongtong"); None if unknown."""
        return self._by_name.get(name.strip().lower())

    def com_of(self, code: str) -> str | None:
        entry = self.carriers.get(code)
        return entry.kuaidi100 if entry else None

    def name_of(self, code: str) -> str:
        """The carrier's display name (its first alias)."""
        entry = self.carriers.get(code)
        return entry.aliases[0] if entry and entry.aliases else code

    def code_of_com(self, com: str) -> str | None:
        return self._by_com.get(com)


@cache
def carrier_table(path: Path = CARRIERS_FILE) -> CarrierTable:
    return load_model(path, CarrierTable, CarriersFileError)
