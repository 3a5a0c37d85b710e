"""The program run the way the Python language host runs it (tests/langhost.py), in a subprocess.

Config arrives as the CLI passes it (``PULUMI_CONFIG``, the stack file after the CLI's rules), and
what reaches stderr is what the CLI would show: for invalid config only the message, no traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest

from acpw.config import ConfigError, load_config
from tests.langhost import USER_ACTIONABLE_EXIT
from tools.render import ROOT, stack_program_config


def _run(
    program: Path, config: dict[str, str], tmp_path: Path, secret_keys: tuple[str, ...] = ()
) -> tuple[int, str, dict[str, Any]]:
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_CONFIG")}
    env["PULUMI_CONFIG"] = json.dumps(config)
    if secret_keys:
        env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(secret_keys))
    command = [sys.executable, "-m", "tests.langhost", "--project", "acpw", "--stack", "dev"]
    result = subprocess.run(
        [*command, "--report", str(report), str(program)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    outcome = json.loads(report.read_text())
    assert outcome["exit_code"] == result.returncode
    return result.returncode, result.stderr, outcome


def test_invalid_config_shows_only_the_message(tmp_path: Path) -> None:
    config = {**stack_program_config("dev"), "acpw:istioVersion": "1.11"}
    with pytest.raises(ConfigError) as expected:
        load_config(
            {"istioVersion": "1.11"}, project="acpw", stack="dev", aws_region="ap-northeast-1"
        )
    code, stderr, outcome = _run(ROOT, config, tmp_path)
    assert code == 1
    assert outcome["exception"] == "acpw.config.errors.ConfigError"
    assert issubclass(ConfigError, pulumi.RunError)
    assert stderr == f"error: {expected.value}\n"
    assert stderr == (
        "error: invalid stack configuration:\n"
        "  - acpw:istioVersion: Istio 1.11 is too old: supported are 1.12 to 1.30 "
        "(WasmPlugin exists from 1.12)\n"
    )


def test_invalid_secret_config_is_named_not_quoted(tmp_path: Path) -> None:
    """`pulumi config set --secret`: the CLI hands the program the plain value and the key as a
    secret key; the refusal names the key and never quotes the value."""
    config = {
        **stack_program_config("dev"),
        "acpw:iam": json.dumps({"userName": "Sekrit Name!"}),
        "acpw:failStrategy": "sideways",
    }
    code, stderr, outcome = _run(ROOT, config, tmp_path, secret_keys=("acpw:iam",))
    assert (code, outcome["exception"]) == (1, "acpw.config.errors.ConfigError")
    assert "acpw:iam.userName: not valid; the value is a secret" in stderr
    assert "Sekrit" not in stderr
    assert "acpw:failStrategy: " in stderr and "sideways" in stderr
    # Control: the same value, not secret, is quoted.
    code, stderr, _ = _run(ROOT, {**config, "acpw:failStrategy": "open"}, tmp_path)
    assert "Sekrit" in stderr


def test_config_the_program_cannot_decode_shows_only_the_message(tmp_path: Path) -> None:
    config = {**stack_program_config("dev"), "acpw:matchHosts": "www.example.com"}
    code, stderr, outcome = _run(ROOT, config, tmp_path)
    assert (code, outcome["exception"]) == (1, "acpw.config.errors.ConfigError")
    assert stderr == (
        "error: invalid stack configuration:\n"
        "  - acpw:matchHosts: must be a structured value (object or list), got 'www.example.com'\n"
    )


def test_the_dev_stack_runs_with_only_its_warnings_and_the_cost_estimate(tmp_path: Path) -> None:
    code, stderr, outcome = _run(ROOT, stack_program_config("dev"), tmp_path)
    assert (code, outcome["exception"]) == (0, None), stderr
    lines = stderr.splitlines()
    assert lines and all(
        line.startswith(("warning: acpw:", "info: acpw:cost: estimated")) for line in lines
    ), stderr


def test_any_other_exception_shows_its_traceback(tmp_path: Path) -> None:
    """What a non-RunError looks like, so that the tests above are meaningful."""
    program = tmp_path / "program"
    program.mkdir()
    (program / "__main__.py").write_text("import pulumi\n\npulumi.export('x', 1 / 0)\n")
    code, stderr, outcome = _run(program, {}, tmp_path)
    assert code == USER_ACTIONABLE_EXIT
    assert outcome["exception"] == "builtins.ZeroDivisionError"
    assert stderr.startswith("error: Program failed with an unhandled exception:\nTraceback")
    assert stderr.rstrip().endswith("ZeroDivisionError: division by zero")
