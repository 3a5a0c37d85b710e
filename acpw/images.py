"""Where the Wasm modules are pulled from: image references, digest pinning and pull secrets.

Every resource and invoke here is served by a real provider plugin (pulumi-aws, pulumi-kubernetes,
pulumi-docker), so the component behaves the same from every language; 0.2.0's dynamic
providers are gone (acpw/oci/provider.py keeps only what deletes their state).

Each image is pinned by manifest digest: the configured ``senderDigest`` /
``receiverVolumeDigest`` (or a digest in the reference), else the digest the tag points to,
read from the registry API by pulumi-docker's ``getRegistryImage`` invoke. That invoke runs in
the docker provider plugin, whose Configure pings a Docker daemon (see docs/images.md): pin the
digests to deploy without one.

``registry: ghcr`` (default): the configured public images are used as they are.

``registry: ecr``: an ECR pull-through cache rule per upstream registry (``ghcr.io`` needs a
Secrets Manager credential, ``images.ecrUpstreamCredentials``) and a repository creation
template for its prefix (scan on push, lifecycle policy, encryption): the first pull of
``<account>.dkr.ecr.<region>.amazonaws.com/<prefix>/<upstream path>@<digest>`` creates the
repository and caches the image. Pods and WasmPlugins pull with a ``kubernetes.io/dockerconfigjson``
Secret in each gateway namespace, filled and renewed every 4 hours (ECR tokens last 12) by the
refresher (``acpw/refresher.py``), whose identity may import from the upstream.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from acpw.config import AcpwConfig, ConfigError
from acpw.config.checks import LOCAL_FILE_REFUSAL
from acpw.config.upstreams import PREFIX_MAX, Upstream, upstream_of
from acpw.contract import aws_tags
from acpw.oci.reference import Reference
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


def stack_prefix(project: str, stack: str, short: str) -> str:
    """``<project>-<stack>/<short>``, cut to ECR's 30 characters for a repository prefix.

    The pattern allows lowercase alphanumerics separated by one of ``._-`` and ``/``.
    """
    room = PREFIX_MAX - len(short) - 1
    slug = re.sub(r"[^a-z0-9]+", "-", f"{project}-{stack}".lower()).strip("-")[:room].strip("-")
    return f"{slug or 'acpw'}/{short}"


def cached_repository(prefix: str, reference: str) -> str:
    """``<prefix>/<upstream path>``: the repository the pull-through cache creates for an image."""
    return f"{prefix}/{Reference.parse(reference).repository}"


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
    """Registry ``ecr``: per image (``sender``, ``receiverVolume``, with ``copyToolImages``
    ``kubectl`` and ``awsCli``) the cached repository's URL (else empty)."""
    pull_secrets: dict[str, k8s.core.v1.Secret]
    """Registry ``ecr``: the pull Secret per gateway namespace."""
    refresher_user_arn: pulumi.Output[str] | None
    """Registry ``ecr``: ARN of the refresher's IAM user."""
    sender_file_sha256: str | None = None
    """Always None: local files are published outside the engine (``acpw.oci.publish``)."""
    receiver_file_sha256: str | None = None
    kubectl_image: pulumi.Input[str]
    """The kubectl image of the rollout-check Jobs and the refresher, by digest (the ECR cache
    with ``copyToolImages``)."""
    aws_cli_image: pulumi.Input[str]
    """The AWS CLI image of the refresher, by digest (the ECR cache with ``copyToolImages``)."""

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
        if images.sender_file or images.receiver_file:
            # The config checks refuse these first; a caller building AcpwConfig by hand too.
            raise ConfigError(
                [
                    "acpw:images.senderFile/receiverFile: "
                    + LOCAL_FILE_REFUSAL.format(
                        command="sender", image="sender", digest="senderDigest", project="acpw"
                    )
                ]
            )
        self.kubectl_image = images.kubectl
        self.aws_cli_image = images.aws_cli
        sender_ref, sender_pin = pinned_source(
            images.sender.removeprefix("oci://"), images.sender_digest
        )
        volume_ref, volume_pin = pinned_source(
            images.receiver_volume, images.receiver_volume_digest
        )
        # Pinned digests are known at preview; a tag is read from its registry.
        self.sender_digest = self._digest(sender_ref, sender_pin)
        # The batching receiver ships with the program (a ConfigMap): no volume image at all,
        # nothing to read, cache or pull.
        batching = args.config.receiver.module == "batching"
        self.receiver_volume_digest = (
            pulumi.Output.from_input("") if batching else self._digest(volume_ref, volume_pin)
        )
        if images.registry == "ecr":
            self._ecr(sender_ref, None if batching else volume_ref)
            if batching:
                self.receiver_volume_image = pulumi.Output.from_input("")
        elif batching:
            self.sender_url = pulumi.Output.from_input(images.sender)
            self.receiver_volume_image = pulumi.Output.from_input("")
        else:
            # As configured: WasmPlugin.spec.sha256 carries the digest.
            self.sender_url = pulumi.Output.from_input(images.sender)
            volume_base = strip_digest(images.receiver_volume)
            self.receiver_volume_image = self.receiver_volume_digest.apply(
                lambda digest: f"{volume_base}@{digest}"
            )
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

    def _digest(self, reference: str, pin: str | None) -> pulumi.Output[str]:
        """The pinned digest, else what the tag points to now (pulumi-docker's getRegistryImage,
        served by the docker provider plugin: kreuzwerker/terraform-provider-docker
        internal/provider/data_source_docker_registry_image.go, HEAD of /v2/<repo>/manifests/<tag>
        accepting OCI and Docker manifests and indexes)."""
        if pin:
            return pulumi.Output.from_input(pin)
        # Imported here: pulumi_docker costs a tenth of a second to import, and only unpinned
        # tags need it (tools/bench.py).
        import pulumi_docker as docker

        found = docker.get_registry_image_output(
            name=reference, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        return found.sha256_digest

    def _ecr(self, sender_ref: str, volume_ref: str | None) -> None:
        config = self._config
        images = config.images
        project, stack = pulumi.get_project(), pulumi.get_stack()
        # Per image: its upstream reference and digest (the tool images are pinned by config).
        sources: dict[str, tuple[str, pulumi.Input[str]]] = {
            "sender": (sender_ref, self.sender_digest)
        }
        if volume_ref is not None:
            sources["receiverVolume"] = (volume_ref, self.receiver_volume_digest)
        if images.copy_tool_images:
            sources["kubectl"] = (images.kubectl, images.kubectl.split("@", 1)[1])
            sources["awsCli"] = (images.aws_cli, images.aws_cli.split("@", 1)[1])
        # One rule (and template) per upstream registry; the config checks refused the others.
        rules: dict[str, tuple[str, aws.ecr.PullThroughCacheRule]] = {}
        for reference, _ in sources.values():
            upstream = _upstream(reference)
            if upstream.short not in rules:
                prefix = stack_prefix(project, stack, upstream.short)
                rules[upstream.short] = (prefix, self._rule(upstream, prefix))
        images_out: dict[str, pulumi.Output[str]] = {}
        arn_patterns: dict[str, pulumi.Output[str]] = {}
        for key, (reference, digest) in sources.items():
            prefix, rule = rules[_upstream(reference).short]
            repository = cached_repository(prefix, reference)
            # <account>.dkr.ecr.<region>.amazonaws.com: where the rule lives (aws partition only).
            url = pulumi.Output.concat(
                rule.registry_id, ".dkr.ecr.", rule.region, ".amazonaws.com/", repository
            )
            self.repository_urls[key] = url
            images_out[key] = pulumi.Output.concat(url, "@", digest)
            arn_patterns[key] = pulumi.Output.concat(
                "arn:aws:ecr:", rule.region, ":", rule.registry_id, f":repository/{prefix}/*"
            )
        self.sender_url = pulumi.Output.concat("oci://", images_out["sender"])
        if "receiverVolume" in images_out:
            self.receiver_volume_image = images_out["receiverVolume"]
        if images.copy_tool_images:
            self.kubectl_image = images_out["kubectl"]
            self.aws_cli_image = images_out["awsCli"]
        self.pull_secret_name = config.names.pull_secret
        refresher = create_refresher(
            self,
            self._name,
            config,
            {key: (arn_patterns[key], self.repository_urls[key]) for key in sources},
            RefresherImages(aws_cli=self.aws_cli_image, kubectl=self.kubectl_image),
            depends_on=[rule for _, rule in rules.values()],
        )
        self.pull_secrets = refresher.pull_secrets
        self.refresher_user_arn = refresher.user_arn

    def _rule(self, upstream: Upstream, prefix: str) -> aws.ecr.PullThroughCacheRule:
        """The pull-through cache rule for one upstream and the template its repositories get."""
        images = self._config.images
        credential = images.ecr_upstream_credentials.get(upstream.url) or next(
            (
                arn
                for host, arn in images.ecr_upstream_credentials.items()
                if upstream_of(f"{host}/x") == upstream
            ),
            None,
        )
        # Tags stay mutable: the cache keeps a repository in sync with its upstream only while
        # its tags are mutable (ECR user guide, pull through cache); the program pulls by digest.
        aws.ecr.RepositoryCreationTemplate(
            f"{self._name}-{upstream.short}-template",
            prefix=prefix,
            applied_fors=["PULL_THROUGH_CACHE"],
            description=f"aws-cloudwatch-proxy-wasm: images cached from {upstream.url}",
            image_tag_mutability="MUTABLE",
            lifecycle_policy=json.dumps(lifecycle_policy(images.ecr_keep_images), sort_keys=True),
            encryption_configurations=[
                aws.ecr.RepositoryCreationTemplateEncryptionConfigurationArgs(
                    encryption_type="KMS", kms_key=images.ecr_kms_key_arn
                )
                if images.ecr_kms_key_arn
                else aws.ecr.RepositoryCreationTemplateEncryptionConfigurationArgs(
                    encryption_type="AES256"
                )
            ],
            # ECR needs a role of yours to create repositories with a KMS key (provider docs,
            # custom_role_arn); without one the template sets no tags.
            custom_role_arn=images.ecr_creation_role_arn,
            resource_tags=(
                aws_tags(
                    self._config.iam.tags, f"aws-cloudwatch-proxy-wasm images from {upstream.url}"
                )
                if images.ecr_creation_role_arn
                else None
            ),
            opts=self._child(),
        )
        return aws.ecr.PullThroughCacheRule(
            f"{self._name}-{upstream.short}-cache",
            ecr_repository_prefix=prefix,
            upstream_registry_url=upstream.url,
            credential_arn=credential,
            opts=self._child(),
        )


def _upstream(reference: str) -> Upstream:
    found = upstream_of(reference)
    if found is None:  # refused by the config checks (_pull_through_problems)
        raise ConfigError([f"acpw:images: ECR has no pull-through cache rule for {reference}"])
    return found


def _hex(digest: str | None) -> str | None:
    return digest.removeprefix("sha256:") if digest else None
