"""IAM user, least-privilege policy, access key rotation and the key Secrets."""

from __future__ import annotations

import json

from acpw.credentials import put_metric_data_policy
from tests.matrix import matrix_config
from tools.mock_engine import is_secret
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
    [user] = [u for u in result.of_type("aws:iam/user:User") if u.name == "acpw-credentials-user"]
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
    [user] = [u for u in result.of_type("aws:iam/user:User") if u.name == "acpw-credentials-user"]
    assert user.inputs["name"] == "gateway-metrics"
    assert user.inputs["path"] == "/platform/"
    assert user.inputs["permissionsBoundary"] == "arn:aws:iam::123456789012:policy/boundary"
    assert user.inputs["tags"]["team"] == "platform"


def test_default_user_name_comes_from_project_and_stack() -> None:
    [user] = [u for u in render().of_type("aws:iam/user:User") if u.name == "acpw-credentials-user"]
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
        if r.inputs["metadata"]["name"] == "acpw-aws-credentials"
    ]
    assert sorted(s.inputs["metadata"]["namespace"] for s in secrets) == ["edge", "istio-system"]
    for secret in secrets:
        assert key.urn in secret.dependencies
        assert is_secret(secret.inputs["stringData"])
        data = secret.plain_inputs()["stringData"]
        assert data == {
            "ACPW_AWS_ACCESS_KEY_ID": "[unknown: access key id]",
            "ACPW_AWS_SECRET_ACCESS_KEY": "[unknown: secret access key]",
        }


def test_key_generation_names_a_new_key_so_the_old_one_is_deleted_last() -> None:
    first = render().of_type("aws:iam/accessKey:AccessKey")
    second = render(iam={"keyGeneration": 2}).of_type("aws:iam/accessKey:AccessKey")
    assert "acpw-credentials-key-g1" in [k.name for k in first]
    assert "acpw-credentials-key-g2" in [k.name for k in second]
    assert "acpw-credentials-key-g1" not in [k.name for k in second]
    # The user survives a rotation unchanged, and force_destroy lets a later delete remove old keys.
    [user] = [
        u
        for u in render(iam={"keyGeneration": 2}).of_type("aws:iam/user:User")
        if u.name == "acpw-credentials-user"
    ]
    assert user.inputs["forceDestroy"] is True
