"""The ECR pull-secret refresher (registry ``ecr``): pure builders and the resources they make.

ECR tokens last 12 hours, so no Pulumi-written credential would stay valid. Per gateway
namespace a ``kubernetes.io/dockerconfigjson`` Secret is created empty, and a CronJob (plus a
first-run Job) fills it every 4 hours: an init container gets a token with the AWS CLI, as a
dedicated IAM user that may only get a token and read the two repositories; the main container
patches the Secret with kubectl, with a Kubernetes role that may only get and patch that one
Secret. No registry credential is written by Pulumi, so none is in the state.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from acpw.config import AcpwConfig
from acpw.contract import AWS_CLI_IMAGE, KUBECTL_IMAGE, PULL_SECRET_NAME, aws_tags, labels

REFRESHER_NAME = "acpw-registry-refresher"
"""ServiceAccount, Role, RoleBinding and CronJob of the pull secret refresher."""
REFRESHER_AWS_SECRET = "acpw-registry-refresher-aws"
"""The refresher's own IAM access key (not the receiver's)."""
REFRESH_SCHEDULE = "17 */4 * * *"
"""Every 4 hours: a token is at most ~4 h old, and one failed run still leaves ~4 h of validity."""
REFRESHER_POLICY_NAME = "acpw-ecr-pull"
ECR_READ_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
)
LABELS = labels("registry-credentials")
_AWS_KEY_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


# --- pure builders (config in, data out) -------------------------------------------------------


def refresher_user_name(base_name: str) -> str:
    return f"{base_name[:52]}-ecr-refresh"


def refresher_policy(repository_arns: list[str]) -> dict[str, Any]:
    """Least privilege for the refresher: a token, and read on the two repositories only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GetRegistryToken",
                "Effect": "Allow",
                "Action": "ecr:GetAuthorizationToken",
                "Resource": "*",  # the action supports no resource-level restriction
            },
            {
                "Sid": "PullAcpwImages",
                "Effect": "Allow",
                "Action": list(ECR_READ_ACTIONS),
                "Resource": sorted(repository_arns),
            },
        ],
    }


def refresher_rules() -> list[dict[str, Any]]:
    """The refresher may read and patch the pull secret, and nothing else."""
    return [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": [PULL_SECRET_NAME],
            "verbs": ["get", "patch"],
        }
    ]


def refresher_metadata(namespace: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"namespace": namespace, "labels": LABELS, "name": name, **extra}


def empty_pull_secret(namespace: str) -> dict[str, Any]:
    """The pull Secret as Pulumi creates it: no credentials; the refresher owns its content."""
    return {
        "metadata": refresher_metadata(
            namespace,
            PULL_SECRET_NAME,
            annotations={
                "acpw/renewed-by": f"CronJob {namespace}/{REFRESHER_NAME} ({REFRESH_SCHEDULE})"
            },
        ),
        "type": "kubernetes.io/dockerconfigjson",
        "string_data": {".dockerconfigjson": json.dumps({"auths": {}})},
    }


def refresher_role_binding(namespace: str) -> dict[str, Any]:
    return {
        "metadata": refresher_metadata(namespace, REFRESHER_NAME),
        "role_ref": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": REFRESHER_NAME,
        },
        "subjects": [{"kind": "ServiceAccount", "name": REFRESHER_NAME, "namespace": namespace}],
    }


REFRESH_SCRIPT = """\
set -eu
# Never echo the token: no xtrace, nothing printed but the final message.
password="$(aws ecr get-login-password --region "$AWS_REGION")"
auth="$(printf 'AWS:%s' "$password" | base64 -w0)"
config="$(printf '{"auths":{"%s":{"username":"AWS","password":"%s","auth":"%s"}}}' \\
  "$REGISTRY" "$password" "$auth" | base64 -w0)"
umask 077
printf '{"data":{".dockerconfigjson":"%s"}}' "$config" > /work/patch.json
echo "token for $REGISTRY written"
"""


def refresher_pod_spec(namespace: str, registry: str, region: str) -> dict[str, Any]:
    """Init container gets a token (AWS CLI, own IAM key); main container patches the Secret."""
    security = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "capabilities": {"drop": ["ALL"]},
    }
    mounts = [{"name": "work", "mountPath": "/work"}, {"name": "tmp", "mountPath": "/tmp"}]
    return {
        "serviceAccountName": REFRESHER_NAME,
        "automountServiceAccountToken": True,
        "restartPolicy": "Never",
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "fsGroup": 65532},
        "volumes": [
            {"name": "work", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
        ],
        "initContainers": [
            {
                "name": "get-token",
                "image": AWS_CLI_IMAGE,
                "command": ["/bin/sh", "-c", REFRESH_SCRIPT],
                "env": [
                    {"name": "AWS_REGION", "value": region},
                    {"name": "REGISTRY", "value": registry},
                    {"name": "HOME", "value": "/tmp"},
                    *(
                        {
                            "name": key,
                            "valueFrom": {
                                "secretKeyRef": {"name": REFRESHER_AWS_SECRET, "key": key}
                            },
                        }
                        for key in _AWS_KEY_ENV
                    ),
                ],
                "securityContext": security,
                "volumeMounts": mounts,
                "resources": {
                    "limits": {"memory": "256Mi"},
                    "requests": {"cpu": "50m", "memory": "128Mi"},
                },
            }
        ],
        "containers": [
            {
                "name": "patch-secret",
                "image": KUBECTL_IMAGE,
                "command": [
                    "kubectl",
                    "patch",
                    "secret",
                    PULL_SECRET_NAME,
                    "--namespace",
                    namespace,
                    "--type",
                    "merge",
                    "--patch-file",
                    "/work/patch.json",
                ],
                "securityContext": security,
                "volumeMounts": mounts,
                "resources": {
                    "limits": {"memory": "128Mi"},
                    "requests": {"cpu": "20m", "memory": "64Mi"},
                },
            }
        ],
    }


def refresher_job_spec(namespace: str, registry: str, region: str) -> dict[str, Any]:
    return {
        "backoffLimit": 6,
        "activeDeadlineSeconds": 900,
        "template": {
            "metadata": {"labels": {**LABELS, "app.kubernetes.io/name": REFRESHER_NAME}},
            "spec": refresher_pod_spec(namespace, registry, region),
        },
    }


def refresher_cron_job_spec(job_spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "schedule": REFRESH_SCHEDULE,
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 3600,
        "successfulJobsHistoryLimit": 1,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {"spec": job_spec},
    }


# --- the resources ----------------------------------------------------------------------------


@dataclass
class Refresher:
    """What :func:`create_refresher` made that others use."""

    user_arn: pulumi.Output[str]
    pull_secrets: dict[str, k8s.core.v1.Secret] = field(default_factory=dict)
    """Per gateway namespace: the pull Secret the refresher fills."""


def create_refresher(
    parent: pulumi.Resource,
    name: str,
    config: AcpwConfig,
    repositories: dict[str, tuple[pulumi.Output[str], pulumi.Output[str]]],
) -> Refresher:
    """The refresher's IAM user, policy and key, and its Kubernetes objects per gateway namespace.

    ``repositories`` maps ``sender`` / ``receiverVolume`` to ``(arn, repository_url)``.
    """

    def child(**kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, **kwargs)

    iam = config.iam
    base_name = iam.user_name or f"{pulumi.get_project()}-{pulumi.get_stack()}"
    user = aws.iam.User(
        f"{name}-refresher",
        name=refresher_user_name(base_name),
        path=iam.path,
        permissions_boundary=iam.permissions_boundary,
        tags=aws_tags(iam.tags, "aws-cloudwatch-proxy-wasm ECR pull secret refresher"),
        force_destroy=True,
        opts=child(),
    )
    arns = [repositories["sender"][0], repositories["receiverVolume"][0]]
    policy = aws.iam.UserPolicy(
        f"{name}-refresher-policy",
        name=REFRESHER_POLICY_NAME,
        user=user.name,
        policy=pulumi.Output.all(*arns).apply(
            lambda values: json.dumps(refresher_policy(list(values)), sort_keys=True)
        ),
        opts=child(),
    )
    key = aws.iam.AccessKey(
        f"{name}-refresher-key-g{iam.key_generation}",
        user=user.name,
        opts=child(additional_secret_outputs=["secret"]),
    )
    result = Refresher(user_arn=user.arn)
    registry = repositories["sender"][1].apply(lambda url: url.split("/", 1)[0])
    region = config.region
    for namespace in config.namespaces:
        aws_secret = k8s.core.v1.Secret(
            f"{name}-refresher-aws-{namespace}",
            metadata=refresher_metadata(namespace, REFRESHER_AWS_SECRET),
            type="Opaque",
            string_data={
                "AWS_ACCESS_KEY_ID": pulumi.Output.secret(key.id),
                "AWS_SECRET_ACCESS_KEY": pulumi.Output.secret(key.secret),
            },
            opts=child(),
        )
        pull_secret = empty_pull_secret(namespace)
        pull = k8s.core.v1.Secret(
            f"{name}-pull-{namespace}",
            metadata=pull_secret["metadata"],
            type=pull_secret["type"],
            string_data=pull_secret["string_data"],
            # The refresher Job fills it and owns its content.
            opts=child(ignore_changes=["data", "stringData"]),
        )
        result.pull_secrets[namespace] = pull
        account = k8s.core.v1.ServiceAccount(
            f"{name}-refresher-sa-{namespace}",
            metadata=refresher_metadata(namespace, REFRESHER_NAME),
            automount_service_account_token=False,
            opts=child(),
        )
        role = k8s.rbac.v1.Role(
            f"{name}-refresher-role-{namespace}",
            metadata=refresher_metadata(namespace, REFRESHER_NAME),
            rules=refresher_rules(),
            opts=child(),
        )
        binding_body = refresher_role_binding(namespace)
        binding = k8s.rbac.v1.RoleBinding(
            f"{name}-refresher-binding-{namespace}",
            metadata=binding_body["metadata"],
            role_ref=binding_body["role_ref"],
            subjects=binding_body["subjects"],
            opts=child(),
        )
        job_spec = registry.apply(functools.partial(_job_spec_for, namespace, region))
        after = [pull, aws_secret, role, binding, account, policy]
        k8s.batch.v1.CronJob(
            f"{name}-refresher-{namespace}",
            metadata=refresher_metadata(namespace, REFRESHER_NAME),
            spec=job_spec.apply(refresher_cron_job_spec),
            opts=child(depends_on=after),
        )
        # Fill the Secret now, so the gateways can pull right after this update.
        k8s.batch.v1.Job(
            f"{name}-refresher-initial-{namespace}-g{iam.key_generation}",
            metadata=refresher_metadata(
                namespace, f"{REFRESHER_NAME}-initial-g{iam.key_generation}"
            ),
            spec=job_spec,
            opts=child(depends_on=after),
        )
    return result


def _job_spec_for(namespace: str, region: str, registry: str) -> dict[str, Any]:
    return refresher_job_spec(namespace, registry, region)
