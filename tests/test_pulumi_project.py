"""Pulumi.yaml loads in the real CLI: its JSON Schema and the CLI's config-declaration rules."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from acpw.config import CONFIG_KEYS, AcpwConfig
from tools.render import ROOT

SCHEMA = Path(
    os.environ.get("ACPW_PULUMI_SCHEMA", ROOT.parent / "shared" / "pulumi-schemas" / "project.json")
)
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
TYPE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def cli_config_problems(project: dict[str, Any]) -> list[str]:
    """The checks of the CLI's Project.Validate for config declarations (see pulumi-schemas/README)."""
    name = project["name"]
    problems = []
    for key, declaration in (project.get("config") or {}).items():
        if not isinstance(declaration, dict):
            continue
        own = ":" not in key or key.startswith(f"{name}:")
        if not own:
            if "type" in declaration or "default" in declaration:
                problems.append(
                    f"Configuration key '{key}' is not namespaced by the project and should not define a type"
                )
            if "value" not in declaration:
                problems.append(
                    f"Configuration key '{key}' is not namespaced by the project and should set a value"
                )
        if "default" in declaration and "value" in declaration:
            problems.append(f"{key}: both default and value")
        kind = declaration.get("type")
        if kind == "array" and "items" not in declaration:
            problems.append(f"{key}: array type needs items")
        if "default" in declaration and kind and not TYPE_CHECKS[kind](declaration["default"]):
            problems.append(f"{key}: default does not match type {kind}")
    return problems


def test_pulumi_yaml_matches_the_cli_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator(schema).validate(PROJECT)


def test_pulumi_yaml_follows_the_cli_config_rules() -> None:
    assert PROJECT["name"] == "acpw"
    assert cli_config_problems(PROJECT) == []


def test_the_rule_checker_catches_a_foreign_typed_key() -> None:
    foreign = {
        "name": "aws-cloudwatch-proxy-wasm",
        "config": {"acpw:istioVersion": {"type": "string"}},
    }
    assert any("not namespaced by the project" in p for p in cli_config_problems(foreign))
    assert cli_config_problems({"name": "x", "config": {"a": {"type": "array"}}}) == [
        "a: array type needs items"
    ]
    assert cli_config_problems(
        {"name": "x", "config": {"a": {"type": "integer", "default": "1"}}}
    ) == ["a: default does not match type integer"]


def test_every_config_key_is_declared_with_a_description() -> None:
    declared = {k.split(":", 1)[1] for k in PROJECT["config"] if k.startswith("acpw:")}
    assert declared == set(CONFIG_KEYS)
    assert all(d.get("description") for d in PROJECT["config"].values())


def test_declared_defaults_equal_the_model_defaults() -> None:
    fields = {f.alias or n: f for n, f in AcpwConfig.model_fields.items()}
    for key, declaration in PROJECT["config"].items():
        if "default" not in declaration:
            continue
        field = fields[key.split(":", 1)[1]]
        default = field.get_default(call_default_factory=True)
        assert declaration["default"] == default, key


def test_runtime_is_python_with_a_virtualenv() -> None:
    runtime = PROJECT["runtime"]
    assert runtime["name"] == "python"
    assert runtime["options"]["virtualenv"] == ".venv"
    assert "backend" not in PROJECT


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_files_only_use_declared_or_provider_keys(stack: str) -> None:
    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    for key in config:
        namespace = key.split(":", 1)[0]
        assert namespace in {"acpw", "aws", "kubernetes"}, key
        if namespace == "acpw":
            assert key in PROJECT["config"], key
