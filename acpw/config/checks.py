"""Checks that need several ``acpw:*`` fields at once, and the per-version warnings.

They run on an already field-validated :class:`~acpw.config.models.AcpwConfig` (its
``mode="after"`` model validator) and return :class:`ConfigProblem` s, each naming the key it is
about, instead of raising: the validator raises them together as one typed pydantic error
(:func:`acpw.config.errors.cross_field_error`), which the loader splits back into one line each.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from acpw.config.errors import PROJECT, ConfigProblem, config_key

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
    seen_selectors: dict[tuple[str, str], int] = {}
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
        selector_key = (gateway.namespace, json.dumps(gateway.selector, sort_keys=True))
        if selector_key in seen_selectors:
            problems.append(
                ConfigProblem(
                    config_key("gateways", index, "selector"),
                    f"same selector as gateways[{seen_selectors[selector_key]}] in namespace "
                    f"{gateway.namespace}: the modules would load twice into the same pods",
                )
            )
        seen_selectors.setdefault(selector_key, index)
    return problems


def _region_problems(config: AcpwConfig) -> list[ConfigProblem]:
    region = config.cloudwatch.region
    if config.images.modules_honour_region or region in (None, PUBLISHED_MODULE_REGION):
        return []
    return [
        ConfigProblem(
            config_key("cloudwatch", "region"),
            f"'{region}' cannot work with the published v0.1.0 modules, which "
            f"always call monitoring.{PUBLISHED_MODULE_REGION}.amazonaws.com: use "
            f"{PUBLISHED_MODULE_REGION}, or set {PROJECT}:images.modulesHonourRegion: true for modules "
            "built to honour the region",
        )
    ]


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
    local_files = [
        name
        for name, value in (
            ("sender_file", images.sender_file),
            ("receiver_file", images.receiver_file),
        )
        if value
    ]
    if local_files and images.registry != "ecr":
        problems.append(
            ConfigProblem(
                config_key("images", local_files[0]),
                f"a local .wasm file needs a registry to be pushed to: set {PROJECT}:images.registry: ecr",
            )
        )
    return problems


def version_warnings(config: AcpwConfig) -> list[str]:
    """Settings that cannot be honoured on this Istio version, worded for the preview output."""
    found = []
    features = config.features
    version = config.istio_version
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
