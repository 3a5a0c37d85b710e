"""Stack config validation: defaults, and every bad input refused with its key, before any resource."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from acpw.config import (
    PUBLISHED_RECEIVER_VOLUME,
    PUBLISHED_SENDER,
    ConfigError,
    config_warnings,
    load_config,
    load_yaml,
    load_yaml_file,
    parse_raw_values,
    shown,
)
from tests.matrix import GHCR_CREDENTIAL
from tools import pulumi_sdk
from tools.render import last_monitor_registrations, render_stack

GOOD_DIGEST = "sha256:" + "0f" * 32
GW: dict[str, Any] = {"name": "g", "namespace": "n", "selector": {"app": "g"}}
OTHER_DIGEST = "sha256:" + "e1" * 32
KUBECTL = f"mirror.example.com/k8s/kubectl:v1.33.0@{GOOD_DIGEST}"
AWS_CLI = f"mirror.example.com/aws/aws-cli:2.27.0@{OTHER_DIGEST}"


def load(raw: dict[str, Any], aws_region: str | None = "ap-northeast-1"):
    return load_config(raw, project="acpw", stack="dev", aws_region=aws_region)


def test_defaults_follow_the_issue_contract() -> None:
    config = load({"istioVersion": "1.13"})
    assert config.region == "ap-northeast-1"
    assert config.cloudwatch.namespace == "AWSCloudWatchProxyWasm"
    assert config.cloudwatch.metric_name == "RequestCount"
    assert config.cloudwatch.request_timeout_ms == 5000
    [gateway] = config.gateways
    assert (gateway.name, gateway.namespace, gateway.installer) == (
        "istio-ingressgateway",
        "istio-system",
        "istioOperator",
    )
    assert gateway.selector == {"app": "istio-ingressgateway", "istio": "ingressgateway"}
    assert config.match_hosts == []
    assert config.images.sender == PUBLISHED_SENDER
    assert config.images.receiver_volume == PUBLISHED_RECEIVER_VOLUME
    assert (config.images.pull_policy, config.images.registry) == ("IfNotPresent", "ghcr")
    assert config.iam.user_name == "acpw-dev"
    assert config.iam.path == "/acpw/"
    assert config.iam.permissions_boundary is None
    assert config.iam.tags == {}
    assert config.iam.key_generation == 1
    assert config.fail_strategy == "open"
    assert config.receiver_vm_id == "aws-cloudwatch-proxy-wasm-receiver"


@pytest.mark.parametrize(
    ("raw", "signing"),
    [
        # Where module signing works (every stack before Envoy signing), it stays the default.
        ({"istioVersion": "1.30"}, "module"),
        ({"istioVersion": "1.21"}, "module"),
        # Where it cannot, Envoy signs by default.
        ({"istioVersion": "1.22", "cloudwatch": {"region": "eu-west-1"}}, "envoy"),
        (
            {"istioVersion": "1.22", "iam": {"credentials": "podIdentity", "eksClusterName": "c"}},
            "envoy",
        ),
        ({"istioVersion": "1.30", "cloudwatch": {"signing": "envoy"}}, "envoy"),
        (
            {
                "istioVersion": "1.30",
                "cloudwatch": {"region": "eu-west-1"},
                "images": {"modulesHonourRegion": True},
            },
            "module",
        ),
    ],
)
def test_signing_default(raw: dict[str, Any], signing: str) -> None:
    assert load(raw).signing == signing


def test_service_account_defaults_per_installer() -> None:
    config = load(
        {
            "istioVersion": "1.30",
            "gateways": [
                {**GW, "name": "a", "selector": {"app": "a"}},
                {**GW, "name": "b", "selector": {"app": "b"}, "installer": "deploymentPatch"},
                {**GW, "name": "c", "selector": {"app": "c"}, "serviceAccount": "mine"},
            ],
        }
    )
    assert [g.service_account_name for g in config.gateways] == [
        "a-service-account",
        "b",
        "mine",
    ]


def test_irsa_issuer_comes_from_the_provider_arn() -> None:
    config = load(
        {"istioVersion": "1.24", "iam": {"credentials": "irsa", "oidcProviderArn": OIDC_ARN}}
    )
    assert config.iam.oidc_issuer == "oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123"
    assert config.signing == "envoy"


def test_region_comes_from_cloudwatch_before_aws_region() -> None:
    config = load(
        {
            "istioVersion": "1.30",
            "cloudwatch": {"region": "eu-west-1"},
            "images": {"modulesHonourRegion": True},
        },
        aws_region="us-east-1",
    )
    assert config.region == "eu-west-1"


OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123"

BAD_INPUTS: list[tuple[str, dict[str, Any], str]] = [
    (
        "unknown signing",
        {"istioVersion": "1.30", "cloudwatch": {"signing": "sidecar"}},
        "acpw:cloudwatch.signing: 'sidecar' is not allowed",
    ),
    (
        "envoy signing before 1.22",
        {"istioVersion": "1.21", "cloudwatch": {"signing": "envoy"}},
        "acpw:cloudwatch.signing: Envoy signing (acpw:cloudwatch.signing: envoy) needs Istio 1.22 "
        "or later: Istio 1.21 ships Envoy 1.29.9",
    ),
    (
        "irsa before 1.24",
        {"istioVersion": "1.23", "iam": {"credentials": "irsa", "oidcProviderArn": OIDC_ARN}},
        "acpw:iam.credentials: IRSA (acpw:iam.credentials: irsa) needs Istio 1.24 or later",
    ),
    (
        "pod identity before 1.22",
        {"istioVersion": "1.21", "iam": {"credentials": "podIdentity", "eksClusterName": "c"}},
        "acpw:iam.credentials: EKS Pod Identity (acpw:iam.credentials: podIdentity) needs Istio "
        "1.22 or later",
    ),
    (
        "irsa without the OIDC provider",
        {"istioVersion": "1.30", "iam": {"credentials": "irsa"}},
        "acpw:iam.oidcProviderArn: required for iam.credentials 'irsa'",
    ),
    (
        "malformed OIDC provider",
        {
            "istioVersion": "1.30",
            "iam": {"credentials": "irsa", "oidcProviderArn": "arn:aws:iam::1234:role/x"},
        },
        "acpw:iam.oidcProviderArn: 'arn:aws:iam::1234:role/x' is not an IAM OIDC provider ARN",
    ),
    (
        "pod identity without the cluster",
        {"istioVersion": "1.30", "iam": {"credentials": "podIdentity"}},
        "acpw:iam.eksClusterName: required for iam.credentials 'podIdentity'",
    ),
    (
        "bad EKS cluster name",
        {"istioVersion": "1.30", "iam": {"credentials": "podIdentity", "eksClusterName": "-x"}},
        "acpw:iam.eksClusterName: '-x' is not an EKS cluster name",
    ),
    (
        "keyless with module signing",
        {
            "istioVersion": "1.30",
            "cloudwatch": {"signing": "module"},
            "iam": {"credentials": "podIdentity", "eksClusterName": "prod"},
        },
        "acpw:iam.credentials: 'podIdentity' needs acpw:cloudwatch.signing: envoy",
    ),
    (
        "bad service account",
        {"istioVersion": "1.30", "gateways": [{**GW, "serviceAccount": "Gateway SA"}]},
        "acpw:gateways[0].serviceAccount: 'Gateway SA' is not a ServiceAccount name",
    ),
    (
        "other region with module signing",
        {"istioVersion": "1.30", "cloudwatch": {"region": "eu-west-1", "signing": "module"}},
        "acpw:cloudwatch.region: 'eu-west-1' cannot work with the published v0.1.0 modules, which "
        "always call monitoring.ap-northeast-1.amazonaws.com: set acpw:cloudwatch.signing: envoy",
    ),
    (
        "instance with capitals",
        {"istioVersion": "1.30", "instance": "Team"},
        "acpw:instance: 'Team' is not allowed: 1 to 20 lowercase letters",
    ),
    (
        "instance too long",
        {"istioVersion": "1.30", "instance": "a" * 21},
        "acpw:instance:",
    ),
    (
        "maxSurge zero",
        {"istioVersion": "1.30", "gateways": [{**GW, "maxSurge": 0}]},
        "acpw:gateways[0].maxSurge: 0 is not allowed: at least 1",
    ),
    (
        "maxSurge percentage out of range",
        {"istioVersion": "1.30", "gateways": [{**GW, "maxSurge": "150%"}]},
        "acpw:gateways[0].maxSurge: '150%' is not allowed: use a count like 2 or a percentage",
    ),
    (
        "maxSurge text",
        {"istioVersion": "1.30", "gateways": [{**GW, "maxSurge": "fast"}]},
        "acpw:gateways[0].maxSurge: 'fast' is not allowed",
    ),
    (
        "enabled as text",
        {"istioVersion": "1.30", "gateways": [{**GW, "enabled": "no"}]},
        "acpw:gateways[0].enabled:",
    ),
    (
        "revokePreviousKey as text",
        {"istioVersion": "1.30", "iam": {"revokePreviousKey": "yes"}},
        "acpw:iam.revokePreviousKey:",
    ),
    ("too old", {"istioVersion": "1.11"}, "acpw:istioVersion: Istio 1.11 is too old"),
    ("unknown version", {"istioVersion": "1.99"}, "acpw:istioVersion: Istio 1.99 is unknown"),
    (
        "not a version",
        {"istioVersion": "latest"},
        "acpw:istioVersion: 'latest' is not an Istio version",
    ),
    ("yaml number", {"istioVersion": 1.2}, "acpw:istioVersion:"),
    (
        "malformed region",
        {"istioVersion": "1.13", "cloudwatch": {"region": "tokyo"}},
        "acpw:cloudwatch.region: 'tokyo' is not an AWS region",
    ),
    (
        "region the published modules cannot call",
        {"istioVersion": "1.13", "cloudwatch": {"region": "us-east-1"}},
        "acpw:cloudwatch.region: 'us-east-1' cannot work with the published v0.1.0 modules",
    ),
    (
        "empty namespace",
        {"istioVersion": "1.13", "cloudwatch": {"namespace": ""}},
        "acpw:cloudwatch.namespace: must be 1 to 255 characters",
    ),
    (
        "long namespace",
        {"istioVersion": "1.13", "cloudwatch": {"namespace": "n" * 256}},
        "acpw:cloudwatch.namespace: must be 1 to 255 characters",
    ),
    (
        "AWS/ namespace",
        {"istioVersion": "1.13", "cloudwatch": {"namespace": "AWS/EC2"}},
        "acpw:cloudwatch.namespace: must not start with 'AWS/'",
    ),
    (
        "timeout too low",
        {"istioVersion": "1.13", "cloudwatch": {"requestTimeoutMs": 10}},
        "acpw:cloudwatch.requestTimeoutMs: 10 is out of range: allowed 100 to 60000",
    ),
    (
        "timeout too high",
        {"istioVersion": "1.13", "cloudwatch": {"requestTimeoutMs": 600000}},
        "acpw:cloudwatch.requestTimeoutMs: 600000 is out of range",
    ),
    # The receiver's JSON types are strict (a wrong type fails its start, and Envoy's): the
    # config refuses every value that would not render as the JSON type the module expects.
    (
        "timeout written as a string",
        {"istioVersion": "1.13", "cloudwatch": {"requestTimeoutMs": "5000"}},
        "acpw:cloudwatch.requestTimeoutMs: Input should be a valid integer ('5000' is text: "
        "write the number without quotes)",
    ),
    (
        "timeout as a boolean",
        {"istioVersion": "1.13", "cloudwatch": {"requestTimeoutMs": True}},
        "acpw:cloudwatch.requestTimeoutMs: Input should be a valid integer",
    ),
    (
        "timeout with a fraction",
        {"istioVersion": "1.13", "cloudwatch": {"requestTimeoutMs": 5000.5}},
        "acpw:cloudwatch.requestTimeoutMs: Input should be a valid integer",
    ),
    (
        "metric name as a number",
        {"istioVersion": "1.13", "cloudwatch": {"metricName": 5}},
        "acpw:cloudwatch.metricName: Input should be a valid string",
    ),
    (
        "namespace null",
        {"istioVersion": "1.13", "cloudwatch": {"namespace": None}},
        "acpw:cloudwatch.namespace: Input should be a valid string",
    ),
    (
        "empty selector",
        {"istioVersion": "1.13", "gateways": [{"name": "gw", "namespace": "ns", "selector": {}}]},
        "acpw:gateways[0].selector: must not be empty",
    ),
    (
        "invalid label",
        {
            "istioVersion": "1.13",
            "gateways": [{"name": "gw", "namespace": "ns", "selector": {"app": "bad value!"}}],
        },
        "acpw:gateways[0].selector: label value 'bad value!' of 'app' is not a Kubernetes label value",
    ),
    (
        "invalid label key",
        {
            "istioVersion": "1.13",
            "gateways": [{"name": "gw", "namespace": "ns", "selector": {"-app": "x"}}],
        },
        "acpw:gateways[0].selector: label key '-app' is not a Kubernetes label name",
    ),
    (
        "invalid gateway name",
        {
            "istioVersion": "1.13",
            "gateways": [{"name": "Gateway_1", "namespace": "ns", "selector": {"a": "b"}}],
        },
        "acpw:gateways[0].name: 'Gateway_1' is not a Kubernetes name",
    ),
    (
        "invalid namespace",
        {
            "istioVersion": "1.13",
            "gateways": [{"name": "gw", "namespace": "x" * 64, "selector": {"a": "b"}}],
        },
        "acpw:gateways[0].namespace:",
    ),
    (
        "unknown installer",
        {
            "istioVersion": "1.13",
            "gateways": [
                {"name": "gw", "namespace": "ns", "selector": {"a": "b"}, "installer": "helm"}
            ],
        },
        "acpw:gateways[0].installer: 'helm' is not allowed: 'istioOperator', 'deploymentPatch' "
        "or 'gatewayApi'",
    ),
    (
        "gatewayApi with a selector",
        {
            "istioVersion": "1.30",
            "gateways": [
                {"name": "gw", "namespace": "ns", "selector": {"a": "b"}, "installer": "gatewayApi"}
            ],
        },
        "acpw:gateways[0].selector: not allowed with installer gatewayApi",
    ),
    (
        "gatewayApi on a release without parametersRef",
        {
            "istioVersion": "1.25",
            "gateways": [{"name": "gw", "namespace": "ns", "installer": "gatewayApi"}],
        },
        "acpw:gateways[0].installer: gatewayApi needs Istio 1.26.0 or newer",
    ),
    (
        "gatewayApi with a name that is no Gateway name",
        {
            "istioVersion": "1.30",
            "gateways": [{"name": "Partner_GW", "namespace": "ns", "installer": "gatewayApi"}],
        },
        "acpw:gateways[0].name: 'Partner_GW' is not a Kubernetes name",
    ),
    (
        "gatewayApi with a name istiod cannot suffix",
        {
            "istioVersion": "1.30",
            "gateways": [{"name": "g" * 60, "namespace": "ns", "installer": "gatewayApi"}],
        },
        "acpw:gateways[0].name: '" + "g" * 60 + "' is too long",
    ),
    (
        "two entries for one Gateway",
        {
            "istioVersion": "1.30",
            "gateways": [
                {"name": "gw", "namespace": "ns", "installer": "gatewayApi"},
                {"name": "gw", "namespace": "ns", "installer": "gatewayApi"},
            ],
        },
        "acpw:gateways[1]: Gateway ns/gw is already acpw:gateways[0]; one entry per Gateway",
    ),
    (
        "a selector on a gatewayApi gateway's pods",
        {
            "istioVersion": "1.30",
            "gateways": [
                {"name": "gw", "namespace": "ns", "installer": "gatewayApi"},
                {
                    "name": "other",
                    "namespace": "ns",
                    "selector": {"gateway.networking.k8s.io/gateway-name": "gw"},
                },
            ],
        },
        "acpw:gateways[1].selector: gateway.networking.k8s.io/gateway-name=gw selects the pods "
        "of the gatewayApi gateway ns/gw",
    ),
    (
        "no selector with another installer",
        {
            "istioVersion": "1.30",
            "gateways": [{"name": "gw", "namespace": "ns", "installer": "deploymentPatch"}],
        },
        "acpw:gateways[0].selector: required with installer deploymentPatch",
    ),
    (
        "duplicate gateways",
        {
            "istioVersion": "1.13",
            "gateways": [
                {"name": "gw", "namespace": "ns", "selector": {"a": "b"}},
                {"name": "gw", "namespace": "ns", "selector": {"a": "c"}},
            ],
        },
        "acpw:gateways[1]: duplicate gateway ns/gw (also gateways[0])",
    ),
    (
        "same selector twice in a namespace",
        {
            "istioVersion": "1.13",
            "gateways": [
                {"name": "gw1", "namespace": "ns", "selector": {"a": "b"}},
                {"name": "gw2", "namespace": "ns", "selector": {"a": "b"}},
            ],
        },
        "acpw:gateways[1].selector: same selector as gateways[0]",
    ),
    ("no gateways", {"istioVersion": "1.13", "gateways": []}, "acpw:gateways:"),
    (
        "sender with another scheme",
        {"istioVersion": "1.13", "images": {"sender": "https://example.com/plugin.wasm"}},
        "acpw:images.sender: 'https://example.com/plugin.wasm' must be an oci:// image URL",
    ),
    (
        "bad digest",
        {"istioVersion": "1.13", "images": {"senderDigest": "sha256:1234"}},
        "acpw:images.senderDigest: 'sha256:1234' is not a digest",
    ),
    (
        "bad volume digest",
        {"istioVersion": "1.13", "images": {"receiverVolumeDigest": "md5:" + "0" * 32}},
        "acpw:images.receiverVolumeDigest:",
    ),
    (
        "bad volume image",
        {"istioVersion": "1.13", "images": {"receiverVolume": "oci://ghcr.io/x/y:1"}},
        "acpw:images.receiverVolume:",
    ),
    (
        "private registry on 1.13",
        {"istioVersion": "1.13", "images": {"registry": "ecr"}},
        "acpw:images.registry: 'ecr' is a private registry, and Istio 1.13 ignores WasmPlugin pull secrets",
    ),
    (
        "unknown registry",
        {"istioVersion": "1.20", "images": {"registry": "dockerhub"}},
        "acpw:images.registry: 'dockerhub' is not allowed",
    ),
    (
        "bad pull policy",
        {"istioVersion": "1.20", "images": {"pullPolicy": "Never"}},
        "acpw:images.pullPolicy: 'Never' is not allowed",
    ),
    (
        "local file without a registry",
        {"istioVersion": "1.20", "images": {"senderFile": "tests/data/empty-module.wasm"}},
        "acpw:images.senderFile: the program no longer pushes local files",
    ),
    (
        "kms key",
        {"istioVersion": "1.20", "images": {"registry": "ecr", "ecrKmsKeyArn": "my-key"}},
        "acpw:images.ecrKmsKeyArn: 'my-key' is not a KMS key ARN",
    ),
    (
        "kms key without ecr",
        {
            "istioVersion": "1.20",
            "images": {"ecrKmsKeyArn": "arn:aws:kms:ap-northeast-1:123456789012:alias/acpw"},
        },
        "acpw:images.ecrKmsKeyArn: only applies to registry 'ecr'",
    ),
    (
        "kubectl by tag only",
        {"istioVersion": "1.30", "images": {"kubectl": "registry.k8s.io/kubectl:v1.33.0"}},
        "acpw:images.kubectl: 'registry.k8s.io/kubectl:v1.33.0' is not an image reference by digest",
    ),
    (
        "aws cli with a malformed digest",
        {"istioVersion": "1.30", "images": {"awsCli": "public.ecr.aws/aws-cli/aws-cli@sha256:abc"}},
        "acpw:images.awsCli: 'public.ecr.aws/aws-cli/aws-cli@sha256:abc' is not an image reference by digest",
    ),
    (
        "tool image with a scheme",
        {
            "istioVersion": "1.30",
            "images": {"kubectl": f"oci://registry.k8s.io/kubectl@{GOOD_DIGEST}"},
        },
        "acpw:images.kubectl: 'oci://registry.k8s.io/kubectl@",
    ),
    (
        "copyToolImages without ecr",
        {"istioVersion": "1.30", "images": {"copyToolImages": True}},
        "acpw:images.copyToolImages: only applies to registry 'ecr'",
    ),
    (
        "copyToolImages as text",
        {"istioVersion": "1.30", "images": {"registry": "ecr", "copyToolImages": "yes"}},
        "acpw:images.copyToolImages:",
    ),
    (
        "refresherNamespace without ecr",
        {"istioVersion": "1.30", "images": {"refresherNamespace": "acpw"}},
        "acpw:images.refresherNamespace: only applies to registry 'ecr'",
    ),
    (
        "refresherNamespace not a namespace name",
        {"istioVersion": "1.30", "images": {"registry": "ecr", "refresherNamespace": "Acpw_NS"}},
        "acpw:images.refresherNamespace: 'Acpw_NS' is not a Kubernetes namespace name",
    ),
    (
        "refresherRoleArn not a role",
        {
            "istioVersion": "1.30",
            "images": {
                "registry": "ecr",
                "refresherRoleArn": "arn:aws:iam::123456789012:user/acpw",
            },
        },
        "acpw:images.refresherRoleArn: 'arn:aws:iam::123456789012:user/acpw' is not an IAM role ARN",
    ),
    (
        "refresherRoleArn in another partition",
        {
            "istioVersion": "1.30",
            "images": {
                "registry": "ecr",
                "refresherRoleArn": "arn:aws-cn:iam::123456789012:role/acpw",
            },
        },
        "acpw:images.refresherRoleArn: 'arn:aws-cn:iam::123456789012:role/acpw' is an ARN of the aws-cn partition",
    ),
    (
        "refresherRoleArn without ecr",
        {
            "istioVersion": "1.30",
            "images": {"refresherRoleArn": "arn:aws:iam::123456789012:role/acpw"},
        },
        "acpw:images.refresherRoleArn: only applies to registry 'ecr'",
    ),
    (
        "fail strategy",
        {"istioVersion": "1.20", "failStrategy": "ignore"},
        "acpw:failStrategy: 'ignore' is not allowed: 'open' or 'closed'",
    ),
    (
        "wildcard host",
        {"istioVersion": "1.20", "matchHosts": ["*.example.com"]},
        "acpw:matchHosts: '*.example.com' is not an exact :authority value",
    ),
    (
        "host with path",
        {"istioVersion": "1.20", "matchHosts": ["example.com/x"]},
        "acpw:matchHosts: 'example.com/x'",
    ),
    (
        "duplicate host",
        {"istioVersion": "1.20", "matchHosts": ["a.example.com", "a.example.com"]},
        "acpw:matchHosts: duplicate hosts: a.example.com",
    ),
    (
        "vm id",
        {"istioVersion": "1.20", "receiverVmId": "bad id"},
        "acpw:receiverVmId: 'bad id' is not a VM id",
    ),
    (
        "iam user",
        {"istioVersion": "1.20", "iam": {"userName": "bad user!"}},
        "acpw:iam.userName: 'bad user!' is not an IAM user name",
    ),
    (
        "iam path",
        {"istioVersion": "1.20", "iam": {"path": "acpw"}},
        "acpw:iam.path: 'acpw' is not an IAM path",
    ),
    (
        "boundary",
        {"istioVersion": "1.20", "iam": {"permissionsBoundary": "boundary"}},
        "acpw:iam.permissionsBoundary: 'boundary' is not an IAM policy ARN",
    ),
    (
        "key generation",
        {"istioVersion": "1.20", "iam": {"keyGeneration": 0}},
        "acpw:iam.keyGeneration: 0 is not allowed",
    ),
    ("unknown key", {"istioVersion": "1.20", "gateway": []}, "acpw:gateway: unknown key"),
    (
        "unknown nested key",
        {"istioVersion": "1.20", "cloudwatch": {"regoin": "x"}},
        "acpw:cloudwatch.regoin: unknown key",
    ),
    ("missing version", {}, "acpw:istioVersion: required"),
    # Regions of other partitions: refused even for modules that honour the region.
    *(
        (
            f"{partition} region",
            {
                "istioVersion": "1.20",
                "cloudwatch": {"region": region},
                "images": {"modulesHonourRegion": True},
            },
            f"acpw:cloudwatch.region: '{region}' is in the {partition} partition: only regions of "
            "the aws partition are supported",
        )
        for region, partition in (
            ("cn-north-1", "aws-cn"),
            ("cn-northwest-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("eu-isoe-west-1", "aws-iso-e"),
        )
    ),
    (
        "boundary of another partition",
        {
            "istioVersion": "1.20",
            "iam": {"permissionsBoundary": "arn:aws-cn:iam::123456789012:policy/boundary"},
        },
        "acpw:iam.permissionsBoundary: 'arn:aws-cn:iam::123456789012:policy/boundary' is an ARN "
        "of the aws-cn partition",
    ),
    (
        "kms key of another partition",
        {
            "istioVersion": "1.20",
            "images": {
                "registry": "ecr",
                "ecrKmsKeyArn": "arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/acpw",
            },
        },
        "acpw:images.ecrKmsKeyArn: 'arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/acpw' is "
        "an ARN of the aws-us-gov partition",
    ),
    (
        "later selector is a subset",
        {
            "istioVersion": "1.20",
            "gateways": [
                {"name": "gw1", "namespace": "ns", "selector": {"app": "edge", "tier": "a"}},
                {"name": "gw2", "namespace": "ns", "selector": {"app": "edge"}},
            ],
        },
        "acpw:gateways[1].selector: selector 'app=edge' of gateway gw2 is a subset of the "
        "selector 'app=edge, tier=a' of gateway gw1 (gateways[0]) in namespace ns: every pod "
        "gateway gw1 selects is also selected by gateway gw2, so the modules would load twice",
    ),
    (
        "later selector is a superset",
        {
            "istioVersion": "1.20",
            "gateways": [
                {"name": "gw1", "namespace": "ns", "selector": {"app": "edge"}},
                {"name": "other", "namespace": "x", "selector": {"app": "other"}},
                {"name": "gw3", "namespace": "ns", "selector": {"app": "edge", "tier": "a"}},
            ],
        },
        "acpw:gateways[2].selector: selector 'app=edge, tier=a' of gateway gw3 is a superset of "
        "the selector 'app=edge' of gateway gw1 (gateways[0]) in namespace ns: every pod "
        "gateway gw3 selects is also selected by gateway gw1",
    ),
    (
        "port 0",
        {"istioVersion": "1.20", "matchHosts": ["a.example.com:0"]},
        "acpw:matchHosts: 'a.example.com:0' has port 0: a port is 1 to 65535",
    ),
    (
        "port above 65535",
        {"istioVersion": "1.20", "matchHosts": ["a.example.com", "b.example.com:70000"]},
        "acpw:matchHosts: 'b.example.com:70000' has port 70000: a port is 1 to 65535",
    ),
    (
        "port 65536",
        {"istioVersion": "1.20", "matchHosts": ["a.example.com:65536"]},
        "acpw:matchHosts: 'a.example.com:65536' has port 65536",
    ),
    (
        "port with a leading zero",
        {"istioVersion": "1.20", "matchHosts": ["a.example.com:0443"]},
        "acpw:matchHosts: 'a.example.com:0443' has port 0443: a port is 1 to 65535, written "
        "without leading zeros",
    ),
    (
        "sender pinned twice, differently",
        {
            "istioVersion": "1.20",
            "images": {
                "sender": f"oci://ghcr.io/team/sender:v1@{OTHER_DIGEST}",
                "senderDigest": GOOD_DIGEST,
            },
        },
        f"acpw:images.senderDigest: {GOOD_DIGEST} differs from the digest {OTHER_DIGEST} already "
        "in acpw:images.sender",
    ),
    (
        "receiver volume pinned twice, differently",
        {
            "istioVersion": "1.20",
            "images": {
                "receiverVolume": f"ghcr.io/team/volume@{OTHER_DIGEST}",
                "receiverVolumeDigest": GOOD_DIGEST,
            },
        },
        f"acpw:images.receiverVolumeDigest: {GOOD_DIGEST} differs from the digest {OTHER_DIGEST} "
        "already in acpw:images.receiverVolume",
    ),
    (
        "iam path with an empty segment",
        {"istioVersion": "1.20", "iam": {"path": "/platform//acpw/"}},
        "acpw:iam.path: '/platform//acpw/' has an empty segment ('//')",
    ),
    (
        "iam path of only slashes",
        {"istioVersion": "1.20", "iam": {"path": "//"}},
        "acpw:iam.path: '//' has an empty segment",
    ),
    (
        "iam path with a space",
        {"istioVersion": "1.20", "iam": {"path": "/my team/"}},
        "acpw:iam.path: '/my team/' is not an IAM path: an IAM path is '/' or '/'-separated "
        "segments of printable ASCII",
    ),
    (
        "iam path not ending in /",
        {"istioVersion": "1.20", "iam": {"path": "/acpw"}},
        "acpw:iam.path: '/acpw' is not an IAM path",
    ),
    (
        "iam path too long",
        {"istioVersion": "1.20", "iam": {"path": "/" + "a/" * 256}},
        "acpw:iam.path: '/a/a/",
    ),
    (
        "tag key character",
        {"istioVersion": "1.20", "iam": {"tags": {"team!": "platform"}}},
        "acpw:iam.tags: tag key 'team!' must be 1 to 128 of letters, digits, spaces and "
        "_ . : / = + - @ (IAM tag rules)",
    ),
    (
        "tag key too long",
        {"istioVersion": "1.20", "iam": {"tags": {"k" * 129: "v"}}},
        "acpw:iam.tags: tag key 'kkkk",
    ),
    (
        "empty tag key",
        {"istioVersion": "1.20", "iam": {"tags": {"": "v"}}},
        "acpw:iam.tags: tag key '' must be 1 to 128",
    ),
    (
        "tag value character",
        {"istioVersion": "1.20", "iam": {"tags": {"team": "a,b"}}},
        "acpw:iam.tags: tag value 'a,b' of 'team' must be 0 to 256 of letters, digits",
    ),
    (
        "tag value with a tab",
        {"istioVersion": "1.20", "iam": {"tags": {"team": "a\tb"}}},
        "acpw:iam.tags: tag value 'a\\tb' of 'team'",
    ),
    (
        "tag value too long",
        {"istioVersion": "1.20", "iam": {"tags": {"team": "v" * 257}}},
        "acpw:iam.tags: tag value 'vvvv",
    ),
    (
        "reserved tag key",
        {"istioVersion": "1.20", "iam": {"tags": {"AWS:team": "a"}}},
        "acpw:iam.tags: tag key 'AWS:team' must not start with 'aws:'",
    ),
    (
        "the program's tag key",
        {"istioVersion": "1.20", "iam": {"tags": {"acpw:purpose": "a"}}},
        "acpw:iam.tags: tag key 'acpw:purpose' is set by the program",
    ),
    (
        "too many tags",
        {"istioVersion": "1.20", "iam": {"tags": {f"t{i}": "v" for i in range(48)}}},
        "acpw:iam.tags: 48 tags: at most 47",
    ),
    (
        "key generation too large",
        {"istioVersion": "1.20", "iam": {"keyGeneration": 100000}},
        "acpw:iam.keyGeneration: 100000 is not allowed: use an integer from 1 to 99999",
    ),
    (
        "key generation negative",
        {"istioVersion": "1.20", "iam": {"keyGeneration": -3}},
        "acpw:iam.keyGeneration: -3 is not allowed",
    ),
    (
        "not a vpc endpoint",
        {"istioVersion": "1.20", "iam": {"allowedSourceVpces": ["vpc-0123456789abcdef0"]}},
        "acpw:iam.allowedSourceVpces: [0] 'vpc-0123456789abcdef0' is not a VPC endpoint id",
    ),
    (
        "vpc endpoint with capitals",
        {"istioVersion": "1.20", "iam": {"allowedSourceVpces": ["vpce-0123456789ABCDEF0"]}},
        "acpw:iam.allowedSourceVpces: [0] 'vpce-0123456789ABCDEF0' is not a VPC endpoint id",
    ),
    (
        "duplicate vpc endpoint",
        {
            "istioVersion": "1.20",
            "iam": {"allowedSourceVpces": ["vpce-0123456789abcdef0", "vpce-0123456789abcdef0"]},
        },
        "acpw:iam.allowedSourceVpces: duplicate VPC endpoints: vpce-0123456789abcdef0",
    ),
    (
        "too many vpc endpoints",
        {
            "istioVersion": "1.20",
            "iam": {"allowedSourceVpces": [f"vpce-{i:017x}" for i in range(11)]},
        },
        "acpw:iam.allowedSourceVpces: 11 VPC endpoints: at most 10",
    ),
    (
        "not a cidr",
        {"istioVersion": "1.20", "iam": {"allowedSourceIps": ["8.8.8.0/24", "office"]}},
        "acpw:iam.allowedSourceIps: [1] 'office' is not an IPv4 or IPv6 network in CIDR notation",
    ),
    (
        "cidr with host bits",
        {"istioVersion": "1.20", "iam": {"allowedSourceIps": ["8.8.8.8/24"]}},
        "acpw:iam.allowedSourceIps: [0] '8.8.8.8/24' is not an IPv4 or IPv6 network in CIDR "
        "notation (address/prefix length): did you mean 8.8.8.0/24?",
    ),
    (
        "prefix too long",
        {"istioVersion": "1.20", "iam": {"allowedSourceIps": ["8.8.8.0/33"]}},
        "acpw:iam.allowedSourceIps: [0] '8.8.8.0/33' is not an IPv4 or IPv6 network",
    ),
    (
        "private network",
        {"istioVersion": "1.20", "iam": {"allowedSourceIps": ["10.0.0.0/8"]}},
        "acpw:iam.allowedSourceIps: [0] '10.0.0.0/8' is not a public network: aws:SourceIp only "
        "ever holds public addresses",
    ),
    (
        "private IPv6 network",
        {"istioVersion": "1.20", "iam": {"allowedSourceIps": ["fd00::/8"]}},
        "acpw:iam.allowedSourceIps: [0] 'fd00::/8' is not a public network",
    ),
    (
        "every address",
        {"istioVersion": "1.20", "iam": {"allowedSourceIps": ["0.0.0.0/0"]}},
        "acpw:iam.allowedSourceIps: [0] '0.0.0.0/0' allows every address",
    ),
    (
        "duplicate networks, once normalised",
        {"istioVersion": "1.20", "iam": {"allowedSourceIps": ["8.8.8.8", "8.8.8.8/32"]}},
        "acpw:iam.allowedSourceIps: duplicate networks: 8.8.8.8/32",
    ),
    (
        "too many networks",
        {
            "istioVersion": "1.20",
            "iam": {"allowedSourceIps": [f"8.8.{i}.0/24" for i in range(17)]},
        },
        "acpw:iam.allowedSourceIps: 17 CIDRs: at most 16",
    ),
]


@pytest.mark.parametrize(
    ("raw", "message"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_is_refused_with_its_key(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(raw)
    assert any(problem.startswith(message) for problem in error.value.problems), (
        error.value.problems
    )


@pytest.mark.parametrize(
    ("raw", "message"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_stops_the_program_before_any_resource(raw: dict[str, Any], message: str) -> None:
    stack_config = {"aws:region": "ap-northeast-1", **{f"acpw:{k}": v for k, v in raw.items()}}
    with pytest.raises(ConfigError) as error:
        render_stack("bad", config=stack_config)
    assert message in str(error.value)
    assert last_monitor_registrations() == []


def test_unquoted_version_gets_a_hint() -> None:
    with pytest.raises(ConfigError) as error:
        load({"istioVersion": 1.2})
    assert error.value.problems == [
        'acpw:istioVersion: 1.2 must be a string like "1.22" or "1.22.3" (quote it in YAML: 1.20 would read as 1.2)'
    ]
    with pytest.raises(ConfigError, match=r"if you wrote 1.20 unquoted, YAML read it as a number"):
        load({"istioVersion": "1.2"})


def test_region_is_required_somewhere() -> None:
    with pytest.raises(
        ConfigError, match=r"acpw:cloudwatch.region: required when aws:region is not set"
    ):
        load({"istioVersion": "1.13"}, aws_region=None)


def test_good_values_pass() -> None:
    config = load(
        {
            "istioVersion": "1.22.3",
            "cloudwatch": {
                "namespace": "Team/Gateway #1",
                "metricName": "Requests",
                "requestTimeoutMs": 100,
            },
            "gateways": [
                {
                    "name": "gw",
                    "namespace": "ns",
                    "selector": {"example.com/role": "edge", "app": ""},
                    "installer": "deploymentPatch",
                }
            ],
            "matchHosts": ["api.example.com", "api.example.com:8443"],
            "images": {
                "senderDigest": GOOD_DIGEST,
                "registry": "ecr",
                "pullPolicy": "Always",
                "ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL},
            },
            "iam": {
                "userName": "acpw+ci@team",
                "path": "/a/b/",
                "permissionsBoundary": "arn:aws:iam::123456789012:policy/boundary",
                "keyGeneration": 7,
            },
            "failStrategy": "closed",
        }
    )
    assert str(config.istio_version) == "1.22.3"
    assert config.gateways[0].selector == {"app": "", "example.com/role": "edge"}


def test_several_problems_are_all_reported() -> None:
    with pytest.raises(ConfigError) as error:
        load({"istioVersion": "1.20", "failStrategy": "x", "receiverVmId": "", "matchHosts": ["*"]})
    keys = sorted(p.split(":", 2)[1] for p in error.value.problems)
    assert keys == ["failStrategy", "matchHosts", "receiverVmId"]


def test_structured_values_must_be_json() -> None:
    with pytest.raises(ConfigError, match=r"acpw:gateways: must be a structured value"):
        parse_raw_values({"gateways": "istio-ingressgateway"})
    assert parse_raw_values({"istioVersion": "1.13", "matchHosts": '["a.b"]'}) == {
        "istioVersion": "1.13",
        "matchHosts": ["a.b"],
    }


class TestWarnings:
    def test_fail_strategy_closed_before_1_19(self) -> None:
        warnings = config_warnings(load({"istioVersion": "1.18", "failStrategy": "closed"}))
        assert any(
            "acpw:failStrategy: 'closed' cannot be honoured on Istio 1.18" in w for w in warnings
        )

    def test_fail_open_cannot_be_honoured_before_1_19_either(self) -> None:
        warnings = config_warnings(load({"istioVersion": "1.13"}))
        assert any(
            "'open' cannot be honoured on Istio 1.13" in w and "fails closed" in w for w in warnings
        )

    def test_no_warning_when_honoured(self) -> None:
        images = {"kubectl": KUBECTL, "awsCli": AWS_CLI}
        heartbeat = {"heartbeat": {"image": AWS_CLI}}
        for extra in ({"failStrategy": "closed"}, {}):
            config = {"istioVersion": "1.19", "images": images, "observability": heartbeat}
            assert config_warnings(load({**config, **extra})) == []

    def test_tool_images_default_by_digest_and_take_any_well_formed_digest(self) -> None:
        config = load({"istioVersion": "1.30"})
        assert "@sha256:" in config.images.kubectl and "@sha256:" in config.images.aws_cli
        assert "@sha256:" in config.observability.heartbeat.image
        mirrored = load(
            {
                "istioVersion": "1.30",
                "images": {
                    "kubectl": KUBECTL,
                    "awsCli": "mirror.example.com:5000/aws-cli@" + GOOD_DIGEST,
                },
            }
        )
        assert mirrored.images.kubectl == KUBECTL
        assert mirrored.images.aws_cli.startswith("mirror.example.com:5000/")

    def test_istio_operator_without_in_cluster_operator(self) -> None:
        warnings = config_warnings(load({"istioVersion": "1.24"}))
        assert any("no in-cluster operator" in w for w in warnings)

    def test_pull_secrets_before_1_14_3(self) -> None:
        ECR = {"registry": "ecr", "ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL}}  # noqa: N806
        gateways = [
            {"name": "a", "namespace": "a", "selector": {"app": "a"}},
            {"name": "b", "namespace": "b", "selector": {"app": "b"}},
        ]
        warned = load({"istioVersion": "1.14.2", "gateways": gateways, "images": ECR})
        fixed = load({"istioVersion": "1.14.3", "gateways": gateways, "images": ECR})
        assert any("fixed in 1.14.3" in w for w in config_warnings(warned))
        assert not any("fixed in 1.14.3" in w for w in config_warnings(fixed))

    def test_warnings_reach_the_preview_output(self) -> None:
        render = render_stack(
            "warn",
            config={
                "aws:region": "ap-northeast-1",
                "acpw:istioVersion": "1.18",
                "acpw:failStrategy": "closed",
            },
        )
        assert any("acpw:failStrategy" in w for w in render.warnings)


def test_stack_config_is_read_from_the_cli_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The language host may hand config over as PULUMI_CONFIG (JSON of strings)."""
    from acpw.config import read_stack_config

    monkeypatch.setenv(
        "PULUMI_CONFIG",
        '{"acpw:istioVersion": "1.21", "acpw:matchHosts": "[\\"a.example.com\\"]", "aws:region": "ap-northeast-1"}',
    )
    with pulumi_sdk.empty_runtime_config():
        assert read_stack_config() == {"istioVersion": "1.21", "matchHosts": ["a.example.com"]}


class TestLocalWasmFiles:
    """0.3.0 publishes local files outside the engine: the keys are refused with what to run."""

    @pytest.mark.parametrize(
        ("key", "command", "image", "digest"),
        [
            ("senderFile", "sender", "sender", "senderDigest"),
            ("receiverFile", "receiver", "receiverVolume", "receiverVolumeDigest"),
        ],
    )
    def test_refused_with_the_publish_command(
        self, tmp_path: Path, key: str, command: str, image: str, digest: str
    ) -> None:
        module = tmp_path / "module.wasm"
        module.write_bytes(b"\0asm\x01\0\0\0")
        with pytest.raises(ConfigError) as error:
            load({"istioVersion": "1.20", "images": {"registry": "ecr", key: str(module)}})
        [problem] = [p for p in error.value.problems if p.startswith(f"acpw:images.{key}:")]
        assert f"python -m acpw.oci.publish {command} <file>" in problem
        assert f"acpw:images.{image} to the printed reference" in problem
        assert f"acpw:images.{digest} to the printed digest" in problem

    def test_refused_before_any_resource(self, tmp_path: Path) -> None:
        module = tmp_path / "x.wasm"
        module.write_bytes(b"\0asm\x01\0\0\0")
        with pytest.raises(ConfigError, match=r"acpw:images\.senderFile"):
            render_stack(
                "bad",
                config={
                    "aws:region": "ap-northeast-1",
                    "acpw:istioVersion": "1.20",
                    "acpw:images": {"senderFile": str(module)},
                },
            )
        assert last_monitor_registrations() == []


class TestPullThroughCache:
    def test_ghcr_needs_a_credential(self) -> None:
        with pytest.raises(ConfigError) as error:
            load({"istioVersion": "1.20", "images": {"registry": "ecr"}})
        [problem] = error.value.problems
        assert problem.startswith(
            "acpw:images.ecrUpstreamCredentials: ghcr.io (from acpw:images.sender)"
        )
        assert "ecr-pullthroughcache/<name>" in problem

    def test_an_unsupported_upstream_is_refused(self) -> None:
        with pytest.raises(ConfigError) as error:
            load(
                {
                    "istioVersion": "1.20",
                    "images": {
                        "registry": "ecr",
                        "sender": "oci://mirror.example.com/acpw/sender:1",
                        "receiverVolume": "quay.io/acpw/receiver:1",
                    },
                }
            )
        [problem] = error.value.problems
        assert problem.startswith("acpw:images.sender: registry 'ecr' caches images through")
        assert "mirror.example.com" in problem and "quay.io" in problem

    def test_a_credential_must_be_a_pull_through_secret(self) -> None:
        with pytest.raises(ConfigError) as error:
            load(
                {
                    "istioVersion": "1.20",
                    "images": {
                        "registry": "ecr",
                        "ecrUpstreamCredentials": {
                            "ghcr.io": "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:ghcr"
                        },
                    },
                }
            )
        assert any(
            p.startswith("acpw:images.ecrUpstreamCredentials:") and "ecr-pullthroughcache/" in p
            for p in error.value.problems
        )

    def test_docker_hub_tools_need_their_own_credential(self) -> None:
        with pytest.raises(ConfigError) as error:
            load(
                {
                    "istioVersion": "1.30",
                    "images": {
                        "registry": "ecr",
                        "copyToolImages": True,
                        "ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL},
                    },
                }
            )
        [problem] = error.value.problems
        assert problem.startswith(
            "acpw:images.ecrUpstreamCredentials: docker.io (from acpw:images.awsCli)"
        )

    def test_credentials_only_apply_to_ecr(self) -> None:
        with pytest.raises(ConfigError) as error:
            load(
                {
                    "istioVersion": "1.30",
                    "images": {"ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL}},
                }
            )
        assert error.value.problems == [
            "acpw:images.ecrUpstreamCredentials: only applies to registry 'ecr' (the pull-secret "
            "refresher and the private registry exist only there): set acpw:images.registry: ecr"
        ]

    def test_kms_needs_a_creation_role(self) -> None:
        with pytest.raises(ConfigError) as error:
            load(
                {
                    "istioVersion": "1.20",
                    "images": {
                        "registry": "ecr",
                        "ecrKmsKeyArn": "arn:aws:kms:ap-northeast-1:123456789012:alias/acpw",
                        "ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL},
                    },
                }
            )
        [problem] = error.value.problems
        assert problem.startswith("acpw:images.ecrCreationRoleArn: is needed with")


def test_models_validate_fields_only_and_validate_runs_the_checks() -> None:
    """The models hold per-field rules; the rules across fields are one list run by validate()."""
    from acpw.config import AcpwConfig, ConfigProblem, ConfigWarning, validate

    config = AcpwConfig.model_validate(
        {
            "istioVersion": "1.13",
            "cloudwatch": {"region": "ap-northeast-1"},
            "images": {"registry": "ecr", "ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL}},
            "observability": {"heartbeat": {"enabled": False}},
        }
    )
    problems, warnings = validate(config)
    assert [p.key for p in problems] == ["images.registry", "observability.noDataAlarm"]
    assert all(isinstance(p, ConfigProblem) for p in problems)
    assert "failStrategy" in [w.key for w in warnings]
    assert all(isinstance(w, ConfigWarning) for w in warnings)
    assert config_warnings(config) == [w.line for w in warnings]
    assert all(line.startswith("acpw:") for line in config_warnings(config))


def test_a_check_is_a_function_in_the_list() -> None:
    from acpw.config import AcpwConfig, ConfigProblem, ConfigWarning, validate
    from acpw.config.checks import CHECKS

    config = AcpwConfig.model_validate(
        {"istioVersion": "1.20", "cloudwatch": {"region": "ap-northeast-1"}}
    )
    assert validate(config) == ([], [])

    def both(_: AcpwConfig) -> list[ConfigProblem | ConfigWarning]:
        return [ConfigWarning("instance", "w"), ConfigProblem("instance", "p")]

    assert validate(config, (*CHECKS, both)) == (
        [ConfigProblem("instance", "p")],
        [ConfigWarning("instance", "w")],
    )


def test_problems_of_several_checks_come_together() -> None:
    with pytest.raises(ConfigError) as error:
        load(
            {
                "istioVersion": "1.13",
                "images": {
                    "registry": "ecr",
                    "ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL},
                },
                "matchHosts": ["a.example.com"],
                "cost": {"hosts": 2},
            }
        )
    assert [p.split(":")[1] for p in error.value.problems] == ["images.registry", "cost.hosts"]


def test_config_modules_import_no_cycle() -> None:
    """No model imports its checks (nor anything importing them): acpw.config.models and
    acpw.config.observability stand alone."""
    import ast

    root = Path(__file__).resolve().parents[1] / "acpw" / "config"
    for name in ("base", "models", "observability", "errors", "formats"):
        tree = ast.parse((root / f"{name}.py").read_text(encoding="utf-8"))
        imported = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not {"acpw.config.checks", "acpw.config.loading", "acpw.config"} & imported, name


def test_config_keys_come_from_the_model() -> None:
    from acpw.config import CONFIG_KEYS, STRING_KEYS

    assert CONFIG_KEYS[0] == "istioVersion"
    assert {"cloudwatch", "gateways", "matchHosts", "images", "iam"} <= set(CONFIG_KEYS)
    assert {"istioVersion", "failStrategy", "receiverVmId", "instance"} == STRING_KEYS


class TestScalarsWhereTextIsNeeded:
    """`pulumi config set --path` stores 1234 as a number and true as a boolean."""

    def test_tag_values_become_text(self) -> None:
        config = load(
            {
                "istioVersion": "1.20",
                "iam": {"tags": {"cost-center": 1234, "managed": True, "ratio": 1.5, "off": False}},
            }
        )
        assert config.iam.tags == {
            "cost-center": "1234",
            "managed": "true",
            "off": "false",
            "ratio": "1.5",
        }

    def test_selector_values_become_text(self) -> None:
        config = load(
            {
                "istioVersion": "1.20",
                "gateways": [
                    {"name": "gw", "namespace": "ns", "selector": {"version": 2, "canary": True}}
                ],
            }
        )
        assert config.gateways[0].selector == {"canary": "true", "version": "2"}

    def test_converted_values_are_still_validated(self) -> None:
        with pytest.raises(ConfigError) as error:
            load(
                {
                    "istioVersion": "1.20",
                    "gateways": [{"name": "gw", "namespace": "ns", "selector": {"v": -1.5}}],
                }
            )
        assert error.value.problems == [
            "acpw:gateways[0].selector: label value '-1.5' of 'v' is not a Kubernetes label value "
            "(up to 63 of [A-Za-z0-9_.-] starting and ending alphanumeric)"
        ]

    @pytest.mark.parametrize("value", [None, [1], {"a": "b"}])
    def test_other_values_are_still_refused(self, value: Any) -> None:
        with pytest.raises(
            ConfigError, match=r"acpw:iam\.tags\.team: Input should be a valid string"
        ):
            load({"istioVersion": "1.20", "iam": {"tags": {"team": value}}})

    def test_from_the_cli_values(self) -> None:
        raw = parse_raw_values(
            {
                "istioVersion": "1.20",
                "iam": '{"tags": {"cost-center": 1234, "shared": true}}',
                "gateways": '[{"name": "gw", "namespace": "ns", "selector": {"app": "gw", "v": 3}}]',
            }
        )
        config = load(raw)
        assert config.iam.tags == {"cost-center": "1234", "shared": "true"}
        assert config.gateways[0].selector == {"app": "gw", "v": "3"}

    def test_other_string_fields_suggest_type_string(self) -> None:
        with pytest.raises(ConfigError) as error:
            load({"istioVersion": "1.20", "cloudwatch": {"namespace": 1234}})
        assert error.value.problems == [
            "acpw:cloudwatch.namespace: Input should be a valid string (`pulumi config set --path` "
            "stores numbers and true/false as such: add `--type string`)"
        ]


class TestPartitions:
    """Only the aws partition: the module's host, the IAM ARNs and the console URL assume it."""

    def test_aws_region_of_another_partition_is_named(self) -> None:
        with pytest.raises(ConfigError) as error:
            load({"istioVersion": "1.20"}, aws_region="cn-north-1")
        [problem] = error.value.problems
        assert problem.startswith(
            "aws:region: 'cn-north-1' is in the aws-cn partition: only regions of the aws "
            "partition are supported, because the receiver's CloudWatch host is built as "
            "monitoring.<region>.amazonaws.com (aws-cn endpoints end in .amazonaws.com.cn)"
        )
        assert "arn:aws-cn:" in problem

    def test_other_problems_are_still_reported_with_the_default_region(self) -> None:
        with pytest.raises(ConfigError) as error:
            load({"istioVersion": "1.20", "failStrategy": "x"}, aws_region="cn-north-1")
        [region, strategy] = error.value.problems
        assert region.startswith("aws:region: 'cn-north-1' is in the aws-cn partition")
        assert strategy.startswith("acpw:failStrategy: 'x' is not allowed")

    def test_aws_region_counts_even_when_cloudwatch_region_is_set(self) -> None:
        with pytest.raises(ConfigError) as error:
            load(
                {"istioVersion": "1.20", "cloudwatch": {"region": "ap-northeast-1"}},
                aws_region="us-gov-west-1",
            )
        [problem] = error.value.problems
        assert problem.startswith("aws:region: 'us-gov-west-1' is in the aws-us-gov partition")
        assert problem.endswith("the IAM user and its key are created in aws:region's partition")

    def test_other_problems_are_reported_too(self) -> None:
        with pytest.raises(ConfigError) as error:
            load(
                {
                    "istioVersion": "1.20",
                    "cloudwatch": {"region": "ap-northeast-1"},
                    "failStrategy": "x",
                },
                aws_region="us-isob-east-1",
            )
        [region, strategy] = error.value.problems
        assert region.startswith("aws:region: 'us-isob-east-1' is in the aws-iso-b partition")
        assert strategy.startswith("acpw:failStrategy: 'x' is not allowed")

    def test_problems_of_the_default_region_name_aws_region(self) -> None:
        with pytest.raises(ConfigError) as error:
            load({"istioVersion": "1.20"}, aws_region="us-east-1")
        assert error.value.problems == [
            "aws:region (the default of acpw:cloudwatch.region): 'us-east-1' cannot work with the "
            "published v0.1.0 modules, which always call monitoring.ap-northeast-1.amazonaws.com: "
            "use ap-northeast-1 (Envoy signing, which works in every region, needs Istio 1.22 or "
            "later; this is 1.20), or set acpw:images.modulesHonourRegion: true for modules built "
            "to honour the region"
        ]
        with pytest.raises(ConfigError) as error:
            load({"istioVersion": "1.20"}, aws_region="tokyo")
        assert error.value.problems[0].startswith(
            "aws:region (the default of acpw:cloudwatch.region): 'tokyo' is not an AWS region"
        )

    def test_aws_partition_regions_still_pass(self) -> None:
        raw = {"istioVersion": "1.20", "images": {"modulesHonourRegion": True}}
        for region in ("us-east-1", "eu-central-2", "ap-southeast-5", "il-central-1"):
            assert load(raw, aws_region=region).region == region

    def test_refused_before_any_resource(self) -> None:
        with pytest.raises(ConfigError, match=r"aws:region: 'cn-northwest-1' is in the aws-cn"):
            render_stack(
                "bad", config={"aws:region": "cn-northwest-1", "acpw:istioVersion": "1.20"}
            )
        assert last_monitor_registrations() == []


def test_new_rules_let_good_values_pass() -> None:
    config = load(
        {
            "istioVersion": "1.30",
            "gateways": [
                {"name": "a", "namespace": "ns", "selector": {"app": "gw", "tier": "a"}},
                {"name": "b", "namespace": "ns", "selector": {"app": "gw", "tier": "b"}},
                {"name": "c", "namespace": "other", "selector": {"app": "gw"}},
            ],
            "matchHosts": ["a.example.com:1", "a.example.com:65535", "a.example.com"],
            "images": {
                "sender": f"oci://ghcr.io/team/sender:v1@{GOOD_DIGEST}",
                "senderDigest": GOOD_DIGEST,
                "receiverVolume": f"ghcr.io/team/volume@{GOOD_DIGEST}",
                "receiverVolumeDigest": GOOD_DIGEST,
                "registry": "ecr",
                "ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL},
            },
            "iam": {
                "path": "/" + "p/" * 255,
                "tags": {
                    "Cost Center": "41200",
                    "チーム": "プラットフォーム",
                    "a_b.c:d/e=f+g-h@i": "",
                    "k" * 128: "v" * 256,
                    **{f"t{i}": "v" for i in range(43)},
                },
                "keyGeneration": 99999,
                "allowedSourceVpces": ["vpce-0123456789abcdef0", "vpce-1a2b3c4d"],
                "allowedSourceIps": ["8.8.8.8", "2600:1F00:0::/24", "52.95.0.0/16"],
            },
        }
    )
    assert len(config.iam.path) == 511
    assert config.iam.key_generation == 99999
    assert config.iam.allowed_source_vpces == ["vpce-0123456789abcdef0", "vpce-1a2b3c4d"]
    assert config.iam.allowed_source_ips == ["8.8.8.8/32", "2600:1f00::/24", "52.95.0.0/16"]
    assert load({"istioVersion": "1.30", "iam": {"path": "/"}}).iam.path == "/"
    defaults = load({"istioVersion": "1.30"}).iam
    assert (defaults.allowed_source_vpces, defaults.allowed_source_ips) == ([], [])


HUGE = "x" * 100_000
"""A value nobody means: a message must quote only its start."""

HUGE_VALUES: list[tuple[str, dict[str, Any], str | None]] = [
    ("istioVersion", {"istioVersion": HUGE}, None),
    ("region", {"cloudwatch": {"region": HUGE}}, None),
    ("region of another partition", {"cloudwatch": {"region": "cn-" + HUGE}}, None),
    ("aws:region", {}, HUGE),
    ("aws:region of another partition", {}, "us-gov-" + HUGE),
    ("huge number", {"cloudwatch": {"requestTimeoutMs": 10**5000}}, None),
    (
        "gateway name",
        {"gateways": [{"name": HUGE, "namespace": "ns", "selector": {"a": "b"}}]},
        None,
    ),
    (
        "gateway namespace",
        {"gateways": [{"name": "n", "namespace": HUGE, "selector": {"a": "b"}}]},
        None,
    ),
    ("selector", {"gateways": [{"name": "n", "namespace": "ns", "selector": {HUGE: HUGE}}]}, None),
    (
        "selector value",
        {"gateways": [{"name": "n", "namespace": "ns", "selector": {"a": [HUGE]}}]},
        None,
    ),
    (
        "max surge",
        {"gateways": [{"name": "n", "namespace": "ns", "selector": {"a": "b"}, "maxSurge": HUGE}]},
        None,
    ),
    (
        "negative max surge",
        {
            "gateways": [
                {"name": "n", "namespace": "ns", "selector": {"a": "b"}, "maxSurge": -(10**5000)}
            ]
        },
        None,
    ),
    (
        "installer",
        {"gateways": [{"name": "n", "namespace": "ns", "selector": {"a": "b"}, "installer": HUGE}]},
        None,
    ),
    ("host", {"matchHosts": [HUGE]}, None),
    ("sender", {"images": {"sender": HUGE}}, None),
    ("oci sender", {"images": {"sender": "oci://" + HUGE}}, None),
    ("receiver volume", {"images": {"receiverVolume": HUGE}}, None),
    ("digest", {"images": {"senderDigest": HUGE}}, None),
    ("volume digest", {"images": {"receiverVolumeDigest": HUGE}}, None),
    ("kms key", {"images": {"registry": "ecr", "ecrKmsKeyArn": HUGE}}, None),
    (
        "kms key of a partition",
        {"images": {"registry": "ecr", "ecrKmsKeyArn": "arn:aws-cn:" + HUGE}},
        None,
    ),
    ("registry", {"images": {"registry": HUGE}}, None),
    ("pull policy", {"images": {"pullPolicy": HUGE}}, None),
    ("user name", {"iam": {"userName": HUGE}}, None),
    ("path", {"iam": {"path": HUGE}}, None),
    ("long path", {"iam": {"path": "/" + HUGE + "/"}}, None),
    ("boundary", {"iam": {"permissionsBoundary": HUGE}}, None),
    ("tags", {"iam": {"tags": {HUGE: HUGE}}}, None),
    ("tag value", {"iam": {"tags": {"team": HUGE}}}, None),
    ("key generation", {"iam": {"keyGeneration": 10**5000}}, None),
    ("vpc endpoint", {"iam": {"allowedSourceVpces": [HUGE]}}, None),
    ("network", {"iam": {"allowedSourceIps": [HUGE]}}, None),
    ("fail strategy", {"failStrategy": HUGE}, None),
    ("vm id", {"receiverVmId": HUGE}, None),
    ("unknown key", {HUGE: 1}, None),
    ("unknown nested key", {"iam": {HUGE: 1}}, None),
]


@pytest.mark.parametrize(
    ("raw", "aws_region"), [c[1:] for c in HUGE_VALUES], ids=[c[0] for c in HUGE_VALUES]
)
def test_messages_quote_only_the_start_of_a_huge_value(
    raw: dict[str, Any], aws_region: str | None
) -> None:
    with pytest.raises(ConfigError) as error:
        load({"istioVersion": "1.20", **raw}, aws_region=aws_region or "ap-northeast-1")
    assert error.value.problems
    for problem in error.value.problems:
        assert "x" * 61 not in problem, problem[:200]
        assert len(problem) < 800, problem[:200]


def test_huge_cli_values_are_quoted_short() -> None:
    with pytest.raises(ConfigError) as error:
        parse_raw_values({"gateways": HUGE, "iam": '{"keyGeneration": ' + "9" * 5000 + "}"})
    assert error.value.problems == [
        f"acpw:gateways: must be a structured value (object or list), got '{'x' * 60}…' "
        "(100000 characters)",
        "acpw:iam: must be a structured value (object or list), got "
        f"'{{\"keyGeneration\": {'9' * 42}…' (5019 characters)",
    ]


class TestShown:
    def test_short_values_are_quoted_whole(self) -> None:
        assert shown("tokyo") == "'tokyo'"
        assert shown("x" * 60) == repr("x" * 60)
        assert shown(70000) == "70000"
        assert shown(None) == "None"

    def test_long_values_are_cut_and_measured(self) -> None:
        assert shown("y" * 61) == f"'{'y' * 60}…' (61 characters)"
        assert shown("abc", limit=2) == "'ab…' (3 characters)"
        assert shown([1] * 100).endswith("… (300 characters)")
        assert shown(10**5000) == "an integer of about 5000 digits"

    def test_control_characters_cannot_break_the_line(self) -> None:
        assert shown("a\nb") == "'a\\nb'"


class TestStackYaml:
    """Stack files are read without silently dropping a duplicate key."""

    def test_duplicates_are_refused_with_file_line_and_key(self) -> None:
        text = (
            "config:\n"  # 1
            "  aws:region: ap-northeast-1\n"  # 2
            "  acpw:iam:\n"  # 3
            "    tags:\n"  # 4
            "      team: a\n"  # 5
            "      team: b\n"  # 6
            '  acpw:istioVersion: "1.20"\n'  # 7
            "  acpw:iam:\n"  # 8
            "    keyGeneration: 2\n"  # 9
        )
        with pytest.raises(ConfigError) as error:
            load_yaml(text, "Pulumi.dev.yaml")
        assert error.value.problems == [
            "Pulumi.dev.yaml:6: duplicate key 'team' (first at line 5): YAML would silently keep "
            "only the last one; write the key once",
            "Pulumi.dev.yaml:8: duplicate key 'acpw:iam' (first at line 3): YAML would silently "
            "keep only the last one; write the key once",
        ]

    def test_a_file_is_named_by_its_name(self, tmp_path: Path) -> None:
        stack = tmp_path / "Pulumi.prod.yaml"
        stack.write_text("config:\n  aws:region: a\n  aws:region: b\n", encoding="utf-8")
        with pytest.raises(
            ConfigError,
            match=r"Pulumi\.prod\.yaml:3: duplicate key 'aws:region' \(first at line 2\)",
        ):
            load_yaml_file(stack)

    def test_same_result_as_safe_load_otherwise(self) -> None:
        text = (
            "base: &base {x: 1, y: 2}\n"
            "merged:\n  <<: *base\n  x: 3\n"  # a merge key may be overridden
            "distinct:\n  1: int\n  '1': text\n"
            "list: [a, a]\n"
        )
        assert load_yaml(text, "t.yaml") == yaml.safe_load(text)
        assert load_yaml(text, "t.yaml")["merged"] == {"x": 3, "y": 2}
        assert load_yaml("", "empty.yaml") is None

    @pytest.mark.parametrize("name", ["Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"])
    def test_the_project_files_have_no_duplicates(self, name: str) -> None:
        path = Path(__file__).resolve().parents[1] / name
        assert load_yaml_file(path) == yaml.safe_load(path.read_text(encoding="utf-8"))

    def test_the_renderer_refuses_a_stack_file_with_duplicates(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import tools.render

        (tmp_path / "Pulumi.yaml").write_text("name: acpw\nruntime: python\n", encoding="utf-8")
        (tmp_path / "Pulumi.dup.yaml").write_text(
            'config:\n  acpw:istioVersion: "1.20"\n  acpw:istioVersion: "1.13"\n', encoding="utf-8"
        )
        monkeypatch.setattr(tools.render, "ROOT", tmp_path)
        with pytest.raises(ConfigError, match=r"Pulumi\.dup\.yaml:3: duplicate key"):
            tools.render.read_stack_config("dup")


def test_rollout_settings_per_gateway() -> None:
    config = load(
        {
            "istioVersion": "1.30",
            "gateways": [
                {**GW, "maxSurge": "50%"},
                {**GW, "name": "h", "selector": {"app": "h"}, "maxSurge": 3, "enabled": False},
            ],
            "iam": {"revokePreviousKey": True},
        }
    )
    assert [g.max_surge for g in config.gateways] == ["50%", 3]
    assert [g.enabled for g in config.gateways] == [True, False]
    assert config.enabled_gateways == [config.gateways[0]]
    assert config.iam.revoke_previous_key is True
    defaults = load({"istioVersion": "1.30"})
    assert defaults.gateways[0].max_surge == "25%"
    assert defaults.gateways[0].enabled is True
    assert defaults.iam.revoke_previous_key is False
