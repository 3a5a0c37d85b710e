"""IAM user, least-privilege policy, access key rotation and the key Secrets."""

from __future__ import annotations

import json
from typing import Any

from acpw.config import load_config
from acpw.contract import CREDENTIALS_SECRET
from acpw.credentials import put_metric_data_policy
from acpw.generations import KeyIdentity, credentials_secret_name
from tests.matrix import matrix_config
from tools.mock_engine import Registration, is_secret
from tools.render import Render, render_stack


def render(**overrides: object) -> Render:
    return render_stack("cred", config=matrix_config("1.30", **overrides))


def test_policy_allows_exactly_put_metric_data_into_the_namespace() -> None:
    assert put_metric_data_policy("Team/App") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PutAcpwRequestMetrics",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": "Team/App"}},
            }
        ],
    }


def test_the_program_attaches_that_policy_to_the_user() -> None:
    result = render(cloudwatch={"namespace": "Team/App"})
    [user] = [
        u
        for u in result.of_type("aws:iam/user:User")
        if u.name == "acpw-credentials-user-acpw-cred"
    ]
    policies = [
        r
        for r in result.registrations
        if r.type.startswith("aws:iam/")
        and "olicy" in r.type
        and r.inputs.get("user") == user.inputs["name"]
    ]
    [policy] = policies
    assert policy.type == "aws:iam/userPolicy:UserPolicy"
    assert json.loads(policy.inputs["policy"]) == put_metric_data_policy("Team/App")


def test_user_settings() -> None:
    result = render(
        iam={
            "userName": "gateway-metrics",
            "path": "/platform/",
            "permissionsBoundary": "arn:aws:iam::123456789012:policy/boundary",
            "tags": {"team": "platform"},
        }
    )
    [user] = [
        u
        for u in result.of_type("aws:iam/user:User")
        if u.name == "acpw-credentials-user-gateway-metrics"
    ]
    assert user.inputs["name"] == "gateway-metrics"
    assert user.inputs["path"] == "/platform/"
    assert user.inputs["permissionsBoundary"] == "arn:aws:iam::123456789012:policy/boundary"
    assert user.inputs["tags"]["team"] == "platform"


def test_default_user_name_comes_from_project_and_stack() -> None:
    [user] = [
        u for u in render().of_type("aws:iam/user:User") if u.name.startswith("acpw-credentials-")
    ]
    assert user.inputs["name"] == "acpw-cred"
    assert "permissionsBoundary" not in user.inputs


def test_secrets_hold_the_key_as_pulumi_secrets_and_depend_on_it() -> None:
    result = render()
    [key] = [
        k
        for k in result.of_type("aws:iam/accessKey:AccessKey")
        if k.name.startswith("acpw-credentials-key")
    ]
    secrets = [
        r
        for r in result.of_type("kubernetes:core/v1:Secret")
        if r.inputs["metadata"]["name"] == credentials_secret_name(KeyIdentity("acpw-cred", 1))
    ]
    assert sorted(s.inputs["metadata"]["namespace"] for s in secrets) == ["edge", "istio-system"]
    for secret in secrets:
        assert key.urn in secret.dependencies
        assert is_secret(secret.inputs["stringData"])
        assert secret.inputs["immutable"] is True
        data = secret.plain_inputs()["stringData"]
        assert data == {
            "ACPW_AWS_ACCESS_KEY_ID": "[unknown: access key id]",
            "ACPW_AWS_SECRET_ACCESS_KEY": "[unknown: secret access key]",
        }


def test_key_generation_names_a_new_key_and_secret_beside_the_old_ones() -> None:
    def keys(**iam: Any) -> dict[str, Registration]:
        result = render(iam=iam) if iam else render()
        return {
            k.name: k
            for k in result.of_type("aws:iam/accessKey:AccessKey")
            if k.name.startswith("acpw-credentials-")
        }

    def secrets(**iam: Any) -> set[str]:
        result = render(iam=iam) if iam else render()
        return {
            r.inputs["metadata"]["name"]
            for r in result.of_type("kubernetes:core/v1:Secret")
            if r.inputs["metadata"]["name"].startswith(CREDENTIALS_SECRET)
        }

    first, second = keys(), keys(keyGeneration=2)
    g1, g2 = KeyIdentity("acpw-cred", 1), KeyIdentity("acpw-cred", 2)
    assert set(first) == {f"acpw-credentials-key-{g1.suffix}"}
    assert set(second) == {f"acpw-credentials-key-{g2.suffix}"}
    # Stacks of release 0.1.0 named the key by generation only: the desired key keeps that URN.
    [key] = second.values()
    assert [urn.rsplit("::", 1)[1] for urn in key.aliases] == ["acpw-credentials-key-g2"]
    assert secrets() == {credentials_secret_name(g1)}
    assert secrets(keyGeneration=2) == {credentials_secret_name(g2)}
    assert credentials_secret_name(g1) != credentials_secret_name(g2)
    assert key.inputs["status"] == "Active"
    # A user change is a new user (and key), not a rename of the old one.
    renamed = keys(userName="other")
    assert set(renamed) == {f"acpw-credentials-key-{KeyIdentity('other', 1).suffix}"}
    [user] = [
        u
        for u in render(iam={"keyGeneration": 2}).of_type("aws:iam/user:User")
        if u.name.startswith("acpw-credentials-")
    ]
    assert user.inputs["forceDestroy"] is True


VPCE = "vpce-0123456789abcdef0"


def _statements(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert policy["Version"] == "2012-10-17"
    return {s["Sid"]: s for s in policy["Statement"]}


def test_policy_through_vpc_endpoints_only() -> None:
    statements = _statements(put_metric_data_policy("Team/App", source_vpces=[VPCE]))
    assert statements == {
        "PutAcpwRequestMetricsThroughVpcEndpoints": {
            "Sid": "PutAcpwRequestMetricsThroughVpcEndpoints",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"cloudwatch:namespace": "Team/App", "aws:SourceVpce": [VPCE]}
            },
        }
    }


def test_policy_from_networks_only() -> None:
    statements = _statements(put_metric_data_policy("Team/App", source_ips=("8.8.8.0/24",)))
    assert statements == {
        "PutAcpwRequestMetricsFromNetworks": {
            "Sid": "PutAcpwRequestMetricsFromNetworks",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"cloudwatch:namespace": "Team/App"},
                "IpAddress": {"aws:SourceIp": ["8.8.8.0/24"]},
            },
        }
    }


def test_policy_with_both_sources_allows_either() -> None:
    """Conditions of one statement must all hold, and a request through a VPC endpoint has no
    aws:SourceIp: one statement per source, so that a request from either is allowed."""
    policy = put_metric_data_policy(
        "Team/App", source_vpces=[VPCE], source_ips=["8.8.8.0/24", "2600:1f00::/24"]
    )
    statements = _statements(policy)
    assert list(statements) == [
        "PutAcpwRequestMetricsThroughVpcEndpoints",
        "PutAcpwRequestMetricsFromNetworks",
    ]
    through_vpce, from_networks = policy["Statement"]
    assert through_vpce["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "Team/App", "aws:SourceVpce": [VPCE]}
    }
    assert from_networks["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "Team/App"},
        "IpAddress": {"aws:SourceIp": ["8.8.8.0/24", "2600:1f00::/24"]},
    }
    for statement in policy["Statement"]:
        assert (statement["Effect"], statement["Action"], statement["Resource"]) == (
            "Allow",
            "cloudwatch:PutMetricData",
            "*",
        )
    # Nothing given: the unconditional-source policy, unchanged.
    assert put_metric_data_policy("Team/App", source_vpces=[], source_ips=[]) == (
        put_metric_data_policy("Team/App")
    )


def test_the_largest_allowed_policy_fits_iam_inline_policy_size() -> None:
    """IAM counts at most 2048 characters (whitespace excluded) of a user's inline policies."""
    from acpw.config.models import ALLOWED_SOURCE_IPS_MAX, ALLOWED_SOURCE_VPCES_MAX

    config = load_config(
        {
            "istioVersion": "1.30",
            "cloudwatch": {"namespace": "N" * 255},
            "iam": {
                "allowedSourceVpces": [f"vpce-{i:017x}" for i in range(ALLOWED_SOURCE_VPCES_MAX)],
                "allowedSourceIps": [
                    f"2600:1f00:ffff:ffff:ffff:ffff:ffff:{0xF000 + i:04x}/128"
                    for i in range(ALLOWED_SOURCE_IPS_MAX)
                ],
            },
        },
        project="acpw",
        stack="dev",
        aws_region="ap-northeast-1",
    )
    policy = put_metric_data_policy(
        config.cloudwatch.namespace,
        source_vpces=config.iam.allowed_source_vpces,
        source_ips=config.iam.allowed_source_ips,
    )
    text = json.dumps(policy, sort_keys=True, separators=(",", ":"))
    assert 1500 < len(text) <= 2048, len(text)


def test_the_program_attaches_the_source_conditions() -> None:
    result = render(iam={"allowedSourceVpces": [VPCE], "allowedSourceIps": ["8.8.8.0/24"]})
    [policy] = [
        p
        for p in result.of_type("aws:iam/userPolicy:UserPolicy")
        if p.name.startswith("acpw-credentials-policy-")
    ]
    assert json.loads(policy.inputs["policy"]) == put_metric_data_policy(
        "AWSCloudWatchProxyWasm", source_vpces=[VPCE], source_ips=["8.8.8.0/24"]
    )
