"""IAM user, least-privilege policy, access key rotation and the key Secrets."""

from __future__ import annotations

import json
from typing import Any

from acpw.contract import CREDENTIALS_SECRET
from acpw.credentials import put_metric_data_policy
from acpw.rollout import KeyIdentity, credentials_secret_name
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
