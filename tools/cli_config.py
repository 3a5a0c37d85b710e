"""The Pulumi CLI's project-config rules, applied to a stack file before the program runs.

``pulumi preview`` / ``up`` merge the project's ``config`` declarations (``Pulumi.yaml``) into the
stack's config and refuse the stack before the program starts. This module does the same for the
offline render, with the CLI's messages. Source: pulumi/pulumi at commit
1b5949891b3cefcb9974752b24a5ecef0acc86c8 (the commit of the pinned project schema):

* ``pkg/workspace/config.go``, ``mergeConfig``: declared keys are visited in sorted order. A key in
  the project's namespace with neither ``default`` nor ``value`` that the stack does not set is
  missing; all missing keys are reported together by ``missingStackConfigurationKeysError``:
  ``Stack 'dev' is missing configuration value 'a'`` / ``values 'a' and 'b'`` / ``values 'a', 'b'
  and 'c'`` (``formatMissingKeys``: sorted, quoted, ", " between all but the last two, " and "
  before the last). A declared key the stack does not set gets its ``default`` (or ``value``):
  ``createConfigValue`` keeps strings, integers and booleans as plain text (Go ``%v``) and turns
  anything else into a JSON object value.
* same file, ``validateStackConfigValue``: then every explicitly typed declared key (sorted) is
  checked; the first failure stops: ``Stack 'dev' with configuration key 'k' must be encrypted as
  it's secret`` for a ``secret: true`` key set in plain text, else ``Stack 'dev' with configuration
  key 'k' must be of type 'array<string>'`` (``workspace.InferFullTypeName``). A plain (non-object)
  stack value is checked as its text; an object value as its decoded JSON.
* ``sdk/go/common/workspace/project.go``, ``ValidateConfigValue``: ``string`` accepts text;
  ``integer`` a whole number or text ``strconv.Atoi`` parses; ``boolean`` a bool or the text
  ``true``/``false``; ``object`` a map; ``array`` a list whose items all match ``items``.
* Keys the project does not declare are passed through: current CLIs do not refuse them
  (older releases said "... which is not defined by the project configuration").
* ``sdk/go/common/resource/config/object.go``, ``MarshalString``: a stack value that is a YAML
  scalar reaches the program as text (``true``, ``3``, ``1.13``); a map or list as compact JSON.

The program receives every value as a string (``PULUMI_CONFIG``); :func:`program_config` returns
exactly those strings.

Not modelled: values from a stack's ESC ``environment`` (merged into the stack config first by
the CLI), and decryption: a ``secure:`` value is type-checked by the CLI after decrypting it,
here it is passed through as its ciphertext.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class StackConfigError(Exception):
    """The CLI would refuse this stack before running the program (the CLI's message)."""


@dataclass(frozen=True)
class ConfigValue:
    """A config value as the CLI holds it: its text, and whether the text is JSON (an object value)."""

    text: str
    object: bool = False
    secure: bool = False

    def content(self) -> Any:
        """What the CLI type-checks: the decoded JSON of an object value, else the text."""
        return json.loads(self.text) if self.object else self.text


def _go_json(value: Any) -> str:
    """``json.Marshal`` of a decoded YAML value: compact, sorted keys, whole floats as integers,
    and Go's HTML-safe escapes."""
    text = json.dumps(_whole_floats(value), separators=(",", ":"), sort_keys=True)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text


def _whole_floats(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_floats(v) for v in value]
    return value


def stack_value(raw: Any) -> ConfigValue:
    """A value read from ``Pulumi.<stack>.yaml`` as the CLI holds it."""
    if isinstance(raw, dict) and set(raw) == {"secure"} and isinstance(raw["secure"], str):
        return ConfigValue(raw["secure"], secure=True)
    if isinstance(raw, str):
        return ConfigValue(raw)
    if isinstance(raw, bool | int | float):
        return ConfigValue(_go_json(raw))
    return ConfigValue(_go_json(raw), object=True)


def default_value(raw: Any) -> ConfigValue:
    """A declared ``default``/``value`` as ``createConfigValue`` turns it into a config value."""
    if isinstance(raw, bool):
        return ConfigValue("true" if raw else "false")
    if isinstance(raw, str | int):
        return ConfigValue(str(raw))
    return ConfigValue(_go_json(raw), object=True)


def full_key(project: str, key: str) -> str:
    """``parseConfigKey``: a key without a namespace is in the project's."""
    return key if ":" in key else f"{project}:{key}"


def format_missing_keys(keys: list[str]) -> str:
    """``formatMissingKeys``: ``'a'``, ``'a' and 'b'``, ``'a', 'b' and 'c'``."""
    quoted = [f"'{k}'" for k in sorted(keys)]
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def type_name(declaration: Mapping[str, Any]) -> str:
    """``InferFullTypeName``: ``array<string>``, ``array<array<integer>>``, ``object``."""
    items = declaration.get("items")
    if isinstance(items, Mapping):
        return f"array<{type_name(items)}>"
    return str(declaration.get("type"))


_ATOI = re.compile(r"^[+-]?[0-9]+$")


def matches_type(type_: str, items: Mapping[str, Any] | None, value: Any) -> bool:
    """``ValidateConfigValue``."""
    if type_ == "string":
        return isinstance(value, str)
    if type_ == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return True
        if isinstance(value, float):
            return math.isfinite(value) and value == math.trunc(value)
        return isinstance(value, str) and bool(_ATOI.match(value))
    if type_ == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if type_ == "object":
        return isinstance(value, dict)
    if not isinstance(value, list) or not isinstance(items, Mapping):
        return False
    return all(matches_type(str(items.get("type")), items.get("items"), item) for item in value)


def merge(
    project: Mapping[str, Any], stack: str, stack_config: Mapping[str, Any]
) -> dict[str, ConfigValue]:
    """The stack's config after ``mergeConfig``; raises :class:`StackConfigError` as the CLI would.

    ``stack_config`` is the ``config:`` map of ``Pulumi.<stack>.yaml`` as YAML loads it.
    """
    name = str(project["name"])
    merged = {full_key(name, k): stack_value(v) for k, v in stack_config.items()}
    declarations: Mapping[str, Any] = project.get("config") or {}
    missing = []
    for key in sorted(declarations):
        declaration = declarations[key]
        if not isinstance(declaration, Mapping):  # shorthand `key: value` is a value
            declaration = {"value": declaration}
        config_key = full_key(name, key)
        if config_key in merged:
            continue
        has_default, has_value = "default" in declaration, "value" in declaration
        if not has_default and not has_value:
            if config_key.split(":", 1)[0] == name:
                missing.append(key)
            continue
        merged[config_key] = default_value(declaration["default" if has_default else "value"])
    if missing:
        plural = "values" if len(missing) > 1 else "value"
        raise StackConfigError(
            f"Stack '{stack}' is missing configuration {plural} {format_missing_keys(missing)}"
        )
    for key in sorted(declarations):
        declaration = declarations[key]
        if not isinstance(declaration, Mapping) or "type" not in declaration:
            continue
        value = merged.get(full_key(name, key), ConfigValue(""))
        if declaration.get("secret") and not value.secure:
            raise StackConfigError(
                f"Stack '{stack}' with configuration key '{key}' must be encrypted as it's secret"
            )
        if value.secure:
            continue  # only the CLI can decrypt it; the offline render cannot check its type
        if not matches_type(str(declaration["type"]), declaration.get("items"), value.content()):
            raise StackConfigError(
                f"Stack '{stack}' with configuration key '{key}' must be of type "
                f"'{type_name(declaration)}'"
            )
    return merged


def program_config(
    project: Mapping[str, Any], stack: str, stack_config: Mapping[str, Any]
) -> dict[str, str]:
    """What the program receives (``PULUMI_CONFIG``): every merged key and its text."""
    return {key: value.text for key, value in merge(project, stack, stack_config).items()}
