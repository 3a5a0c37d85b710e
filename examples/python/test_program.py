"""Unit tests of this program, as a consumer writes them: `python -m pytest` here.

acpw.testing.AcpwMocks answers what only the cloud computes (ARNs, registry ids) and the
component's invokes, so the whole program runs without AWS or a cluster.
"""

import runpy
from pathlib import Path

import pulumi

from acpw.testing import AcpwMocks

pulumi.runtime.set_mocks(AcpwMocks(), project="shop", stack="test", preview=False)
# The program runs once, under the mocks; its globals hold what it built.
acpw = runpy.run_path(str(Path(__file__).with_name("__main__.py")))["acpw"]


@pulumi.runtime.test
def test_one_iam_user_per_stack() -> pulumi.Output[None]:
    def check(arn: str) -> None:
        assert arn.endswith(":user/acpw/shop-test"), arn

    return acpw.user_arn.apply(check)


@pulumi.runtime.test
def test_the_default_gateway_is_deployed() -> pulumi.Output[None]:
    def check(gateways: dict[str, dict[str, object]]) -> None:
        assert list(gateways) == ["istio-system/istio-ingressgateway"]

    return pulumi.Output.from_input(acpw.gateways).apply(check)
