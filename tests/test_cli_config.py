"""The Pulumi CLI's project-config rules (tools/cli_config.py) against this project's Pulumi.yaml.

Expected messages are the CLI's, from pulumi/pulumi ``pkg/workspace/config.go`` and its tests
(``config_project_test.go``, e.g. ``TestStackConfigErrorsWhenMissingStackValueForConfigTypeWithNoDefault``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from acpw.config import DEFAULT_GATEWAY, ConfigError
from tools import cli_config
from tools.cli_config import StackConfigError, program_config
from tools.render import ROOT, read_project, read_stack_config, render_stack, stack_program_config

PROJECT = read_project()


def _stack_file(stack: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    return config


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_example_stacks_are_accepted(stack: str) -> None:
    config = program_config(PROJECT, stack, _stack_file(stack))
    assert config == stack_program_config(stack)
    assert set(read_stack_config(stack)) == set(config)
    assert all(isinstance(v, str) for v in config.values())
    # every key the stack sets reaches the program; every declared key has a value
    assert set(_stack_file(stack)) <= set(config)
    assert {k for k in PROJECT["config"]} <= set(config)


def test_dev_gets_the_declared_defaults_in_the_cli_form() -> None:
    config = program_config(PROJECT, "dev", _stack_file("dev"))
    assert config["acpw:istioVersion"] == "1.13"
    assert config["acpw:cloudwatch"] == "{}"
    assert config["acpw:iam"] == "{}"
    assert config["acpw:images"] == "{}"
    assert config["acpw:matchHosts"] == "[]"
    assert config["acpw:failStrategy"] == "open"
    # Go's json.Marshal: compact, keys sorted
    assert config["acpw:gateways"] == (
        '[{"installer":"istioOperator","name":"istio-ingressgateway","namespace":"istio-system",'
        '"selector":{"app":"istio-ingressgateway","istio":"ingressgateway"}}]'
    )
    assert json.loads(config["acpw:gateways"]) == [DEFAULT_GATEWAY]
    decoded = read_stack_config("dev")  # what the conformance tests read: objects decoded
    assert decoded["acpw:gateways"] == [DEFAULT_GATEWAY]
    assert decoded["acpw:cloudwatch"] == {}
    assert decoded["acpw:istioVersion"] == "1.13"


def test_a_stack_setting_only_the_istio_version_is_accepted() -> None:
    config = program_config(PROJECT, "mini", {"acpw:istioVersion": "1.20"})
    assert config["acpw:istioVersion"] == "1.20"
    assert json.loads(config["acpw:gateways"]) == [DEFAULT_GATEWAY]
    # The CLI lets it through; the program then needs a region for the receiver.
    with pytest.raises(ConfigError, match=r"acpw:cloudwatch\.region: required when aws:region"):
        render_stack("mini", config=config)
    render = render_stack("mini", config={**config, "aws:region": "ap-northeast-1"})
    gateways = render.outputs["gateways"]
    assert list(gateways) == ["istio-system/istio-ingressgateway"]


def test_a_missing_required_key_is_refused_with_the_cli_message() -> None:
    with pytest.raises(StackConfigError) as error:
        program_config(PROJECT, "dev", {"aws:region": "ap-northeast-1"})
    assert str(error.value) == "Stack 'dev' is missing configuration value 'acpw:istioVersion'"


def test_the_declarations_without_defaults_refuse_the_dev_stack_as_the_issue_says() -> None:
    """Before the defaults were declared, `pulumi preview` on dev stopped with this message."""
    old = copy.deepcopy(PROJECT)
    for key in ("acpw:cloudwatch", "acpw:gateways", "acpw:iam", "acpw:images"):
        del old["config"][key]["default"]
    with pytest.raises(StackConfigError) as error:
        program_config(old, "dev", _stack_file("dev"))
    assert str(error.value) == (
        "Stack 'dev' is missing configuration values "
        "'acpw:cloudwatch', 'acpw:gateways', 'acpw:iam' and 'acpw:images'"
    )


@pytest.mark.parametrize(
    ("keys", "text"),
    [
        (["b"], "'b'"),
        (["b", "a"], "'a' and 'b'"),
        (["world", "hello", "values"], "'hello', 'values' and 'world'"),
    ],
)
def test_missing_keys_are_joined_like_the_cli(keys: list[str], text: str) -> None:
    assert cli_config.format_missing_keys(keys) == text
    project = {"name": "test", "config": {k: {"type": "string"} for k in keys}}
    plural = "values" if len(keys) > 1 else "value"
    with pytest.raises(StackConfigError, match=f"^Stack 'dev' is missing configuration {plural} "):
        program_config(project, "dev", {})


@pytest.mark.parametrize(
    ("key", "value", "type_name"),
    [
        ("acpw:matchHosts", "www.example.com", "array<string>"),
        ("acpw:matchHosts", [1, 2], "array<string>"),
        ("acpw:gateways", {"name": "gw"}, "array<object>"),
        ("acpw:gateways", ["gw"], "array<object>"),
        ("acpw:cloudwatch", ["ap-northeast-1"], "object"),
        ("acpw:images", "ecr", "object"),
        ("acpw:istioVersion", {"minor": 20}, "string"),
    ],
)
def test_a_value_of_the_wrong_declared_type_is_refused(
    key: str, value: Any, type_name: str
) -> None:
    stack = {"acpw:istioVersion": "1.20", key: value}
    with pytest.raises(StackConfigError) as error:
        program_config(PROJECT, "dev", stack)
    assert str(error.value) == (
        f"Stack 'dev' with configuration key '{key}' must be of type '{type_name}'"
    )


def test_a_scalar_stack_value_is_its_text() -> None:
    """An unquoted 1.20 is the YAML number 1.2: the CLI passes "1.2" (and the program hints)."""
    config = program_config(PROJECT, "dev", yaml.safe_load("acpw:istioVersion: 1.20\n"))
    assert config["acpw:istioVersion"] == "1.2"


def test_keys_the_project_does_not_declare_are_passed_through() -> None:
    stack = {
        "aws:region": "ap-northeast-1",
        "acpw:istioVersion": "1.20",
        "kubernetes:context": "kind-acpw",
        "other:limits": {"b": 1, "a": [True, 2.0]},
        "acpw:notDeclared": "x",
    }
    config = program_config(PROJECT, "dev", stack)
    assert config["kubernetes:context"] == "kind-acpw"
    assert config["other:limits"] == '{"a":[true,2],"b":1}'
    assert config["acpw:notDeclared"] == "x"
    # the program, not the CLI, refuses an acpw: key it does not know
    with pytest.raises(ConfigError, match="acpw:notDeclared"):
        render_stack("dev", config=config)
    del config["acpw:notDeclared"]
    assert render_stack("dev", config=config).registrations


def test_integer_and_boolean_follow_the_cli() -> None:
    project = {
        "name": "t",
        "config": {"n": {"type": "integer"}, "b": {"type": "boolean"}},
    }

    def refused(stack: dict[str, Any]) -> str | None:
        try:
            program_config(project, "s", stack)
        except StackConfigError as error:
            return str(error)
        return None

    for n in (3, "3", "-12", 3.0):
        assert refused({"t:n": n, "t:b": True}) is None, n
    for n in ("3.5", 3.5, "x", True):
        assert refused({"t:n": n, "t:b": True}) == (
            "Stack 's' with configuration key 'n' must be of type 'integer'"
        ), n
    for b in (True, False, "true", "false"):
        assert refused({"t:n": 1, "t:b": b}) is None, b
    for wrong in ("yes", 1, "True"):
        assert refused({"t:n": 1, "t:b": wrong}) == (
            "Stack 's' with configuration key 'b' must be of type 'boolean'"
        ), wrong


def test_a_secret_key_must_be_encrypted() -> None:
    project = {"name": "t", "config": {"token": {"type": "string", "secret": True}}}
    with pytest.raises(StackConfigError) as error:
        program_config(project, "s", {"t:token": "plain"})
    assert (
        str(error.value)
        == "Stack 's' with configuration key 'token' must be encrypted as it's secret"
    )
    assert program_config(project, "s", {"t:token": {"secure": "v1:abc"}}) == {"t:token": "v1:abc"}


def test_defaults_reach_the_program_in_the_cli_form() -> None:
    project = {
        "name": "t",
        "config": {
            "s": {"type": "string", "default": "a<b"},
            "i": {"type": "integer", "default": 7},
            "b": {"type": "boolean", "default": False},
            "o": {"type": "object", "default": {"z": 1, "a": "<&>"}},
            "l": {"type": "array", "items": {"type": "integer"}, "default": [1, 2]},
            "v": {"value": "fixed"},
            "other:k": {"value": True},
        },
    }
    assert program_config(project, "s", {"t:s": "set"}) == {
        "t:s": "set",
        "t:i": "7",
        "t:b": "false",
        "t:o": '{"a":"\\u003c\\u0026\\u003e","z":1}',
        "t:l": "[1,2]",
        "t:v": "fixed",
        "other:k": "true",
    }
