"""The ECR pull-secret refresher (registry ``ecr``): pure builders and the resources they make.

ECR tokens last 12 hours, so no Pulumi-written credential would stay valid. In each gateway
namespace a ``kubernetes.io/dockerconfigjson`` Secret is created empty; ONE CronJob (plus a
first-run Job), in one namespace (``images.refresherNamespace``, default the first gateway
namespace), fills them all every 4 hours: an init container gets a token with the AWS CLI, in
the registry's own region, as a dedicated IAM user that may only get a token and read the
stack's repositories (or as the role ``images.refresherRoleArn`` through IRSA / EKS Pod
Identity, with no key at all); one kubectl container per namespace patches the Secret there, with
a Role per namespace that may only get and patch that one Secret. Only the kubectl containers get
a ServiceAccount token (a projected volume; the pod does not automount one). No registry
credential is written by Pulumi, so none is in the state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from acpw.config import AcpwConfig
from acpw.contract import DEFAULT_NAMES, TOOL_SECURITY, TOOL_UID, ObjectNames, aws_tags, labels

REFRESHER_NAME = DEFAULT_NAMES.refresher
"""ServiceAccount, Role, RoleBinding and CronJob of the pull secret refresher."""
REFRESHER_AWS_SECRET = DEFAULT_NAMES.refresher_aws_secret
"""The refresher's own IAM access key (not the receiver's)."""
REFRESH_SCHEDULE = "17 */4 * * *"
"""Every 4 hours: a token is at most ~4 h old, and one failed run still leaves ~4 h of validity."""
REFRESHER_POLICY_NAME = "acpw-ecr-pull"
ECR_READ_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
)
PULL_THROUGH_ACTIONS = ("ecr:BatchImportUpstreamImage", "ecr:CreateRepository")
"""What a pull through the cache takes beyond reading: the first pull of an image creates its
repository and imports it from the upstream, as the identity whose token the kubelet or istio-agent
pulls with (ECR user guide, "IAM permissions required to sync an upstream registry")."""
COMPONENT = "registry-credentials"
LABELS = labels(COMPONENT)
"""The default instance's labels (``ObjectNames.labels`` has any one's)."""
_AWS_KEY_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


# --- pure builders (config in, data out) -------------------------------------------------------


def refresher_user_name(base_name: str) -> str:
    return f"{base_name[:52]}-ecr-refresh"


def refresher_policy(repository_arns: list[str]) -> dict[str, Any]:
    """Least privilege for the refresher: a token, and pulls through the cache into the stack's
    repositories only (``<prefix>/*`` per pull-through rule)."""
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
                "Action": [*ECR_READ_ACTIONS, *PULL_THROUGH_ACTIONS],
                "Resource": sorted(set(repository_arns)),
            },
        ],
    }


def refresher_rules(names: ObjectNames = DEFAULT_NAMES) -> list[dict[str, Any]]:
    """The refresher may read and patch the pull secret, and nothing else."""
    return [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": [names.pull_secret],
            "verbs": ["get", "patch"],
        }
    ]


def refresher_metadata(
    namespace: str, name: str, names: ObjectNames = DEFAULT_NAMES, **extra: Any
) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "labels": names.labels(COMPONENT),
        "name": name,
        **extra,
    }


def initial_job_metadata(
    namespace: str, name: str, names: ObjectNames = DEFAULT_NAMES
) -> dict[str, Any]:
    """The first-run Job's metadata. ``pulumi.com/replaceUnready``: a Job that failed (e.g.
    while a new IAM key propagates) is replaced by the next ``pulumi up`` instead of being
    awaited again (pulumi-kubernetes provider/pkg/provider/provider.go, Diff, 94977969d)."""
    return refresher_metadata(
        namespace, name, names, annotations={"pulumi.com/replaceUnready": "true"}
    )


def empty_pull_secret(
    namespace: str, home: str, names: ObjectNames = DEFAULT_NAMES
) -> dict[str, Any]:
    """The pull Secret as Pulumi creates it: no credentials; the refresher owns its content."""
    return {
        "metadata": refresher_metadata(
            namespace,
            names.pull_secret,
            names,
            annotations={
                "acpw/renewed-by": f"CronJob {home}/{names.refresher} ({REFRESH_SCHEDULE})"
            },
        ),
        "type": "kubernetes.io/dockerconfigjson",
        "string_data": {".dockerconfigjson": json.dumps({"auths": {}})},
    }


def refresher_role_binding(
    namespace: str, home: str, names: ObjectNames = DEFAULT_NAMES
) -> dict[str, Any]:
    """Binds the Role in ``namespace`` to the one refresher ServiceAccount in ``home``."""
    return {
        "metadata": refresher_metadata(namespace, names.refresher, names),
        "role_ref": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": names.refresher,
        },
        "subjects": [{"kind": "ServiceAccount", "name": names.refresher, "namespace": home}],
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

TOKEN_VOLUME = "kube-api-access"
"""The projected ServiceAccount token volume, mounted only into the kubectl containers."""
TOKEN_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
"""Where kubectl's in-cluster config looks for the token, CA and namespace."""
TOKEN_EXPIRATION_SECONDS = 3600
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


def registry_host(repository_url: str) -> str:
    """``<account>.dkr.ecr.<region>.amazonaws.com/<repo>`` -> the registry host."""
    return repository_url.split("/", 1)[0]


def registry_region(repository_url: str) -> str:
    """The region an ECR registry lives in: its token must be asked for there.

    ``<account>.dkr.ecr.<region>.amazonaws.com`` (also ``.amazonaws.com.cn`` and the FIPS form
    ``<account>.dkr.ecr-fips.<region>.amazonaws.com``).
    """
    host = registry_host(repository_url)
    parts = host.split(".")
    if len(parts) < 5 or parts[1] != "dkr" or not parts[2].startswith("ecr"):
        raise ValueError(f"{host!r} is not an ECR registry host (<account>.dkr.ecr.<region>...)")
    return parts[3]


def refresher_namespace(config: AcpwConfig) -> str:
    """The one namespace the refresher runs in: configured, else the first gateway namespace."""
    return config.images.refresher_namespace or config.namespaces[0]


def target_namespaces(config: AcpwConfig) -> list[str]:
    """Where the pull Secret lives (and the refresher may patch it): every gateway namespace,
    plus the refresher's own when it pulls its tool images from the private registry."""
    namespaces = list(config.namespaces)
    home = refresher_namespace(config)
    if config.images.copy_tool_images and home not in namespaces:
        namespaces.append(home)
    return namespaces


def token_volume() -> dict[str, Any]:
    """What ``automountServiceAccountToken`` would mount, as an explicit projected volume."""
    return {
        "name": TOKEN_VOLUME,
        "projected": {
            "defaultMode": 0o444,
            "sources": [
                {
                    "serviceAccountToken": {
                        "path": "token",
                        "expirationSeconds": TOKEN_EXPIRATION_SECONDS,
                    }
                },
                {
                    "configMap": {
                        "name": "kube-root-ca.crt",
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    }
                },
                {
                    "downwardAPI": {
                        "items": [
                            {"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}
                        ]
                    }
                },
            ],
        },
    }


@dataclass(frozen=True)
class RefresherImages:
    """The two tool images of the refresher pod (outputs when copied into ECR)."""

    aws_cli: Any
    kubectl: Any


def refresher_pod_spec(
    targets: list[str],
    registry: str,
    region: str,
    images: RefresherImages,
    *,
    static_key: bool = True,
    pull_secret: bool = False,
    names: ObjectNames = DEFAULT_NAMES,
) -> dict[str, Any]:
    """One init container gets a token (AWS CLI); one kubectl container per target namespace
    patches the pull Secret there (the kubectl image has no shell, so no loop).

    No container gets a ServiceAccount token by default (``automountServiceAccountToken:
    false``); the token is projected as a volume mounted only into the kubectl containers,
    which call the Kubernetes API. The AWS CLI container calls only AWS.
    """
    work = {"name": "work", "mountPath": "/work"}
    tmp = {"name": "tmp", "mountPath": "/tmp"}
    env: list[dict[str, Any]] = [
        {"name": "AWS_REGION", "value": region},
        {"name": "REGISTRY", "value": registry},
        {"name": "HOME", "value": "/tmp"},
    ]
    if static_key:
        env += [
            {
                "name": key,
                "valueFrom": {"secretKeyRef": {"name": names.refresher_aws_secret, "key": key}},
            }
            for key in _AWS_KEY_ENV
        ]
    patchers = [
        {
            "name": f"patch-{index}",
            "image": images.kubectl,
            "command": [
                "kubectl",
                "patch",
                "secret",
                names.pull_secret,
                "--namespace",
                namespace,
                "--type",
                "merge",
                "--patch-file",
                "/work/patch.json",
            ],
            "env": [{"name": "HOME", "value": "/tmp"}],
            "securityContext": TOOL_SECURITY,
            "volumeMounts": [
                {**work, "readOnly": True},
                tmp,
                {"name": TOKEN_VOLUME, "mountPath": TOKEN_MOUNT, "readOnly": True},
            ],
            "resources": {
                "limits": {"cpu": "100m", "memory": "128Mi"},
                "requests": {"cpu": "20m", "memory": "64Mi"},
            },
        }
        for index, namespace in enumerate(targets)
    ]
    spec: dict[str, Any] = {
        "serviceAccountName": names.refresher,
        "automountServiceAccountToken": False,
        "restartPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": TOOL_UID,
            "runAsGroup": TOOL_UID,
            "fsGroup": TOOL_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumes": [
            {"name": "work", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
            token_volume(),
        ],
        "initContainers": [
            {
                "name": "get-token",
                "image": images.aws_cli,
                "command": ["/bin/sh", "-c", REFRESH_SCRIPT],
                "env": env,
                "securityContext": TOOL_SECURITY,
                "volumeMounts": [work, tmp],
                "resources": {
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                    "requests": {"cpu": "50m", "memory": "128Mi"},
                },
            }
        ],
        "containers": patchers,
    }
    if pull_secret:
        spec["imagePullSecrets"] = [{"name": names.pull_secret}]
    return spec


def refresher_job_spec(
    pod_spec: dict[str, Any], names: ObjectNames = DEFAULT_NAMES
) -> dict[str, Any]:
    return {
        "backoffLimit": 6,
        "activeDeadlineSeconds": 900,
        "template": {
            "metadata": {
                "labels": names.labels(COMPONENT, **{"app.kubernetes.io/name": names.refresher}),
                # Never inject a sidecar: the Job must be able to finish.
                "annotations": {"sidecar.istio.io/inject": "false"},
            },
            "spec": pod_spec,
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

    user_arn: pulumi.Output[str] | None
    """The refresher's IAM user (None with ``images.refresherRoleArn``)."""
    pull_secrets: dict[str, k8s.core.v1.Secret] = field(default_factory=dict)
    """Per gateway namespace: the pull Secret the refresher fills."""


def create_refresher(
    parent: pulumi.Resource,
    name: str,
    config: AcpwConfig,
    repositories: dict[str, tuple[pulumi.Output[str], pulumi.Output[str]]],
    images: RefresherImages,
    depends_on: list[pulumi.Resource] | None = None,
) -> Refresher:
    """The refresher's AWS identity (its own IAM user and key, or the configured role), one
    CronJob (plus a first-run Job) in its namespace, and per target namespace the pull Secret
    with a Role and RoleBinding letting the refresher get and patch it.

    ``repositories`` maps ``sender`` / ``receiverVolume`` (and, with ``copyToolImages``,
    ``kubectl`` / ``awsCli``) to ``(arn, repository_url)``; the ARN may be a pattern
    (``.../repository/<prefix>/*``). ``depends_on``: the pull-through rules, so that the first
    refresh comes after them.
    """

    def child(old: str | None = None, **kwargs: Any) -> pulumi.ResourceOptions:
        if old is not None:
            kwargs["aliases"] = [pulumi.Alias(name=old)]
        return pulumi.ResourceOptions(parent=parent, **kwargs)

    iam = config.iam
    names = config.names
    images_config = config.images
    home = refresher_namespace(config)
    targets = target_namespaces(config)
    static_key = images_config.refresher_role_arn is None
    # Names of this release's per-namespace objects, kept for the one namespace it runs in now.
    after: list[pulumi.Resource] = list(depends_on or [])
    user_arn: pulumi.Output[str] | None = None
    key: aws.iam.AccessKey | None = None
    if static_key:
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
        arns = [arn for arn, _ in repositories.values()]
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
        user_arn = user.arn
        after.append(policy)
    result = Refresher(user_arn=user_arn)

    for namespace in targets:
        pull_secret = empty_pull_secret(namespace, home, names)
        pull = k8s.core.v1.Secret(
            f"{name}-pull-{namespace}",
            metadata=pull_secret["metadata"],
            type=pull_secret["type"],
            string_data=pull_secret["string_data"],
            # The refresher Job fills it and owns its content.
            opts=child(ignore_changes=["data", "stringData"]),
        )
        if namespace in config.namespaces:
            result.pull_secrets[namespace] = pull
        role = k8s.rbac.v1.Role(
            f"{name}-refresher-role-{namespace}",
            metadata=refresher_metadata(namespace, names.refresher, names),
            rules=refresher_rules(names),
            opts=child(),
        )
        binding_body = refresher_role_binding(namespace, home, names)
        binding = k8s.rbac.v1.RoleBinding(
            f"{name}-refresher-binding-{namespace}",
            metadata=binding_body["metadata"],
            role_ref=binding_body["role_ref"],
            subjects=binding_body["subjects"],
            opts=child(),
        )
        after += [pull, role, binding]

    # The one refresher: earlier releases ran one per gateway namespace under names ending in
    # the namespace; the first namespace's objects become these (aliases), the others go.
    first = config.namespaces[0]
    account_annotations = (
        {IRSA_ANNOTATION: images_config.refresher_role_arn} if not static_key else None
    )
    account = k8s.core.v1.ServiceAccount(
        f"{name}-refresher-sa",
        metadata=refresher_metadata(
            home,
            names.refresher,
            names,
            **({"annotations": account_annotations} if account_annotations else {}),
        ),
        automount_service_account_token=False,
        opts=child(f"{name}-refresher-sa-{first}"),
    )
    after.append(account)
    if key is not None:
        aws_secret = k8s.core.v1.Secret(
            f"{name}-refresher-aws",
            metadata=refresher_metadata(home, names.refresher_aws_secret, names),
            type="Opaque",
            string_data={
                "AWS_ACCESS_KEY_ID": pulumi.Output.secret(key.id),
                "AWS_SECRET_ACCESS_KEY": pulumi.Output.secret(key.secret),
            },
            opts=child(f"{name}-refresher-aws-{first}"),
        )
        after.append(aws_secret)
    url = repositories["sender"][1]
    job_spec = pulumi.Output.all(url, images.aws_cli, images.kubectl).apply(
        lambda values: refresher_job_spec(
            refresher_pod_spec(
                targets,
                registry_host(values[0]),
                registry_region(values[0]),
                RefresherImages(aws_cli=values[1], kubectl=values[2]),
                static_key=static_key,
                pull_secret=images_config.copy_tool_images,
                names=names,
            ),
            names,
        )
    )
    k8s.batch.v1.CronJob(
        f"{name}-refresher",
        metadata=refresher_metadata(home, names.refresher, names),
        spec=job_spec.apply(refresher_cron_job_spec),
        opts=child(f"{name}-refresher-{first}", depends_on=after),
    )
    # Fill the Secrets now, so the gateways can pull right after this update.
    generation = f"g{iam.key_generation}"
    k8s.batch.v1.Job(
        f"{name}-refresher-initial-{generation}",
        metadata=initial_job_metadata(home, f"{names.refresher}-initial-{generation}", names),
        spec=job_spec,
        opts=child(f"{name}-refresher-initial-{first}-{generation}", depends_on=after),
    )
    return result
