"""Providers and instances: the component uses the providers it is given, for every resource and
invoke, and two instances in one program do not collide."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from acpw.config import load_config
from acpw.deployment import AcpwDeployment, AcpwDeploymentArgs
from tools import mock_engine, pulumi_sdk
from tools.mock_engine import RecordingMocks, RecordingMonitor

ECR_STACK: dict[str, Any] = {
    "istioVersion": "1.30",
    "gateways": [
        {
            "name": "gw",
            "namespace": "edge",
            "selector": {"app": "gw"},
            "installer": "deploymentPatch",
        }
    ],
    "images": {"registry": "ecr", "senderDigest": "sha256:" + "ab" * 32},
}


def run(program: Callable[[], None]) -> RecordingMonitor:
    # pulumi:disable-default-providers: no default provider may be used at all.
    config = {"pulumi:disable-default-providers": '["aws", "kubernetes"]'}
    monitor = mock_engine.install("consumer", "prod", config)
    try:
        pulumi_sdk.run_program(program)
    finally:
        mock_engine.shutdown()
    return monitor


def deployment(name: str, raw: dict[str, Any], opts: pulumi.ResourceOptions) -> AcpwDeployment:
    config = load_config(raw, project="consumer", stack="prod", aws_region="ap-northeast-1")
    return AcpwDeployment(name, AcpwDeploymentArgs(config=config), opts)


def test_every_resource_and_invoke_uses_the_given_providers() -> None:
    refs: dict[str, str] = {}

    def program() -> None:
        aws_provider = aws.Provider("aws-tokyo", region="ap-northeast-1")
        k8s_provider = k8s.Provider("cluster")
        refs["aws"], refs["k8s"] = "aws-tokyo", "cluster"
        deployment(
            "acpw", ECR_STACK, pulumi.ResourceOptions(providers=[aws_provider, k8s_provider])
        )

    monitor = run(program)
    custom = [r for r in monitor.registrations if r.custom and not r.type.startswith("pulumi")]
    assert custom
    for registration in custom:
        if registration.type.startswith("aws:"):
            assert "::aws-tokyo::" in registration.provider, (
                registration.name,
                registration.provider,
            )
        elif registration.type.startswith("kubernetes:"):
            assert "::cluster::" in registration.provider, (
                registration.name,
                registration.provider,
            )
        assert "::default" not in registration.provider
    mocks = monitor.mocks
    assert isinstance(mocks, RecordingMocks)
    assert mocks.invokes, "the ECR stack asks for a registry token"
    for token, provider in mocks.invokes:
        assert "::aws-tokyo::" in provider, (token, provider)


def test_two_instances_in_one_program_do_not_collide() -> None:
    other: dict[str, Any] = {
        **ECR_STACK,
        "gateways": [{**ECR_STACK["gateways"][0], "name": "gw2", "namespace": "edge2"}],
        "iam": {"userName": "consumer-second"},
    }

    def program() -> None:
        aws_provider = aws.Provider("aws", region="ap-northeast-1")
        k8s_provider = k8s.Provider("k8s")
        opts = pulumi.ResourceOptions(providers=[aws_provider, k8s_provider])
        deployment("first", {**ECR_STACK, "iam": {"userName": "consumer-first"}}, opts)
        deployment("second", other, opts)

    monitor = run(program)
    urns = [r.urn for r in monitor.registrations]
    assert len(urns) == len(set(urns))
    for name in ("first", "second"):
        children = [r for r in monitor.registrations if f"::{name}-" in r.urn]
        assert children, name


def test_aws_resources_carry_project_and_stack() -> None:
    from tools.render import render_stack

    render = render_stack("prod")
    tagged = [r for r in render.registrations if r.type.startswith("aws:") and "tags" in r.inputs]
    assert {r.type for r in tagged} >= {
        "aws:iam/user:User",
        "aws:ecr/repository:Repository",
        "aws:sns/topic:Topic",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
    }
    for registration in tagged:
        tags = registration.inputs["tags"]
        assert (tags["pulumi:project"], tags["pulumi:stack"]) == ("acpw", "prod"), registration.name
        assert tags["acpw:purpose"].startswith("aws-cloudwatch-proxy-wasm")
