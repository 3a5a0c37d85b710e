"""Where the Wasm modules are pulled from: image references, digest pinning and pull secrets.

``registry: ghcr`` (default): the configured public images are used as they are. Each is pinned
by manifest digest: the configured ``senderDigest`` / ``receiverVolumeDigest``, else the digest
the tag points to at deploy time (an :class:`~acpw.oci.provider.ImageDigest` resource,
which also checks the sender against Istio's fetcher rules for the configured version).

``registry: ecr``: two private ECR repositories (immutable tags, scan on push, lifecycle policy,
AES256 or KMS encryption). The images are copied into them over the OCI distribution API, or pushed from
local ``.wasm`` files (:class:`~acpw.oci.provider.ImagePush`). Pods and WasmPlugins pull with
a ``kubernetes.io/dockerconfigjson`` Secret in each gateway namespace, filled and renewed every 4
hours (ECR tokens last 12) by the refresher (``acpw/refresher.py``).
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
from acpw.contract import aws_tags
from acpw.oci.formats import check_wasm_module, sha256_digest, wasm_format_for
from acpw.oci.provider import (
    KIND_COPY,
    KIND_VOLUME_FILE,
    KIND_WASM_FILE,
    ROLE_SENDER,
    ROLE_TOOL,
    ROLE_VOLUME,
    ImageDigest,
    ImageDigestArgs,
    ImagePush,
    ImagePushArgs,
)
from acpw.oci.transfer import build_wasm_file_image, read_file
from acpw.refresher import RefresherImages, create_refresher

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
    sender_file_sha256: str | None
    """``images.senderFile``: the file's SHA-256 (a changed file is a new generation)."""
    receiver_file_sha256: str | None
    """``images.receiverFile``: the file's SHA-256."""
    kubectl_image: pulumi.Input[str]
    """The kubectl image of the rollout-check Jobs and the refresher, by digest (the ECR copy
    with ``copyToolImages``)."""
    aws_cli_image: pulumi.Input[str]
    """The AWS CLI image of the refresher, by digest (the ECR copy with ``copyToolImages``)."""

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
        images = args.config.images
        self.kubectl_image = images.kubectl
        self.aws_cli_image = images.aws_cli
        self.sender_file_sha256 = (
            _file_sha256(images.sender_file, "acpw:images.senderFile")
            if images.sender_file
            else None
        )
        self.receiver_file_sha256 = (
            _file_sha256(images.receiver_file, "acpw:images.receiverFile")
            if images.receiver_file
            else None
        )
        if images.registry == "ecr":
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
        # A pinned digest is known at preview; the resource checks the registry agrees.
        self.sender_digest = _known(sender_pin, sender.digest)
        self.receiver_volume_digest = _known(volume_pin, volume.digest)
        base = strip_digest(images.receiver_volume)
        self.receiver_volume_image = self.receiver_volume_digest.apply(
            lambda digest: f"{base}@{digest}"
        )

    def _ecr(self) -> None:
        config = self._config
        images = config.images
        version = str(config.istio_version)
        project, stack = pulumi.get_project(), pulumi.get_stack()
        repos: dict[str, aws.ecr.Repository] = {}
        copied = [("sender", "sender"), ("receiverVolume", "receiver-volume")]
        if images.copy_tool_images:
            copied += [("kubectl", "kubectl"), ("awsCli", "aws-cli")]
        for key, image in copied:
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
                tags=aws_tags(config.iam.tags, f"aws-cloudwatch-proxy-wasm {key}"),
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

        # parent=self: the invoke uses the AWS provider passed to the component, like its resources.
        token = aws.ecr.get_authorization_token_output(
            registry_id=repos["sender"].registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        push_credentials: pulumi.Output[dict[str, Any]] = pulumi.Output.secret(
            pulumi.Output.all(token.user_name, token.password).apply(  # type: ignore[arg-type]
                lambda values: {"username": values[0], "password": values[1]}
            )
        )

        if images.sender_file:
            wasm_format = wasm_format_for(config.features)
            sender_pin: str | None = _local_sender_digest(images.sender_file, wasm_format)
            sender_args = ImagePushArgs(
                kind=KIND_WASM_FILE,
                source=images.sender_file,
                target=repos["sender"].repository_url,
                role=ROLE_SENDER,
                istio_version=version,
                wasm_format=wasm_format,
                expected_digest=sender_pin,
                file_sha256=self.sender_file_sha256,
                target_credentials=push_credentials,
                delete_best_effort=True,
            )
        else:
            ref, sender_pin = pinned_source(
                images.sender.removeprefix("oci://"), images.sender_digest
            )
            sender_args = ImagePushArgs(
                kind=KIND_COPY,
                source=ref,
                target=repos["sender"].repository_url,
                role=ROLE_SENDER,
                istio_version=version,
                expected_digest=sender_pin,
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
                file_sha256=self.receiver_file_sha256,
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

        # Digests known from config (or computed from a local file) are known at preview; only
        # the ECR registry host is not, until the repository exists.
        volume_pin = None if images.receiver_file else base_pin
        self.sender_digest = _known(sender_pin, sender.digest)
        self.receiver_volume_digest = _known(volume_pin, volume.digest)
        self.sender_url = pulumi.Output.all(
            repos["sender"].repository_url, self.sender_digest
        ).apply(lambda values: f"oci://{values[0]}@{values[1]}")
        self.receiver_volume_image = pulumi.Output.all(
            repos["receiverVolume"].repository_url, self.receiver_volume_digest
        ).apply(lambda values: f"{values[0]}@{values[1]}")
        self.pull_secret_name = config.names.pull_secret
        if images.copy_tool_images:
            self.kubectl_image = self._copy_tool(
                "kubectl", images.kubectl, repos["kubectl"], push_credentials
            )
            self.aws_cli_image = self._copy_tool(
                "aws-cli", images.aws_cli, repos["awsCli"], push_credentials
            )
        refresher = create_refresher(
            self,
            self._name,
            config,
            {key: (repo.arn, repo.repository_url) for key, repo in repos.items()},
            RefresherImages(aws_cli=self.aws_cli_image, kubectl=self.kubectl_image),
        )
        self.pull_secrets = refresher.pull_secrets
        self.refresher_user_arn = refresher.user_arn

    def _copy_tool(
        self,
        image: str,
        source: str,
        repo: aws.ecr.Repository,
        credentials: pulumi.Output[dict[str, Any]],
    ) -> pulumi.Output[str]:
        """Copy a tool image byte for byte into its ECR repository; the copy, by digest."""
        ref, pin = pinned_source(source, None)
        push = ImagePush(
            f"{self._name}-{image}-push",
            ImagePushArgs(
                kind=KIND_COPY,
                source=ref,
                target=repo.repository_url,
                role=ROLE_TOOL,
                istio_version=str(self._config.istio_version),
                expected_digest=pin,
                target_credentials=credentials,
                delete_best_effort=True,
            ),
            self._child(),
        )
        return pulumi.Output.all(repo.repository_url, push.digest).apply(
            lambda values: f"{values[0]}@{values[1]}"
        )


def _known(pin: str | None, resolved: pulumi.Output[str]) -> pulumi.Output[str]:
    return pulumi.Output.from_input(pin) if pin else resolved


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
