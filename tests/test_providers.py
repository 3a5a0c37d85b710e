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
from tests.matrix import GHCR_CREDENTIAL
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
    "images": {
        "registry": "ecr",
        "senderDigest": "sha256:" + "ab" * 32,
        "ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL},
    },
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
    # The unpinned receiver volume's digest is read by pulumi-docker (no docker provider was
    # given, so its default one); every AWS invoke goes to the given provider.
    assert [t for t, _ in mocks.invokes if t.startswith("docker:")], mocks.invokes
    for token, provider in mocks.invokes:
        if token.startswith("aws:"):
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
        "aws:sns/topic:Topic",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
    }
    for registration in tagged:
        tags = registration.inputs["tags"]
        assert (tags["pulumi:project"], tags["pulumi:stack"]) == ("acpw", "prod"), registration.name
        assert tags["acpw:purpose"].startswith("aws-cloudwatch-proxy-wasm")


def _identities(render: Any) -> set[tuple[str, str, str]]:
    return {
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
        for o in render.kubernetes
    }


def test_two_stacks_in_one_cluster_do_not_share_an_object() -> None:
    from tools.render import render_stack

    def stack(instance: str, gateway: str, installer: str) -> dict[str, Any]:
        return {
            "aws:region": "ap-northeast-1",
            "acpw:istioVersion": "1.20",
            "acpw:instance": instance,
            "acpw:gateways": [
                {
                    "name": gateway,
                    "namespace": "istio-system",
                    "selector": {"app": gateway},
                    "installer": installer,
                }
            ],
            "acpw:iam": {"userName": f"acpw-{instance}"},
            "acpw:images": {
                "registry": "ecr",
                "ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL},
            },
        }

    first = render_stack("one", config=stack("team-a", "gw-a", "istioOperator"))
    second = render_stack("two", config=stack("team-b", "gw-b", "istioOperator"))
    shared = _identities(first) & _identities(second)
    assert shared == set(), sorted(shared)
    for render, instance in ((first, "team-a"), (second, "team-b")):
        for obj in render.kubernetes:
            labels = obj["metadata"].get("labels") or {}
            if obj["kind"] != "Deployment":  # patches of the gateway carry no labels of ours
                assert labels.get("app.kubernetes.io/instance") == instance, obj["metadata"]
        operators = [o for o in render.kubernetes if o["kind"] == "IstioOperator"]
        assert [o["metadata"]["name"] for o in operators] == [f"{instance}-gateways"]


def test_the_default_instance_keeps_the_names() -> None:
    from tools.render import render_stack

    render = render_stack("dev")
    names = {o["metadata"]["name"] for o in render.kubernetes}
    assert "acpw-gateways" in names
    assert any(n.startswith("acpw-aws-credentials-g1-") for n in names)
    assert all(
        o["metadata"]["labels"]["app.kubernetes.io/instance"] == "acpw"
        for o in render.kubernetes
        if "labels" in o["metadata"]
    )
