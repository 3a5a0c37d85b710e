"""Where the Wasm modules are pulled from: image references, digest pinning and pull secrets.

``registry: ghcr`` (default): the configured public images are used as they are. Each is pinned
by manifest digest: the configured ``senderDigest`` / ``receiverVolumeDigest``, else the digest
the tag points to at deploy time (an :class:`~acpw.oci.provider.ImageDigest` resource,
which also checks the sender against Istio's fetcher rules for the configured version).

``registry: ecr``: two private ECR repositories (immutable tags, scan on push, lifecycle policy,
AES256 or KMS encryption). The images are copied into them over the OCI distribution API, or pushed from
local ``.wasm`` files (:class:`~acpw.oci.provider.ImagePush`). Pods and WasmPlugins pull with
a ``kubernetes.io/dockerconfigjson`` Secret in each gateway namespace, filled and renewed every 4
hours (ECR tokens last 12) by a Job/CronJob running as a dedicated IAM user that may only get a
token and read the two repositories; its Kubernetes role may only get and patch that one Secret.
No registry credential is written by Pulumi into that Secret, so none is in the state for it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from acpw.config import AcpwConfig
from acpw.oci.formats import check_wasm_module, sha256_digest, wasm_format_for
from acpw.oci.provider import (
    KIND_COPY,
    KIND_VOLUME_FILE,
    KIND_WASM_FILE,
    ROLE_SENDER,
    ROLE_VOLUME,
    ImageDigest,
    ImageDigestArgs,
    ImagePush,
    ImagePushArgs,
)
from acpw.oci.transfer import build_wasm_file_image, read_file

PULL_SECRET_NAME = "acpw-registry-pull"
"""The ``kubernetes.io/dockerconfigjson`` Secret in each gateway namespace (registry ``ecr``)."""
REFRESHER_NAME = "acpw-registry-refresher"
"""ServiceAccount, Role, RoleBinding and CronJob of the pull secret refresher."""
REFRESHER_AWS_SECRET = "acpw-registry-refresher-aws"
"""The refresher's own IAM access key (not the receiver's)."""
REFRESH_SCHEDULE = "17 */4 * * *"
"""Every 4 hours: a token is at most ~4 h old, and one failed run still leaves ~4 h of validity."""
AWS_CLI_IMAGE = "public.ecr.aws/aws-cli/aws-cli:2.27.0"
KUBECTL_IMAGE = "registry.k8s.io/kubectl:v1.33.0"
ECR_READ_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
)
LABELS = {
    "app.kubernetes.io/managed-by": "pulumi",
    "app.kubernetes.io/part-of": "aws-cloudwatch-proxy-wasm",
    "app.kubernetes.io/component": "registry-credentials",
}


# --- pure builders (config in, data out) -------------------------------------------------------


def strip_digest(ref: str) -> str:
    return ref.split("@", 1)[0]


def pinned_source(ref: str, digest: str | None) -> tuple[str, str | None]:
    """``(reference, digest)``: the configured digest, or one already in the reference."""
    if digest:
        return f"{strip_digest(ref)}@{digest}", digest
    if "@" in ref:
        return ref, ref.split("@", 1)[1]
    return ref, None


def ecr_repository_name(project: str, stack: str, image: str) -> str:
    prefix = re.sub(r"[^a-z0-9._-]+", "-", f"{project}-{stack}".lower()).strip("-._") or "acpw"
    return f"{prefix[:200]}/{image}"


def lifecycle_policy(keep: int) -> dict[str, Any]:
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"keep the last {keep} images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": keep,
                },
                "action": {"type": "expire"},
            }
        ]
    }


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
                        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
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


def local_file_digest(path: str, features_format: str) -> str:
    """The manifest digest a local sender ``.wasm`` will have once pushed (computed, not pushed)."""
    return build_wasm_file_image(
        path, "compat" if features_format == "compat" else "artifact"
    ).digest


# --- the component ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WasmImagesArgs:
    """Inputs of :class:`WasmImages`."""

    config: AcpwConfig
    """The validated stack configuration (images, Istio version, region, gateway namespaces)."""


class WasmImages(pulumi.ComponentResource):
    """The sender image for the WasmPlugins and the receiver volume image for the init containers."""

    sender_url: pulumi.Output[str]
    """``WasmPlugin.spec.url`` (``oci://...``)."""
    sender_sha256: pulumi.Output[str | None]
    """Manifest digest as 64 hex characters for ``WasmPlugin.spec.sha256``."""
    receiver_volume_image: pulumi.Output[str]
    """The init container's image, by digest."""
    pull_secret_name: str | None
    """Name of the ``kubernetes.io/dockerconfigjson`` Secret in each gateway namespace, if any."""
    sender_digest: pulumi.Output[str]
    """``sha256:<hex>`` manifest digest of the sender image."""
    receiver_volume_digest: pulumi.Output[str]
    repository_urls: dict[str, pulumi.Output[str]]
    """Registry ``ecr``: ``sender`` and ``receiverVolume`` ECR repository URLs (else empty)."""
    pull_secrets: dict[str, k8s.core.v1.Secret]
    """Registry ``ecr``: the pull Secret per gateway namespace."""
    refresher_user_arn: pulumi.Output[str] | None
    """Registry ``ecr``: ARN of the refresher's IAM user."""

    def __init__(
        self, name: str, args: WasmImagesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("acpw:images:WasmImages", name, None, opts)
        self._name = name
        self._config = args.config
        self.repository_urls = {}
        self.pull_secrets = {}
        self.refresher_user_arn = None
        self.pull_secret_name = None
        if args.config.images.registry == "ecr":
            self._ecr()
        else:
            self._ghcr()
        self.sender_sha256 = self.sender_digest.apply(_hex)
        self.register_outputs(
            {
                "senderUrl": self.sender_url,
                "senderSha256": self.sender_sha256,
                "receiverVolumeImage": self.receiver_volume_image,
                "pullSecretName": self.pull_secret_name,
                "repositoryUrls": self.repository_urls,
            }
        )

    def _child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _ghcr(self) -> None:
        images = self._config.images
        version = str(self._config.istio_version)
        sender_ref, sender_pin = pinned_source(
            images.sender.removeprefix("oci://"), images.sender_digest
        )
        sender = ImageDigest(
            f"{self._name}-sender-digest",
            ImageDigestArgs(
                source=sender_ref,
                role=ROLE_SENDER,
                istio_version=version,
                expected_digest=sender_pin,
            ),
            self._child(),
        )
        volume_ref, volume_pin = pinned_source(
            images.receiver_volume, images.receiver_volume_digest
        )
        volume = ImageDigest(
            f"{self._name}-receiver-volume-digest",
            ImageDigestArgs(
                source=volume_ref,
                role=ROLE_VOLUME,
                istio_version=version,
                expected_digest=volume_pin,
            ),
            self._child(),
        )
        self.sender_url = pulumi.Output.from_input(images.sender)
        self.sender_digest = sender.digest
        self.receiver_volume_digest = volume.digest
        base = strip_digest(images.receiver_volume)
        self.receiver_volume_image = volume.digest.apply(lambda digest: f"{base}@{digest}")

    def _ecr(self) -> None:
        config = self._config
        images = config.images
        version = str(config.istio_version)
        project, stack = pulumi.get_project(), pulumi.get_stack()
        repos: dict[str, aws.ecr.Repository] = {}
        for key, image in (("sender", "sender"), ("receiverVolume", "receiver-volume")):
            repo = aws.ecr.Repository(
                f"{self._name}-{image}",
                name=ecr_repository_name(project, stack, image),
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                    scan_on_push=True
                ),
                encryption_configurations=[
                    aws.ecr.RepositoryEncryptionConfigurationArgs(
                        encryption_type="KMS", kms_key=images.ecr_kms_key_arn
                    )
                    if images.ecr_kms_key_arn
                    else aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")
                ],
                force_delete=True,
                tags={**config.iam.tags, "acpw:purpose": f"aws-cloudwatch-proxy-wasm {key}"},
                opts=self._child(),
            )
            aws.ecr.LifecyclePolicy(
                f"{self._name}-{image}-lifecycle",
                repository=repo.name,
                policy=json.dumps(lifecycle_policy(images.ecr_keep_images), sort_keys=True),
                opts=self._child(),
            )
            repos[key] = repo
            self.repository_urls[key] = repo.repository_url

        token = aws.ecr.get_authorization_token_output(registry_id=repos["sender"].registry_id)
        push_credentials: pulumi.Output[dict[str, Any]] = pulumi.Output.secret(
            pulumi.Output.all(token.user_name, token.password).apply(  # type: ignore[arg-type]
                lambda values: {"username": values[0], "password": values[1]}
            )
        )

        if images.sender_file:
            wasm_format = wasm_format_for(config.features)
            sender_args = ImagePushArgs(
                kind=KIND_WASM_FILE,
                source=images.sender_file,
                target=repos["sender"].repository_url,
                role=ROLE_SENDER,
                istio_version=version,
                wasm_format=wasm_format,
                expected_digest=_local_sender_digest(images.sender_file, wasm_format),
                file_sha256=_file_sha256(images.sender_file, "acpw:images.senderFile"),
                target_credentials=push_credentials,
                delete_best_effort=True,
            )
        else:
            ref, pin = pinned_source(images.sender.removeprefix("oci://"), images.sender_digest)
            sender_args = ImagePushArgs(
                kind=KIND_COPY,
                source=ref,
                target=repos["sender"].repository_url,
                role=ROLE_SENDER,
                istio_version=version,
                expected_digest=pin,
                target_credentials=push_credentials,
                delete_best_effort=True,
            )
        sender = ImagePush(f"{self._name}-sender-push", sender_args, self._child())

        base_ref, base_pin = pinned_source(images.receiver_volume, images.receiver_volume_digest)
        if images.receiver_file:
            volume_args = ImagePushArgs(
                kind=KIND_VOLUME_FILE,
                source=images.receiver_file,
                base=base_ref,
                target=repos["receiverVolume"].repository_url,
                role=ROLE_VOLUME,
                istio_version=version,
                file_sha256=_file_sha256(images.receiver_file, "acpw:images.receiverFile"),
                target_credentials=push_credentials,
                delete_best_effort=True,
            )
        else:
            volume_args = ImagePushArgs(
                kind=KIND_COPY,
                source=base_ref,
                target=repos["receiverVolume"].repository_url,
                role=ROLE_VOLUME,
                istio_version=version,
                expected_digest=base_pin,
                target_credentials=push_credentials,
                delete_best_effort=True,
            )
        volume = ImagePush(f"{self._name}-receiver-volume-push", volume_args, self._child())

        self.sender_digest = sender.digest
        self.receiver_volume_digest = volume.digest
        self.sender_url = pulumi.Output.all(repos["sender"].repository_url, sender.digest).apply(
            lambda values: f"oci://{values[0]}@{values[1]}"
        )
        self.receiver_volume_image = pulumi.Output.all(
            repos["receiverVolume"].repository_url, volume.digest
        ).apply(lambda values: f"{values[0]}@{values[1]}")
        self.pull_secret_name = PULL_SECRET_NAME
        self._refresher(repos)

    def _refresher(self, repos: dict[str, aws.ecr.Repository]) -> None:
        config = self._config
        iam = config.iam
        base_name = iam.user_name or f"{pulumi.get_project()}-{pulumi.get_stack()}"
        user = aws.iam.User(
            f"{self._name}-refresher",
            name=f"{base_name[:52]}-ecr-refresh",
            path=iam.path,
            permissions_boundary=iam.permissions_boundary,
            tags={
                **iam.tags,
                "acpw:purpose": "aws-cloudwatch-proxy-wasm ECR pull secret refresher",
            },
            force_destroy=True,
            opts=self._child(),
        )
        policy = aws.iam.UserPolicy(
            f"{self._name}-refresher-policy",
            name="acpw-ecr-pull",
            user=user.name,
            policy=pulumi.Output.all(repos["sender"].arn, repos["receiverVolume"].arn).apply(
                lambda arns: json.dumps(refresher_policy(list(arns)), sort_keys=True)
            ),
            opts=self._child(),
        )
        key = aws.iam.AccessKey(
            f"{self._name}-refresher-key-g{iam.key_generation}",
            user=user.name,
            opts=self._child(additional_secret_outputs=["secret"]),
        )
        self.refresher_user_arn = user.arn
        registry = repos["sender"].repository_url.apply(lambda url: url.split("/", 1)[0])
        region = config.region
        for namespace in config.namespaces:
            meta = {"namespace": namespace, "labels": LABELS}
            aws_secret = k8s.core.v1.Secret(
                f"{self._name}-refresher-aws-{namespace}",
                metadata={**meta, "name": REFRESHER_AWS_SECRET},
                type="Opaque",
                string_data={
                    "AWS_ACCESS_KEY_ID": pulumi.Output.secret(key.id),
                    "AWS_SECRET_ACCESS_KEY": pulumi.Output.secret(key.secret),
                },
                opts=self._child(),
            )
            pull = k8s.core.v1.Secret(
                f"{self._name}-pull-{namespace}",
                metadata={
                    **meta,
                    "name": PULL_SECRET_NAME,
                    "annotations": {
                        "acpw/renewed-by": f"CronJob {namespace}/{REFRESHER_NAME} ({REFRESH_SCHEDULE})"
                    },
                },
                type="kubernetes.io/dockerconfigjson",
                # Created without credentials; the refresher Job fills it and owns its content.
                string_data={".dockerconfigjson": json.dumps({"auths": {}})},
                opts=self._child(ignore_changes=["data", "stringData"]),
            )
            self.pull_secrets[namespace] = pull
            account = k8s.core.v1.ServiceAccount(
                f"{self._name}-refresher-sa-{namespace}",
                metadata={**meta, "name": REFRESHER_NAME},
                automount_service_account_token=False,
                opts=self._child(),
            )
            role = k8s.rbac.v1.Role(
                f"{self._name}-refresher-role-{namespace}",
                metadata={**meta, "name": REFRESHER_NAME},
                rules=refresher_rules(),
                opts=self._child(),
            )
            binding = k8s.rbac.v1.RoleBinding(
                f"{self._name}-refresher-binding-{namespace}",
                metadata={**meta, "name": REFRESHER_NAME},
                role_ref={
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": REFRESHER_NAME,
                },
                subjects=[
                    {"kind": "ServiceAccount", "name": REFRESHER_NAME, "namespace": namespace}
                ],
                opts=self._child(),
            )
            job_spec = registry.apply(
                lambda host, ns=namespace: refresher_job_spec(ns, host, region)
            )
            k8s.batch.v1.CronJob(
                f"{self._name}-refresher-{namespace}",
                metadata={**meta, "name": REFRESHER_NAME},
                spec={
                    "schedule": REFRESH_SCHEDULE,
                    "concurrencyPolicy": "Forbid",
                    "startingDeadlineSeconds": 3600,
                    "successfulJobsHistoryLimit": 1,
                    "failedJobsHistoryLimit": 3,
                    "jobTemplate": {"spec": job_spec},
                },
                opts=self._child(depends_on=[pull, aws_secret, role, binding, account, policy]),
            )
            # Fill the Secret now, so the gateways can pull right after this update.
            k8s.batch.v1.Job(
                f"{self._name}-refresher-initial-{namespace}-g{config.iam.key_generation}",
                metadata={**meta, "name": f"{REFRESHER_NAME}-initial-g{config.iam.key_generation}"},
                spec=job_spec,
                opts=self._child(depends_on=[pull, aws_secret, role, binding, account, policy]),
            )


def _hex(digest: str | None) -> str | None:
    return digest.removeprefix("sha256:") if digest else None


def _file_sha256(path: str, key: str) -> str:
    """Hash of a local .wasm (so a changed file is an update), checked to be a Wasm module."""
    try:
        data = read_file(path, "the file")
        check_wasm_module(data, path)
        return sha256_digest(data).removeprefix("sha256:")
    except Exception as error:
        raise ValueError(f"{key}: {error}") from None


def _local_sender_digest(path: str, wasm_format: str) -> str:
    try:
        return local_file_digest(path, wasm_format)
    except Exception as error:
        raise ValueError(f"acpw:images.senderFile: {error}") from None
