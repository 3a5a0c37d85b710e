"""The AWS identity the receiver signs with, and the Kubernetes Secrets that carry its keys.

The published modules accept only static keys (no session token), read once at VM start.
Rotation (``acpw:iam.keyGeneration``) therefore works by creating the next key and its own
Secret beside the previous ones; the gateways roll to the new generation (which names that
Secret), and the previous key goes only once no pod can still use it (acpw/generations.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from acpw.config import AcpwConfig
from acpw.contract import (
    ACCESS_KEY_ENV,
    CREDENTIALS_SECRET,
    DEFAULT_NAMES,
    SECRET_KEY_ENV,
    ObjectNames,
    aws_tags,
    labels,
)
from acpw.generations import KeyIdentity, credentials_secret_name

POLICY_NAME = "acpw-put-metric-data"


def put_metric_data_policy(
    namespace: str,
    *,
    source_vpces: list[str] | tuple[str, ...] = (),
    source_ips: list[str] | tuple[str, ...] = (),
) -> dict[str, Any]:
    """Least privilege: PutMetricData, and only into the configured CloudWatch namespace.

    With ``source_vpces`` / ``source_ips`` (``acpw:iam.allowedSourceVpces`` / ``allowedSourceIps``)
    the key works only through those VPC endpoints (``aws:SourceVpce``) or from those public
    networks (``aws:SourceIp``). Conditions in one statement must all hold, and a request through
    a VPC endpoint carries no ``aws:SourceIp``, so each source gets its own statement: a request
    is allowed when either matches.
    """
    namespace_condition = {"cloudwatch:namespace": namespace}
    statement = {
        "Sid": "PutAcpwRequestMetrics",
        "Effect": "Allow",
        "Action": "cloudwatch:PutMetricData",
        "Resource": "*",
    }
    if not source_vpces and not source_ips:
        return {
            "Version": "2012-10-17",
            "Statement": [{**statement, "Condition": {"StringEquals": namespace_condition}}],
        }
    statements = []
    if source_vpces:
        statements.append(
            {
                **statement,
                "Sid": "PutAcpwRequestMetricsThroughVpcEndpoints",
                "Condition": {
                    "StringEquals": {**namespace_condition, "aws:SourceVpce": list(source_vpces)}
                },
            }
        )
    if source_ips:
        statements.append(
            {
                **statement,
                "Sid": "PutAcpwRequestMetricsFromNetworks",
                "Condition": {
                    "StringEquals": namespace_condition,
                    "IpAddress": {"aws:SourceIp": list(source_ips)},
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def credentials_secret_metadata(
    namespace: str, key: KeyIdentity, names: ObjectNames = DEFAULT_NAMES
) -> dict[str, Any]:
    return {
        "name": credentials_secret_name(key, names),
        "namespace": namespace,
        "labels": names.labels("credentials"),
    }


@dataclass(frozen=True)
class CredentialsArgs:
    """Inputs of :class:`Credentials`."""

    config: AcpwConfig
    """The validated stack configuration (``acpw:iam``, CloudWatch namespace, gateway namespaces)."""
    keys: list[KeyIdentity] | None = None
    """Keys to keep, the desired one first (None: the configured one only; empty: none, as
    when every kept generation is keyless)."""
    revoked: list[KeyIdentity] = field(default_factory=list)
    """Keys to deactivate at once (kept, inactive, until no generation lists them)."""
    legacy_namespaces: list[str] = field(default_factory=list)
    """Namespaces whose pods may still run release 0.1.0's objects: keep its fixed-name Secret."""
    keep_in_every_namespace: bool = False
    """Older generations still run: keep every key's Secret in every gateway namespace, also
    where the gateway is being taken off (``enabled: false``)."""


class Credentials(pulumi.ComponentResource):
    """Per IAM user: the user, its PutMetricData policy and its keys; per key and gateway
    namespace: an immutable Secret holding ``ACPW_AWS_ACCESS_KEY_ID`` / ``ACPW_AWS_SECRET_ACCESS_KEY``.

    Each key is its own resource and its Secret is named by the key, so a rotation or a user
    change creates the new key and Secret beside the old ones; the old ones go only when no
    kept generation needs them (Pulumi deletes removed resources at the end of the update).
    """

    users: dict[str, aws.iam.User]
    access_keys: dict[KeyIdentity, aws.iam.AccessKey]
    secrets: dict[tuple[str, KeyIdentity], k8s.core.v1.Secret]
    """Per (gateway namespace, key): the Secret a generation's pods read their key from."""
    user_arn: pulumi.Output[str] | None
    """ARN of the desired user (None: no generation uses a key)."""
    secret_names: dict[str, str]
    """Per gateway namespace: the desired key's Secret."""

    def __init__(
        self, name: str, args: CredentialsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("acpw:credentials:Credentials", name, None, opts)
        config = args.config
        assert config.iam.user_name is not None
        desired = KeyIdentity(config.iam.user_name, config.iam.key_generation)
        keys = [desired] if args.keys is None else args.keys
        self._name = name
        self._names = config.names
        self.users = {}
        self.access_keys = {}
        self.secrets = {}
        for identity in keys:
            if identity.user_name not in self.users:
                self.users[identity.user_name] = self._create_user(
                    config, identity.user_name, current=identity.user_name == desired.user_name
                )
            user = self.users[identity.user_name]
            self.access_keys[identity] = self._create_key(
                identity, user, active=identity not in args.revoked, current=identity == desired
            )
            # Older keys may still be used on gateways being taken off (enabled: false).
            namespaces = (
                config.enabled_namespaces
                if identity == desired and not args.keep_in_every_namespace
                else config.namespaces
            )
            for namespace in namespaces:
                self.secrets[(namespace, identity)] = self._create_secret(
                    namespace, identity, self.access_keys[identity]
                )
        for namespace in args.legacy_namespaces if desired in self.access_keys else []:
            # Release 0.1.0's Secret, under its old resource name: unchanged, so not touched.
            k8s.core.v1.Secret(
                f"{name}-secret-{namespace}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=CREDENTIALS_SECRET, namespace=namespace, labels=labels("credentials")
                ),
                type="Opaque",
                string_data=self._key_data(self.access_keys[desired]),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.access_keys[desired]]),
            )
        user = self.users.get(desired.user_name)
        self.user_arn = user.arn if user is not None else None
        self.secret_names = (
            {ns: credentials_secret_name(desired, config.names) for ns in config.enabled_namespaces}
            if desired in self.access_keys
            else {}
        )
        self.register_outputs({"userArn": self.user_arn, "secretNames": self.secret_names})

    def _create_user(self, config: AcpwConfig, user_name: str, *, current: bool) -> aws.iam.User:
        iam = config.iam
        # Release 0.1.0 named the single user and policy without the user name.
        legacy = [pulumi.Alias(name=f"{self._name}-user")] if current else []
        user = aws.iam.User(
            f"{self._name}-user-{user_name}",
            name=user_name,
            path=iam.path,
            permissions_boundary=iam.permissions_boundary,
            tags=aws_tags(iam.tags, "aws-cloudwatch-proxy-wasm receiver"),
            # Deleting a user no generation needs any more takes its keys with it.
            force_destroy=True,
            opts=pulumi.ResourceOptions(parent=self, aliases=legacy),
        )
        legacy = [pulumi.Alias(name=f"{self._name}-policy")] if current else []
        aws.iam.UserPolicy(
            f"{self._name}-policy-{user_name}",
            name=POLICY_NAME,
            user=user.name,
            policy=json.dumps(
                put_metric_data_policy(
                    config.cloudwatch.namespace,
                    source_vpces=iam.allowed_source_vpces,
                    source_ips=iam.allowed_source_ips,
                ),
                sort_keys=True,
            ),
            opts=pulumi.ResourceOptions(parent=self, aliases=legacy),
        )
        return user

    def _create_key(
        self, identity: KeyIdentity, user: aws.iam.User, *, active: bool, current: bool
    ) -> aws.iam.AccessKey:
        legacy = [pulumi.Alias(name=f"{self._name}-key-g{identity.generation}")] if current else []
        return aws.iam.AccessKey(
            f"{self._name}-key-{identity.suffix}",
            user=user.name,
            # Emergency revoke: an in-place update, applied before any rollout.
            status="Active" if active else "Inactive",
            opts=pulumi.ResourceOptions(
                parent=self, aliases=legacy, additional_secret_outputs=["secret"]
            ),
        )

    def _create_secret(
        self, namespace: str, identity: KeyIdentity, key: aws.iam.AccessKey
    ) -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(
            f"{self._name}-secret-{namespace}-{identity.suffix}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                **credentials_secret_metadata(namespace, identity, self._names)
            ),
            type="Opaque",
            immutable=True,
            string_data=self._key_data(key),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[key]),
        )

    @staticmethod
    def _key_data(key: aws.iam.AccessKey) -> dict[str, pulumi.Input[str]]:
        key_id: pulumi.Output[str] = pulumi.Output.secret(key.id)  # type: ignore[arg-type]
        return {ACCESS_KEY_ENV: key_id, SECRET_KEY_ENV: key.secret}
