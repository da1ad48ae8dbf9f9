"""Reading a YAML configuration file into a pydantic model, with one error shape for every file.

Every problem raises the caller's error type as `<what> <path>: <key.path>: <message>`, e.g.
`rules file r.yaml: thresholds.potassium_low: Input should be a valid number`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


def _key_path(loc: tuple[int | str, ...], data: Any) -> str:
    """pydantic's error location as the file's key path, without the tags of unions and validators."""
    parts: list[str] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(part, str) and "[" in part and part != "[key]":
            continue  # 'function-before[...]', 'list[...]'
        if isinstance(part, str) and not last and isinstance(node, dict) and part not in node:
            continue  # a union member's tag, such as a receiver's type
        parts.append(str(part))
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return ".".join(parts) or "(top level)"


def describe(error: ValidationError, data: Any) -> str:
    """`key.path: message; ...`, one entry per key (alternatives of a union joined with 'or')."""
    problems: dict[str, list[str]] = {}
    for item in error.errors(include_url=False):
        problems.setdefault(_key_path(item["loc"], data), []).append(item["msg"])
    return "; ".join(f"{key}: {' or '.join(msgs)}" for key, msgs in problems.items())


def validate_document(data: Any, model: type[ModelT], *, source: str, error: type[Exception]) -> ModelT:
    """Validate a parsed document (None, an empty file, counts as `{}`) or raise `error` naming the key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise error(f"{source}: (top level): must be a mapping of keys to values")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(f"{source}: {describe(exc, data)}") from None


def load_yaml_model(path: Path, model: type[ModelT], *, what: str, error: type[Exception]) -> ModelT:
    """Read `path` as YAML and validate it as `model`; any problem raises `error("<what> <path>: ...")`."""
    source = f"{what} {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{source}: cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML: {exc}") from None
    return validate_document(data, model, source=source, error=error)
