"""Checks that need several ``acpw:*`` fields at once, and the per-version warnings.

They run on an already field-validated :class:`~acpw.config.models.AcpwConfig` (its
``mode="after"`` model validator) and return :class:`ConfigProblem` s, each naming the key it is
about, instead of raising: the validator raises them together as one typed pydantic error
(:func:`acpw.config.errors.cross_field_error`), which the loader splits back into one line each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from acpw.config.errors import PROJECT, ConfigProblem, config_key, shown
from acpw.config.upstreams import registry_host, supported_hosts, upstream_of
from acpw.istio_versions import NEWEST_KNOWN_PATCH

if TYPE_CHECKING:
    from acpw.config.models import AcpwConfig

PUBLISHED_MODULE_REGION = "ap-northeast-1"
"""v0.1.0 hard-codes ``monitoring.ap-northeast-1.amazonaws.com`` as Host and signing host."""


def cross_field_problems(config: AcpwConfig) -> list[ConfigProblem]:
    """Every problem found across fields, in a stable order (gateways, then region and images)."""
    return [*_gateway_problems(config), *_region_problems(config), *_image_problems(config)]


def _gateway_problems(config: AcpwConfig) -> list[ConfigProblem]:
    problems = []
    seen_names: dict[tuple[str, str], int] = {}
    for index, gateway in enumerate(config.gateways):
        key = (gateway.namespace, gateway.name)
        if key in seen_names:
            problems.append(
                ConfigProblem(
                    config_key("gateways", index),
                    f"duplicate gateway {gateway.namespace}/{gateway.name} "
                    f"(also gateways[{seen_names[key]}])",
                )
            )
        seen_names.setdefault(key, index)
        overlap = _overlapping_selector(config, index)
        if overlap is not None:
            problems.append(overlap)
    return problems


def _overlapping_selector(config: AcpwConfig, index: int) -> ConfigProblem | None:
    """The first earlier gateway in the same namespace whose selector matches the same pods.

    A selector matches the pods carrying all its labels, so when one selector's labels are a
    subset of another's, every pod of the larger one matches both: each gateway's WasmPlugin
    and bootstrap objects would load the modules into those pods a second time.
    """
    gateway = config.gateways[index]
    labels = set(gateway.selector.items())
    for earlier_index, earlier in enumerate(config.gateways[:index]):
        if earlier.namespace != gateway.namespace:
            continue
        earlier_labels = set(earlier.selector.items())
        if labels == earlier_labels:
            found = (
                f"same selector as gateways[{earlier_index}] in namespace {gateway.namespace} "
                f"(gateways {earlier.name} and {gateway.name} both select "
                f"{_labels(gateway.selector)})"
            )
            pods = "the same pods"
        elif labels < earlier_labels or labels > earlier_labels:
            smaller, larger = (gateway, earlier) if labels < earlier_labels else (earlier, gateway)
            found = (
                f"selector {_labels(gateway.selector)} of gateway {gateway.name} is a "
                f"{'subset' if smaller is gateway else 'superset'} of the selector "
                f"{_labels(earlier.selector)} of gateway {earlier.name} (gateways[{earlier_index}]) "
                f"in namespace {gateway.namespace}: every pod gateway {larger.name} selects is "
                f"also selected by gateway {smaller.name}"
            )
            pods = "those pods"
        else:
            continue
        return ConfigProblem(
            config_key("gateways", index, "selector"),
            f"{found}, so the modules would load twice into {pods}; give each gateway a label "
            "the other does not select",
        )
    return None


def _labels(selector: dict[str, str]) -> str:
    return shown(", ".join(f"{key}={value}" for key, value in selector.items()))


def _region_problems(config: AcpwConfig) -> list[ConfigProblem]:
    region = config.cloudwatch.region
    if config.images.modules_honour_region or region in (None, PUBLISHED_MODULE_REGION):
        return []
    return [
        ConfigProblem(
            config_key("cloudwatch", "region"),
            f"{shown(region)} cannot work with the published v0.1.0 modules, which "
            f"always call monitoring.{PUBLISHED_MODULE_REGION}.amazonaws.com: use "
            f"{PUBLISHED_MODULE_REGION}, or set {PROJECT}:images.modulesHonourRegion: true for modules "
            "built to honour the region",
        )
    ]


def _embedded_digest(reference: str) -> str | None:
    """The ``sha256:...`` digest an image reference already carries after ``@``, if any."""
    _, at, digest = reference.rpartition("@")
    return digest if at else None


def _image_problems(config: AcpwConfig) -> list[ConfigProblem]:
    images = config.images
    problems = []
    if images.registry == "ecr" and not config.features.wasm_pull_secret:
        problems.append(
            ConfigProblem(
                config_key("images", "registry"),
                f"'ecr' is a private registry, and Istio {config.istio_version} ignores WasmPlugin pull "
                "secrets (they work from 1.14): use 'ghcr' (public images) or Istio 1.14 or later",
            )
        )
    if images.ecr_kms_key_arn and images.registry != "ecr":
        problems.append(
            ConfigProblem(
                config_key("images", "ecr_kms_key_arn"),
                f"only applies to registry 'ecr': set {PROJECT}:images.registry: ecr",
            )
        )
    for image_field, digest_field in (
        ("sender", "sender_digest"),
        ("receiver_volume", "receiver_volume_digest"),
    ):
        embedded = _embedded_digest(getattr(images, image_field))
        configured = getattr(images, digest_field)
        if embedded and configured and embedded != configured:
            problems.append(
                ConfigProblem(
                    config_key("images", digest_field),
                    f"{configured} differs from the digest {embedded} already in "
                    f"{PROJECT}:images.{config_key(image_field)}: the two pins disagree, and "
                    f"only one could be used; keep one of them (or make them equal)",
                )
            )
    for name, image_key, digest_key, command in (
        ("sender_file", "sender", "senderDigest", "sender"),
        ("receiver_file", "receiverVolume", "receiverVolumeDigest", "receiver"),
    ):
        if getattr(images, name):
            problems.append(
                ConfigProblem(
                    config_key("images", name),
                    LOCAL_FILE_REFUSAL.format(
                        command=command, image=image_key, digest=digest_key, project=PROJECT
                    ),
                )
            )
    if images.registry == "ecr":
        problems += _pull_through_problems(config)
    for name, value in (
        ("ecr_upstream_credentials", images.ecr_upstream_credentials),
        ("ecr_creation_role_arn", images.ecr_creation_role_arn),
        ("copy_tool_images", images.copy_tool_images),
        ("refresher_namespace", images.refresher_namespace),
        ("refresher_role_arn", images.refresher_role_arn),
    ):
        if value and images.registry != "ecr":
            problems.append(
                ConfigProblem(
                    config_key("images", name),
                    f"only applies to registry 'ecr' (the pull-secret refresher and the private "
                    f"registry exist only there): set {PROJECT}:images.registry: ecr",
                )
            )
    return problems


LOCAL_FILE_REFUSAL = (
    "the program no longer pushes local files (that took a Python dynamic provider, which fails "
    "from every other language): publish it outside the engine with `python -m "
    "acpw.oci.publish {command} <file> --to <registry>/<repository>` (or `make "
    "publish-images`), then set {project}:images.{image} to the printed reference and "
    "{project}:images.{digest} to the printed digest"
)
"""Why ``images.senderFile`` / ``receiverFile`` are refused, and what to run instead."""


def _pull_through_problems(config: AcpwConfig) -> list[ConfigProblem]:
    """Registry ``ecr``: every image's upstream has a pull-through rule, with its credential."""
    images = config.images
    problems = []
    references = [("sender", images.sender), ("receiver_volume", images.receiver_volume)]
    if images.copy_tool_images:
        references += [("kubectl", images.kubectl), ("aws_cli", images.aws_cli)]
    credentials = {
        found.url for host in images.ecr_upstream_credentials if (found := upstream_of(f"{host}/x"))
    }
    for name, reference in references:
        host = registry_host(reference)
        upstream = upstream_of(reference)
        if upstream is None:
            problems.append(
                ConfigProblem(
                    config_key("images", name),
                    f"registry 'ecr' caches images through an ECR pull-through cache rule, and ECR "
                    f"has none for {host} (supported: {supported_hosts()}): use one of those "
                    f"registries or {PROJECT}:images.registry: ghcr",
                )
            )
        elif upstream.needs_credential and upstream.url not in credentials:
            problems.append(
                ConfigProblem(
                    config_key("images", "ecr_upstream_credentials"),
                    f"{host} (from {PROJECT}:images.{config_key(name)}) needs a credential for the "
                    f"ECR pull-through cache: create a Secrets Manager secret named "
                    f'ecr-pullthroughcache/<name> holding {{"username": ..., "accessToken": ...}} '
                    f"in the stack's account and region, and set {PROJECT}:images."
                    f'ecrUpstreamCredentials: {{"{host}": <its ARN>}}',
                )
            )
            credentials.add(upstream.url)  # one problem per upstream
    if images.ecr_kms_key_arn and not images.ecr_creation_role_arn:
        problems.append(
            ConfigProblem(
                config_key("images", "ecr_creation_role_arn"),
                f"is needed with {PROJECT}:images.ecrKmsKeyArn: ECR creates the cached "
                "repositories with a KMS key only as a role of yours (the repository creation "
                "template's custom role)",
            )
        )
    return problems


def version_warnings(config: AcpwConfig) -> list[str]:
    """Settings that cannot be honoured on this Istio version, worded for the preview output."""
    found: list[str] = []
    features = config.features
    version = config.istio_version
    if version.unknown_patch:
        found.append(
            f"{PROJECT}:istioVersion: Istio {version} is newer than the newest patch release this "
            f"program knows (1.{version.minor}.{NEWEST_KNOWN_PATCH[version.minor]}): the facts of "
            f"1.{version.minor} apply, check the release notes for changes to WasmPlugin, "
            "EnvoyFilter or gateway installation"
        )
    if not features.wasm_fail_strategy:
        # istiod treats an absent failStrategy as FAIL_CLOSE: a sender image that cannot be
        # fetched makes the gateway refuse traffic, whatever this setting says.
        found.append(
            f"{PROJECT}:failStrategy: '{config.fail_strategy}' cannot be honoured on Istio {version}: "
            "WasmPlugin.failStrategy exists from 1.19, so the sender fails closed (a sender image "
            "that cannot be fetched blocks traffic through the gateway); pin images.senderDigest"
        )
    if (
        features.wasm_pull_secret
        and not features.wasm_distinct_pull_secrets
        and config.images.registry == "ecr"
        and len(config.gateways) > 1
    ):
        found.append(
            f"{PROJECT}:images.registry: Istio {version} mixes up WasmPlugins with different "
            "pull secrets (fixed in 1.14.3): upgrade before relying on more than one gateway"
        )
    if not features.in_cluster_operator and any(
        g.installer == "istioOperator" for g in config.gateways
    ):
        found.append(
            f"{PROJECT}:gateways: Istio {version} has no in-cluster operator: the IstioOperator "
            "is only exported (stack output istioOperatorYaml) for `istioctl install -f`"
        )
    return found
