"""Reading the ``acpw:*`` stack configuration: decoding the CLI's values, defaults that depend on
the stack, and turning pydantic's errors into one :class:`ConfigError` line per problem."""

from __future__ import annotations

import difflib
import json
import re
import typing
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from acpw.config.checks import validate
from acpw.config.errors import PROJECT, SHOWN_LIMIT, ConfigError, shown
from acpw.config.formats import AWS_PARTITION, region_partition
from acpw.config.models import AcpwConfig, partition_message

REGION_KEY = "cloudwatch.region"
REGION_FROM_AWS = f"aws:region (the default of {PROJECT}:{REGION_KEY})"
"""Where a problem of the region is reported when the region came from ``aws:region``."""


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
            # A user's key (an unknown key, a tag or label name): cut short like a value.
            key += ("." if key else "") + (
                part if len(part) <= SHOWN_LIMIT else part[:SHOWN_LIMIT] + "…"
            )
    return key


_NUMBER_TEXT_RE = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")


def _model_fields_at(loc: tuple[int | str, ...]) -> dict[str, Any] | None:
    """The fields (by the user's key) of the config object that holds the last step of ``loc``."""
    model: Any = AcpwConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue  # a list entry: the list's item model was taken at its key
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        if part not in fields:
            return None
        model = _object_model(fields[part].annotation)
        if model is None:
            return None
    return {f.alias or n: f for n, f in model.model_fields.items()}


def _object_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds: itself, a list's item or an optional's value (else None)."""
    candidates = [annotation]
    while candidates:
        current = candidates.pop()
        if isinstance(current, type) and issubclass(current, BaseModel):
            return current
        candidates.extend(typing.get_args(current))
    return None


def _unknown_key_message(loc: tuple[int | str, ...]) -> str:
    """``unknown key``, the allowed keys and, when one is close, the likely one."""
    fields = _model_fields_at(loc)
    if not fields:
        return "unknown key"
    allowed = sorted(fields)
    message = f"unknown key; allowed: {', '.join(allowed)}"
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    return message


def _qualified(key: str, *, region_from_aws: bool = False) -> str:
    if region_from_aws and key == REGION_KEY:
        return REGION_FROM_AWS
    return f"{PROJECT}:{key}" if key else PROJECT


def _format_errors(error: ValidationError, *, region_from_aws: bool = False) -> list[str]:
    problems: list[str] = []
    for item in error.errors():
        where = _location(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = _unknown_key_message(item["loc"])
        elif item["type"] == "missing":
            message = "required"
        elif item["type"] == "string_type" and isinstance(item["input"], int | float):
            message += (
                " (`pulumi config set --path` stores numbers and true/false as such: "
                "add `--type string`)"
            )
        elif item["type"] == "int_type" and isinstance(item["input"], str):
            if _NUMBER_TEXT_RE.match(item["input"].strip()):
                message += f" ({shown(item['input'])} is text: write the number without quotes)"
            else:
                message = f"{shown(item['input'])} is not a whole number"
        elif item["type"] == "literal_error":
            message = (
                f"{shown(item['input'])} is not allowed: "
                f"{item['msg'].removeprefix('Input should be ')}"
            )
        problems.append(f"{_qualified(where, region_from_aws=region_from_aws)}: {message}")
    return problems


def load_config(
    raw: Mapping[str, Any],
    *,
    project: str,
    stack: str,
    aws_region: str | None,
    secret_keys: Collection[str] = (),
) -> AcpwConfig:
    """Validate raw ``acpw:*`` values (keys without the ``acpw:`` prefix) into an :class:`AcpwConfig`.

    ``aws_region`` is the stack's ``aws:region``, the default of ``acpw:cloudwatch.region``; a
    problem of the region is then reported at ``aws:region``. The AWS provider creates the IAM
    user in ``aws:region``'s partition, so that must be the aws partition even when
    ``acpw:cloudwatch.region`` is set. Every field is validated by the models, then, when all
    are valid, the rules across fields (:func:`acpw.config.checks.validate`); its warnings are
    left to the caller (:func:`acpw.config.checks.config_warnings`). Raises :class:`ConfigError`
    listing every problem; one at or under ``secret_keys`` (keys without ``acpw:``, e.g. from
    :func:`secret_stack_keys`) without its text, which may quote the value.
    """
    try:
        return _load_config(raw, project=project, stack=stack, aws_region=aws_region)
    except ConfigError as error:
        if not secret_keys:
            raise
        raise error.hiding(secret_keys) from None


def _load_config(
    raw: Mapping[str, Any], *, project: str, stack: str, aws_region: str | None
) -> AcpwConfig:
    data = dict(raw)
    early: list[str] = []
    region_from_aws = False
    if aws_region is not None and region_partition(aws_region) != AWS_PARTITION:
        early.append(
            f"aws:region: {partition_message(aws_region, region_partition(aws_region))}; the IAM "
            f"user and its key are created in aws:region's partition"
        )
    cloudwatch = data.get("cloudwatch")
    if cloudwatch is None or isinstance(cloudwatch, dict):
        cloudwatch = dict(cloudwatch or {})
        if cloudwatch.get("region") is None:
            if aws_region is None:
                raise ConfigError(
                    [f"{PROJECT}:cloudwatch.region: required when aws:region is not set"]
                )
            cloudwatch["region"] = aws_region
            region_from_aws = True
        data["cloudwatch"] = cloudwatch
    iam = data.get("iam")
    if iam is None or isinstance(iam, dict):
        iam = dict(iam or {})
        iam.setdefault("userName", f"{project}-{stack}"[:64])
        data["iam"] = iam
    try:
        config = AcpwConfig.model_validate(data)
    except ValidationError as error:
        problems = _format_errors(error, region_from_aws=region_from_aws)
        if early:  # aws:region's partition is already reported: not again as the default
            problems = [p for p in problems if not p.startswith(f"{REGION_FROM_AWS}:")]
        raise ConfigError(early + problems) from None
    problems = [
        f"{_qualified(p.key, region_from_aws=region_from_aws)}: {p.message}"
        for p in validate(config).problems
    ]
    if early or problems:
        raise ConfigError(early + problems)
    return config


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
        except (TypeError, ValueError):  # JSONDecodeError, or an integer too long to convert
            problems.append(
                f"{PROJECT}:{key}: must be a structured value (object or list), got {shown(text)}"
            )
    if problems:
        raise ConfigError(problems)
    return raw


def secret_stack_keys() -> set[str]:
    """The ``acpw:*`` keys of the running stack set with ``--secret`` (without ``acpw:``)."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    secret = {k for k in keys if runtime_config.is_config_secret(k)}
    secret |= set(runtime_config.get_config_secret_keys_env())
    return {k.split(":", 1)[1] for k in secret if k.startswith(f"{PROJECT}:")}


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
