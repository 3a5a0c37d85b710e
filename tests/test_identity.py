"""Keyless modes (acpw/identity.py) and Envoy signing as the program registers them."""

from __future__ import annotations

import json

from acpw.credentials import put_metric_data_policy
from acpw.receiver import PLACEHOLDER_KEYS, signed_cluster_name
from tests.matrix import matrix_config, with_public_images
from tools.render import Render, render_stack

OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC123"
ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/ABC123"
IRSA = {"credentials": "irsa", "oidcProviderArn": OIDC}
POD_IDENTITY = {"credentials": "podIdentity", "eksClusterName": "prod"}


def render(version: str = "1.30", **overrides: object) -> Render:
    config = matrix_config(version, **overrides)
    config = with_public_images(config)
    return render_stack("identity", config=config)


def _types(result: Render) -> set[str]:
    return {r.type for r in result.registrations}


def _role(result: Render) -> dict[str, object]:
    [role] = result.of_type("aws:iam/role:Role")
    return json.loads(role.inputs["assumeRolePolicy"])


def test_irsa_role_trusts_exactly_the_gateway_service_accounts() -> None:
    result = render(iam=IRSA)
    assert _role(result) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GatewayServiceAccountsThroughOidc",
                "Effect": "Allow",
                "Principal": {"Federated": OIDC},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{ISSUER}:sub": [
                            # istioOperator: Istio's gateway chart; deploymentPatch: the Helm chart
                            "system:serviceaccount:istio-system:istio-ingressgateway-service-account",
                            "system:serviceaccount:edge:edge-gateway",
                        ],
                        f"{ISSUER}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }
    patches = result.of_type("kubernetes:core/v1:ServiceAccountPatch")
    assert sorted(
        (p.inputs["metadata"]["namespace"], p.inputs["metadata"]["name"]) for p in patches
    ) == [("edge", "edge-gateway"), ("istio-system", "istio-ingressgateway-service-account")]
    for patch in patches:
        # The role's ARN (the mock engine's account), nothing else the installer set is touched.
        assert patch.inputs["metadata"]["annotations"] == {
            "eks.amazonaws.com/role-arn": "arn:aws:iam::unknown-aws-account-id:role/acpw/acpw-identity"
        }


def test_keyless_modes_create_no_user_key_or_secret() -> None:
    for iam in (IRSA, POD_IDENTITY):
        result = render(iam=iam)
        types = _types(result)
        assert "aws:iam/user:User" not in types
        assert "aws:iam/accessKey:AccessKey" not in types
        assert not [
            s for s in result.of_type("kubernetes:core/v1:Secret") if "credentials" in s.name
        ]
        [policy] = result.of_type("aws:iam/rolePolicy:RolePolicy")
        assert json.loads(policy.inputs["policy"]) == put_metric_data_policy(
            "AWSCloudWatchProxyWasm"
        )


def test_pod_identity_role_and_associations() -> None:
    result = render(iam=POD_IDENTITY)
    assert _role(result)["Statement"] == [
        {
            "Sid": "EksPodIdentity",
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }
    ]
    associations = result.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert sorted(
        (a.inputs["clusterName"], a.inputs["namespace"], a.inputs["serviceAccount"])
        for a in associations
    ) == [
        ("prod", "edge", "edge-gateway"),
        ("prod", "istio-system", "istio-ingressgateway-service-account"),
    ]
    assert not result.of_type("kubernetes:core/v1:ServiceAccountPatch")


def _bootstrap(result: Render) -> dict[str, object]:
    [configmap, *_] = [
        c for c in result.of_type("kubernetes:core/v1:ConfigMap") if "bootstrap" in c.name
    ]
    return json.loads(configmap.inputs["data"]["custom_bootstrap.json"])


def test_envoy_signing_is_a_cluster_of_the_receiver_bootstrap() -> None:
    result = render(cloudwatch={"region": "eu-west-1"})
    bootstrap = _bootstrap(result)
    [cluster] = bootstrap["static_resources"]["clusters"]  # type: ignore[index]
    assert cluster["name"] == signed_cluster_name("eu-west-1")
    options = cluster["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    names = [f["name"] for f in options["http_filters"]]
    assert names == [
        "envoy.filters.http.header_mutation",
        "envoy.filters.http.aws_request_signing",
        "envoy.filters.http.upstream_codec",
    ]
    signing = options["http_filters"][1]["typed_config"]
    assert signing["service_name"] == "monitoring"
    assert signing["region"] == "eu-west-1"
    assert signing["host_rewrite"] == "monitoring.eu-west-1.amazonaws.com"
    receiver = bootstrap["bootstrap_extensions"][0]["typed_config"]["config"]  # type: ignore[index]
    configuration = json.loads(receiver["configuration"]["value"])
    assert configuration["cloud_watch_cluster_name"] == signed_cluster_name("eu-west-1")


def test_module_signing_renders_no_cluster_of_its_own() -> None:
    assert "static_resources" not in _bootstrap(render())


def test_placeholders_are_not_secret_and_not_empty() -> None:
    assert all(PLACEHOLDER_KEYS.values())
    assert "not" in PLACEHOLDER_KEYS["ACPW_AWS_ACCESS_KEY_ID"].lower()
