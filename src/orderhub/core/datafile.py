"""Merchant-editable data files (rules, channel mappings): strict YAML read into a Pydantic model.

Every defect is reported at once with where it is, so a person fixing a file fixes it in one go.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

M = TypeVar("M", bound=BaseModel)


class DataFileError(Exception):
    """The file cannot be used; `problems` lists every defect found, not just the first."""

    title = "invalid data file / 数据文件无效"

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        listed = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{self.title}: {path}\n{listed}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; in a rules or mapping file that silently drops one."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def describe(error: ErrorDetails) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] != "missing" and isinstance(error.get("input"), str | int | float | bool):
        message += f" (got {error['input']!r})"
    return f"{where}: {message}"


def load_model(path: Path, model: type[M], error: type[DataFileError] = DataFileError) -> M:
    """Read `path` as YAML (duplicate keys refused) and validate it as `model`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(path, [f"cannot read the file: {exc}"]) from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise error(path, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(data, dict):
        raise error(path, ["the file must be a YAML mapping"])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(path, [describe(e) for e in exc.errors()]) from exc
