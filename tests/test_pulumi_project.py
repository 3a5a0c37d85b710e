"""Pulumi.yaml loads in the real CLI: its JSON Schema and the CLI's config-declaration rules."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from acpw.config import CONFIG_KEYS, DEFAULT_GATEWAY, load_config, parse_raw_values
from tools import cli_config
from tools.fetch_istio_crds import verify_file
from tools.reference_data import PULUMI_SCHEMA, PULUMI_SCHEMA_PIN
from tools.render import ROOT

SCHEMA = Path(
    os.environ.get(
        PULUMI_SCHEMA.env_var,
        PULUMI_SCHEMA.target((ROOT / PULUMI_SCHEMA.shared_dir).resolve()),
    )
)
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())


def cli_config_problems(project: dict[str, Any]) -> list[str]:
    """``Project.Validate`` of the CLI for config declarations, with its messages (pulumi/pulumi
    ``sdk/go/common/workspace/project.go``; see pulumi-schemas/README)."""
    name = project["name"]
    problems = []
    for key, declaration in (project.get("config") or {}).items():
        if not isinstance(declaration, dict):
            continue
        if "default" in declaration and "value" in declaration:
            problems.append(
                f"project config '{key}' cannot have both a 'default' and 'value' attribute"
            )
        kind = declaration.get("type")
        if ":" not in key or key.startswith(f"{name}:"):
            if kind == "array" and "items" not in declaration:
                problems.append(
                    f"The configuration key '{key}' declares an array but does not specify the "
                    "underlying type via the 'items' attribute"
                )
            elif (
                kind
                and "default" in declaration
                and not cli_config.matches_type(
                    kind, declaration.get("items"), declaration["default"]
                )
            ):
                problems.append(
                    f"The default value specified for configuration key '{key}' is not of the "
                    f"expected type '{cli_config.type_name(declaration)}'"
                )
        elif kind:
            problems.append(
                f"Configuration key '{key}' is not namespaced by the project and should not "
                "define a type"
            )
        elif "default" in declaration:
            problems.append(
                f"Configuration key '{key}' is not namespaced by the project and should not define "
                "a default value. Did you mean to use the 'value' attribute instead of 'default'?"
            )
        elif "value" not in declaration:
            problems.append(
                f"Configuration key '{key}' is namespaced and must provide an attribute 'value'"
            )
    return problems


def test_the_schema_is_the_pinned_one() -> None:
    assert verify_file(SCHEMA, PULUMI_SCHEMA_PIN), (
        f"{SCHEMA} is not git blob {PULUMI_SCHEMA_PIN.blob}"
    )


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
        "The configuration key 'a' declares an array but does not specify the underlying type "
        "via the 'items' attribute"
    ]
    wrong_default = {"type": "array", "items": {"type": "string"}, "default": [1]}
    assert cli_config_problems({"name": "x", "config": {"a": wrong_default}}) == [
        "The default value specified for configuration key 'a' is not of the expected type "
        "'array<string>'"
    ]
    assert cli_config_problems({"name": "x", "config": {"y:a": {"default": 1}}}) == [
        "Configuration key 'y:a' is not namespaced by the project and should not define a "
        "default value. Did you mean to use the 'value' attribute instead of 'default'?"
    ]


def test_every_config_key_is_declared_with_a_description() -> None:
    declared = {k.split(":", 1)[1] for k in PROJECT["config"] if k.startswith("acpw:")}
    assert declared == set(CONFIG_KEYS)
    assert all(d.get("description") for d in PROJECT["config"].values())


def _program_config(raw: dict[str, Any]) -> Any:
    return load_config(raw, project="acpw", stack="dev", aws_region="ap-northeast-1")


def test_declared_defaults_mean_what_the_program_does_without_the_key() -> None:
    """Each default, as the CLI hands it to the program (JSON text), gives the program's own default."""
    base = {"istioVersion": "1.20"}
    without = _program_config(base)
    for key, declaration in PROJECT["config"].items():
        if "default" not in declaration:
            continue
        name = key.split(":", 1)[1]
        text = cli_config.default_value(declaration["default"]).text
        assert _program_config({**base, **parse_raw_values({name: text})}) == without, key


def test_gateways_default_is_the_programs_default_gateway() -> None:
    assert PROJECT["config"]["acpw:gateways"]["default"] == [DEFAULT_GATEWAY]


def test_only_the_istio_version_is_required() -> None:
    """The CLI requires every declared key of the project's namespace without default or value."""
    required = sorted(
        key for key, d in PROJECT["config"].items() if "default" not in d and "value" not in d
    )
    assert required == ["acpw:istioVersion"]


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
