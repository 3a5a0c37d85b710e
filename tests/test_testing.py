"""acpw/testing.py: a consumer's own unit tests of a program using the component.

Each case is a test module as a consumer would write it, run by pytest in a fresh process (the
Pulumi runtime's mocks are process-wide), from outside the repository.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CONSUMER_TEST = """
import pulumi
{mocks_import}

pulumi.runtime.set_mocks({mocks}, project="shop", stack="test", preview=False)

import pulumi_aws as aws
import pulumi_kubernetes as k8s
from acpw.config import load_config
from acpw.deployment import AcpwDeployment, AcpwDeploymentArgs

GHCR_CREDENTIAL = (
    "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:ecr-pullthroughcache/ghcr-AbCdEf"
)
config = load_config(
    {{
        "istioVersion": "1.30",
        "images": {{"registry": "ecr", "ecrUpstreamCredentials": {{"ghcr.io": GHCR_CREDENTIAL}}}},
        "gateways": [
            {{
                "name": "public-gateway",
                "namespace": "gateway-public",
                "selector": {{"app": "public-gateway"}},
                "installer": "deploymentPatch",
            }}
        ],
    }},
    project=pulumi.get_project(),
    stack=pulumi.get_stack(),
    aws_region="ap-northeast-1",
)
acpw = AcpwDeployment("acpw", AcpwDeploymentArgs(config=config))


@pulumi.runtime.test
def test_one_user_per_stack():
    def check(arn):
        assert arn.endswith(":user/acpw/shop-test"), arn

    return acpw.user_arn.apply(check)


@pulumi.runtime.test
def test_the_gateway_is_deployed():
    def check(gateways):
        assert gateways["gateway-public/public-gateway"]["installer"] == "deploymentPatch"

    return pulumi.Output.from_input(acpw.gateways).apply(check)
"""


def _pytest(directory: Path, test_file: str) -> subprocess.CompletedProcess[str]:
    """pytest on ``test_file`` in a fresh process, with only this repository importable."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_file],
        cwd=directory,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _run_consumer_tests(
    tmp_path: Path, mocks_import: str, mocks: str
) -> subprocess.CompletedProcess[str]:
    test = tmp_path / "test_infra.py"
    test.write_text(
        textwrap.dedent(CONSUMER_TEST.format(mocks_import=mocks_import, mocks=mocks)),
        encoding="utf-8",
    )
    return _pytest(tmp_path, test.name)


def test_a_consumer_tests_the_component_under_its_mocks(tmp_path: Path) -> None:
    result = _run_consumer_tests(tmp_path, "from acpw.testing import AcpwMocks", "AcpwMocks()")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_echo_mocks_are_not_enough(tmp_path: Path) -> None:
    """Why acpw.testing exists: echo mocks leave what the cloud computes (an ECR rule's registry
    id and region) unset, and the component cannot build its image references from ``None``."""
    echo = """
class EchoMocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return [args.name + "_id", args.inputs]

    def call(self, args):
        return {}
"""
    result = _run_consumer_tests(tmp_path, echo, "EchoMocks()")
    assert result.returncode != 0
    assert "NoneType" in result.stdout + result.stderr


def test_the_python_example_has_its_own_unit_test() -> None:
    """examples/python/test_program.py: the example program tested under AcpwMocks."""
    result = _pytest(ROOT / "examples" / "python", "test_program.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
