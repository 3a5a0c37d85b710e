"""The AWS identity the receiver signs with, and the Kubernetes Secrets that carry its keys.

The published modules accept only static keys (no session token), read once at VM start.
Rotation (``acpw:iam.keyGeneration``) therefore works by creating the next key under a new
resource name: Pulumi creates it first, updates the Secrets, rolls the gateways (their pod
template hash includes the generation) and deletes the previous key only at the end of the
update, once nothing uses it any more.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from acpw.config import AcpwConfig
from acpw.contract import ACCESS_KEY_ENV, CREDENTIALS_SECRET, SECRET_KEY_ENV, labels

POLICY_NAME = "acpw-put-metric-data"


def put_metric_data_policy(namespace: str) -> dict[str, Any]:
    """Least privilege: PutMetricData, and only into the configured CloudWatch namespace."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PutAcpwRequestMetrics",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": namespace}},
            }
        ],
    }


def credentials_secret_metadata(namespace: str) -> dict[str, Any]:
    return {
        "name": CREDENTIALS_SECRET,
        "namespace": namespace,
        "labels": labels("credentials"),
    }


@dataclass(frozen=True)
class CredentialsArgs:
    """Inputs of :class:`Credentials`."""

    config: AcpwConfig
    """The validated stack configuration (``acpw:iam``, CloudWatch namespace, gateway namespaces)."""


class Credentials(pulumi.ComponentResource):
    """IAM user + inline policy + access key, and a Secret with the keys in each gateway namespace."""

    user: aws.iam.User
    access_key: aws.iam.AccessKey
    secrets: dict[str, k8s.core.v1.Secret]
    """Per gateway namespace: the Secret holding ``ACPW_AWS_ACCESS_KEY_ID`` / ``ACPW_AWS_SECRET_ACCESS_KEY``."""
    user_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: CredentialsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("acpw:credentials:Credentials", name, None, opts)
        config = args.config
        iam = config.iam
        self.user = aws.iam.User(
            f"{name}-user",
            name=iam.user_name,
            path=iam.path,
            permissions_boundary=iam.permissions_boundary,
            tags={**iam.tags, "acpw:purpose": "aws-cloudwatch-proxy-wasm receiver"},
            # Access keys of earlier generations must not block a later delete.
            force_destroy=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.UserPolicy(
            f"{name}-policy",
            name=POLICY_NAME,
            user=self.user.name,
            policy=json.dumps(put_metric_data_policy(config.cloudwatch.namespace), sort_keys=True),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The generation is part of the resource name, so a bump is create-new-then-delete-old.
        self.access_key = aws.iam.AccessKey(
            f"{name}-key-g{iam.key_generation}",
            user=self.user.name,
            opts=pulumi.ResourceOptions(parent=self),
        )
        key_id: pulumi.Output[str] = pulumi.Output.secret(self.access_key.id)  # type: ignore[arg-type]
        self.secrets = {}
        for namespace in config.namespaces:
            meta = credentials_secret_metadata(namespace)
            self.secrets[namespace] = k8s.core.v1.Secret(
                f"{name}-secret-{namespace}",
                metadata=k8s.meta.v1.ObjectMetaArgs(**meta),
                type="Opaque",
                string_data={ACCESS_KEY_ENV: key_id, SECRET_KEY_ENV: self.access_key.secret},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.access_key]),
            )
        self.user_arn = self.user.arn
        self.register_outputs(
            {
                "userArn": self.user_arn,
                "secretNames": {ns: CREDENTIALS_SECRET for ns in self.secrets},
            }
        )
