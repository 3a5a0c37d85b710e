"""Reading the ``acpw:*`` stack configuration: decoding the CLI's values, defaults that depend on
the stack, and turning pydantic's errors into one :class:`ConfigError` line per problem."""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from acpw.config.errors import CROSS_FIELD_ERROR, PROJECT, ConfigError, ConfigProblem
from acpw.config.models import AcpwConfig


def _is_structured(annotation: Any) -> bool:
    """True for a model, list or dict field: the CLI hands such values over as JSON text."""
    annotation = typing.get_origin(annotation) or annotation
    return annotation in (list, dict) or (
        isinstance(annotation, type) and issubclass(annotation, BaseModel)
    )


CONFIG_KEYS: tuple[str, ...] = tuple(
    field.alias or name for name, field in AcpwConfig.model_fields.items()
)
"""Every top-level ``acpw:`` key, as the user spells it."""

STRING_KEYS: frozenset[str] = frozenset(
    field.alias or name
    for name, field in AcpwConfig.model_fields.items()
    if not _is_structured(field.annotation)
)
"""Keys whose values are plain strings; the CLI hands every other key over as JSON."""


def _location(loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic error location (aliases) into the user's key, e.g. ``gateways[1].selector``."""
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += ("." if key else "") + part
    return key


def _qualified(key: str) -> str:
    return f"{PROJECT}:{key}" if key else PROJECT


def _format_errors(error: ValidationError) -> list[str]:
    problems: list[str] = []
    for item in error.errors():
        where = _location(item["loc"])
        if item["type"] == CROSS_FIELD_ERROR:
            # Found across fields (acpw.config.checks): each problem names its own key.
            found: tuple[ConfigProblem, ...] = item["ctx"]["problems"]
            problems.extend(
                f"{_qualified(p.key if p.absolute else '.'.join(filter(None, (where, p.key))))}: "
                f"{p.message}"
                for p in found
            )
            continue
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] == "missing":
            message = "required"
        elif item["type"] == "string_type" and isinstance(item["input"], int | float):
            message += (
                " (`pulumi config set --path` stores numbers and true/false as such: "
                "add `--type string`)"
            )
        elif item["type"] == "literal_error":
            message = (
                f"{item['input']!r} is not allowed: {item['msg'].removeprefix('Input should be ')}"
            )
        problems.append(f"{_qualified(where)}: {message}")
    return problems


def load_config(
    raw: Mapping[str, Any], *, project: str, stack: str, aws_region: str | None
) -> AcpwConfig:
    """Validate raw ``acpw:*`` values (keys without the ``acpw:`` prefix) into an :class:`AcpwConfig`.

    ``aws_region`` is the stack's ``aws:region``, the default of ``acpw:cloudwatch.region``.
    Raises :class:`ConfigError` listing every problem.
    """
    data = dict(raw)
    cloudwatch = data.get("cloudwatch")
    if cloudwatch is None or isinstance(cloudwatch, dict):
        cloudwatch = dict(cloudwatch or {})
        if cloudwatch.get("region") is None:
            if aws_region is None:
                raise ConfigError(
                    [f"{PROJECT}:cloudwatch.region: required when aws:region is not set"]
                )
            cloudwatch["region"] = aws_region
        data["cloudwatch"] = cloudwatch
    iam = data.get("iam")
    if iam is None or isinstance(iam, dict):
        iam = dict(iam or {})
        iam.setdefault("userName", f"{project}-{stack}"[:64])
        data["iam"] = iam
    try:
        return AcpwConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_errors(error)) from None


def parse_raw_values(values: Mapping[str, str]) -> dict[str, Any]:
    """Decode the CLI's string config values (``acpw:`` prefix stripped): objects and lists are JSON."""
    raw: dict[str, Any] = {}
    problems: list[str] = []
    for key, text in values.items():
        if key in STRING_KEYS:
            raw[key] = text
            continue
        try:
            raw[key] = json.loads(text)
        except (TypeError, json.JSONDecodeError):
            problems.append(
                f"{PROJECT}:{key}: must be a structured value (object or list), got {text!r}"
            )
    if problems:
        raise ConfigError(problems)
    return raw


def read_stack_config() -> dict[str, Any]:
    """All ``acpw:*`` values of the running stack, decoded (unknown keys kept, so they are refused)."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    values = {
        key.split(":", 1)[1]: runtime_config.get_config(key)
        for key in sorted(keys)
        if key.startswith(f"{PROJECT}:")
    }
    return parse_raw_values(values)
