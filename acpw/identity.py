"""The keyless AWS identity of the gateways: an IAM role for their ServiceAccounts.

``acpw:iam.credentials``:

- ``irsa``: the role trusts the cluster's IAM OIDC provider for exactly the gateways'
  ServiceAccounts (``<issuer>:sub`` = ``system:serviceaccount:<namespace>:<name>``,
  ``<issuer>:aud`` = ``sts.amazonaws.com``), and each ServiceAccount is annotated with
  ``eks.amazonaws.com/role-arn`` through a ``ServiceAccountPatch`` (the gateway installer owns
  the ServiceAccount). The EKS Pod Identity webhook then gives new pods ``AWS_ROLE_ARN`` and
  ``AWS_WEB_IDENTITY_TOKEN_FILE``, which Envoy's web-identity provider reads.
- ``podIdentity``: the role trusts ``pods.eks.amazonaws.com`` (``sts:AssumeRole``,
  ``sts:TagSession``) and an ``aws.eks.PodIdentityAssociation`` per ServiceAccount gives it to
  the pods (the agent injects ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` and
  ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``).

No IAM user, access key or Secret. The role has the same least-privilege policy as the user
(:func:`acpw.credentials.put_metric_data_policy`). While an older generation of the other
keyless mode still runs, the role trusts both, so no serving pod loses its credentials.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from acpw.config import AcpwConfig
from acpw.contract import aws_tags
from acpw.credentials import POLICY_NAME, put_metric_data_policy

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
"""What the EKS Pod Identity webhook reads on a ServiceAccount (IRSA)."""
STS_AUDIENCE = "sts.amazonaws.com"
POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"


def service_accounts(config: AcpwConfig) -> list[tuple[str, str]]:
    """(namespace, ServiceAccount) of every configured gateway (also those being taken off,
    whose pods run until they roll), distinct, in config order."""
    return list(dict.fromkeys((g.namespace, g.service_account_name) for g in config.gateways))


def trust_policy(
    modes: Iterable[str], accounts: list[tuple[str, str]], *, oidc_provider_arn: str | None
) -> dict[str, Any]:
    """Who may assume the role: exactly the gateways' ServiceAccounts, per keyless mode in use."""
    statements: list[dict[str, Any]] = []
    modes = set(modes)
    if "irsa" in modes:
        assert oidc_provider_arn is not None
        issuer = oidc_provider_arn.split(":oidc-provider/", 1)[1]
        subjects = [f"system:serviceaccount:{ns}:{sa}" for ns, sa in accounts]
        statements.append(
            {
                "Sid": "GatewayServiceAccountsThroughOidc",
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{issuer}:sub": subjects[0] if len(subjects) == 1 else subjects,
                        f"{issuer}:aud": STS_AUDIENCE,
                    }
                },
            }
        )
    if "podIdentity" in modes:
        # The associations (cluster, namespace, ServiceAccount) say which pods get the role.
        statements.append(
            {
                "Sid": "EksPodIdentity",
                "Effect": "Allow",
                "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True)
class WorkloadIdentityArgs:
    """Inputs of :class:`WorkloadIdentity`."""

    config: AcpwConfig
    modes: tuple[str, ...]
    """The keyless modes pods of the kept generations use (the desired one's included)."""


class WorkloadIdentity(pulumi.ComponentResource):
    """The gateways' IAM role, its PutMetricData policy, and what gives it to their pods."""

    role: aws.iam.Role
    role_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("acpw:identity:WorkloadIdentity", name, None, opts)
        config, iam = args.config, args.config.iam
        assert iam.user_name is not None
        accounts = service_accounts(config)
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            f"{name}-role",
            name=iam.user_name,
            path=iam.path,
            permissions_boundary=iam.permissions_boundary,
            assume_role_policy=json.dumps(
                trust_policy(args.modes, accounts, oidc_provider_arn=iam.oidc_provider_arn),
                sort_keys=True,
            ),
            tags=aws_tags(iam.tags, "aws-cloudwatch-proxy-wasm gateways"),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-policy",
            name=POLICY_NAME,
            role=self.role.name,
            policy=json.dumps(
                put_metric_data_policy(
                    config.cloudwatch.namespace,
                    source_vpces=iam.allowed_source_vpces,
                    source_ips=iam.allowed_source_ips,
                ),
                sort_keys=True,
            ),
            opts=child,
        )
        self.role_arn = self.role.arn
        for namespace, account in accounts:
            if "irsa" in args.modes:
                k8s.core.v1.ServiceAccountPatch(
                    f"{name}-sa-{namespace}-{account}",
                    metadata=k8s.meta.v1.ObjectMetaPatchArgs(
                        name=account,
                        namespace=namespace,
                        annotations={ROLE_ARN_ANNOTATION: self.role.arn},
                    ),
                    opts=child,
                )
            if "podIdentity" in args.modes:
                assert iam.eks_cluster_name is not None
                aws.eks.PodIdentityAssociation(
                    f"{name}-association-{namespace}-{account}",
                    cluster_name=iam.eks_cluster_name,
                    namespace=namespace,
                    service_account=account,
                    role_arn=self.role.arn,
                    tags=aws_tags(iam.tags, "aws-cloudwatch-proxy-wasm gateways"),
                    opts=child,
                )
        self.register_outputs({"roleArn": self.role_arn})
