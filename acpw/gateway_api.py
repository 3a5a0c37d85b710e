"""``installer: gatewayApi``: pure builders for a gateway istiod deploys from a Gateway API
``Gateway`` (class ``istio``).

istiod renders and owns ``<gateway>-istio`` (Deployment, Service, ServiceAccount); its pod is not
injected. From 1.26.0 its deployment controller strategic-merges the YAML under the ``deployment``
key of the ConfigMap named by the Gateway's ``spec.infrastructure.parametersRef`` (after the class
defaults) into the rendered Deployment, and re-renders when that ConfigMap changes
(:data:`acpw.istio_versions.GATEWAY_API_FACTS`). So the receiver's pod changes
(:func:`acpw.gateway.gateway_pod_changes`) reach the pod as that overlay; the bootstrap file
itself stays in the generation's content-named bootstrap ConfigMap (an overlay only patches the
Deployment object, it cannot carry a file), mounted by the overlay.

Pulumi-free: config in, dict out.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from acpw.config.errors import ConfigError
from acpw.contract import OFF, PROGRESS_DEADLINE_SECONDS, PROXY_CONTAINER, ROLLOUT_LABEL
from acpw.istio_versions import (
    GATEWAY_API_FIRST,
    WASM_TARGET_REF_SINCE,
    WASM_TARGET_REFS_SINCE,
    IstioVersion,
    gateway_api_supported,
)

if TYPE_CHECKING:
    from acpw.gateway import GatewayPodChanges

OVERLAY_KEY = "deployment"
"""The ConfigMap data key istiod applies to the generated Deployment (``supportedOverlays``)."""
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
GATEWAY_CLASS = "istio"
BOOTSTRAP_HASH_ANNOTATION = "aws-cloudwatch-proxy-wasm/bootstrap-sha256"
"""Pod annotation carrying the bootstrap file's hash, so a bootstrap-only change still rolls
even if the bootstrap ConfigMap kept its name."""
OVERLAY_CONFIGMAP_SUFFIX = "-acpw"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def generated_deployment_name(gateway: str, gateway_class: str = GATEWAY_CLASS) -> str:
    """istiod's default name for the Deployment/Service/ServiceAccount: ``<gateway>-<class>``
    (``getDefaultName``, pilot/pkg/config/kube/gateway/conversion.go @1.26.8); the annotation
    ``gateway.istio.io/name-override`` on the Gateway replaces it."""
    return f"{gateway}-{gateway_class}"


def overlay_configmap_name(gateway: str) -> str:
    return f"{gateway}{OVERLAY_CONFIGMAP_SUFFIX}"


def bootstrap_hash(bootstrap_json: str) -> str:
    return hashlib.sha256(bootstrap_json.encode()).hexdigest()


def _rollout_spec(max_surge: int | str) -> dict[str, Any]:
    # As for the other installers: never take a serving pod away before its replacement is Ready.
    return {
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": max_surge},
        },
        "progressDeadlineSeconds": PROGRESS_DEADLINE_SECONDS,
    }


def deployment_overlay(
    changes: GatewayPodChanges,
    *,
    bootstrap_sha256: str | None = None,
    max_surge: int | str = "25%",
) -> dict[str, Any]:
    """The strategic-merge overlay of the generated Deployment that gives istio-proxy the
    receiver. Lists merge by name (containers, initContainers, volumes, env) and by mountPath
    (volumeMounts) under the apps/v1 patch meta istiod uses, so only our entries are added.
    No ``metadata.name``/``namespace``: istiod refuses an overlay that changes them."""
    annotations = dict(changes.pod_annotations)
    if bootstrap_sha256 is not None:
        annotations[BOOTSTRAP_HASH_ANNOTATION] = bootstrap_sha256
    pod_spec: dict[str, Any] = {
        "initContainers": changes.init_containers,
        "volumes": changes.volumes,
        "containers": [
            {
                "name": PROXY_CONTAINER,
                "env": changes.proxy_env,
                "volumeMounts": changes.proxy_volume_mounts,
            }
        ],
    }
    if changes.image_pull_secrets:
        pod_spec["imagePullSecrets"] = changes.image_pull_secrets
    return {
        "spec": {
            **_rollout_spec(max_surge),
            "template": {
                "metadata": {"labels": dict(changes.pod_labels), "annotations": annotations},
                "spec": pod_spec,
            },
        }
    }


def deployment_overlay_off(max_surge: int | str = "25%") -> dict[str, Any]:
    """The overlay of a gateway taken off ACPW. The ConfigMap stays (istiod fails the render
    while a parametersRef names a missing ConfigMap) and keeps the safe strategy; istiod's
    server-side apply then drops every field only the old overlay set, so the pods roll,
    awaited, to pods without the modules."""
    return {
        "spec": {
            **_rollout_spec(max_surge),
            "template": {"metadata": {"labels": {ROLLOUT_LABEL: OFF}}},
        }
    }


def overlay_configmap(
    gateway: str,
    namespace: str,
    changes: GatewayPodChanges,
    *,
    bootstrap_sha256: str | None = None,
    max_surge: int | str = "25%",
    off: bool = False,
) -> dict[str, Any]:
    """The ConfigMap the Gateway's ``parametersRef`` names: one ``deployment`` key of YAML text.
    It must be in the Gateway's namespace (``fetchParameters`` uses the Gateway's). The text is
    JSON, which is YAML too (istiod reads it with ``yaml.YAMLToJSON``), so the policy pack reads
    it with the standard library."""
    overlay = (
        deployment_overlay_off(max_surge)
        if off
        else deployment_overlay(changes, bootstrap_sha256=bootstrap_sha256, max_surge=max_surge)
    )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": overlay_configmap_name(gateway), "namespace": namespace},
        "data": {OVERLAY_KEY: json.dumps(overlay, indent=2, sort_keys=True)},
    }


def parameters_ref_patch(gateway: str, namespace: str, configmap: str) -> dict[str, Any]:
    """Server-side-apply body for the user's Gateway: only ``spec.infrastructure.parametersRef``
    (core group "", kind ConfigMap; the only kind istiod's ``fetchParameters`` accepts)."""
    return {
        "apiVersion": f"{GATEWAY_API_GROUP}/v1",
        "kind": "Gateway",
        "metadata": {
            "name": gateway,
            "namespace": namespace,
            "annotations": {"pulumi.com/patchForce": "true"},
        },
        "spec": {
            "infrastructure": {
                "parametersRef": {"group": "", "kind": "ConfigMap", "name": configmap}
            }
        },
    }


def wasm_plugin_target(version: IstioVersion, gateway: str) -> dict[str, Any]:
    """The WasmPlugin stanza attaching the sender to a Gateway: ``targetRefs`` from 1.22,
    ``targetRef`` on 1.20 - 1.21; never with ``selector`` (exclusive from 1.24, CRD CEL rule).
    The WasmPlugin must be in the Gateway's namespace (cross-namespace refs are refused)."""
    ref = {"group": GATEWAY_API_GROUP, "kind": "Gateway", "name": gateway}
    if version.at_least(*WASM_TARGET_REFS_SINCE):
        return {"targetRefs": [ref]}
    if version.at_least(*WASM_TARGET_REF_SINCE):
        return {"targetRef": ref}
    raise ValueError(f"Istio {version} WasmPlugin cannot target a Gateway")


def gateway_api_entry_problems(
    entries: Sequence[Mapping[str, Any]], version: IstioVersion, key: str = "gateways"
) -> list[tuple[str, str]]:
    """The problems of the ``installer: gatewayApi`` entries of ``acpw:gateways`` (mappings with
    the config's keys), each as (key without ``acpw:``, message), in entry order."""
    problems: list[tuple[str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    first = f"1.{GATEWAY_API_FIRST[0]}.{GATEWAY_API_FIRST[1]}"
    for index, entry in enumerate(entries):
        if entry.get("installer") != "gatewayApi":
            continue
        where = f"{key}[{index}]"
        if not gateway_api_supported(version):
            problems.append(
                (
                    f"{where}.installer",
                    f"gatewayApi needs Istio {first} or newer (istiod honours the Gateway's "
                    f"spec.infrastructure.parametersRef from {first}); istioVersion is "
                    f"{version}: use istioOperator or deploymentPatch",
                )
            )
        if "selector" in entry:
            problems.append(
                (
                    f"{where}.selector",
                    "not allowed with installer gatewayApi (the sender targets the Gateway by "
                    "targetRefs); remove it",
                )
            )
        name = entry.get("name")
        if not isinstance(name, str) or len(name) > 63 or not _DNS_LABEL.match(name):
            problems.append(
                (
                    f"{where}.name",
                    f"{name!r} is not a Gateway name (a DNS-1123 label: up to 63 lowercase "
                    "letters, digits and '-', starting and ending alphanumeric)",
                )
            )
        elif len(generated_deployment_name(name)) > 63:
            problems.append(
                (
                    f"{where}.name",
                    f"'{name}' is too long: istiod names its Deployment "
                    f"'{generated_deployment_name(name)}', over 63 characters",
                )
            )
        identity = (str(entry.get("namespace", "")), str(name))
        if identity in seen:
            problems.append(
                (
                    where,
                    f"Gateway {identity[0]}/{identity[1]} is already acpw:{key}[{seen[identity]}]"
                    "; one entry per Gateway",
                )
            )
        else:
            seen[identity] = index
    return problems


def validate_gateway_api_entries(
    entries: Sequence[Mapping[str, Any]], version: IstioVersion, key: str = "acpw:gateways"
) -> None:
    """Refuse bad ``installer: gatewayApi`` entries of ``acpw:gateways`` (raw config mappings),
    all problems at once, each naming its key."""
    prefix, _, bare = key.rpartition(":")
    problems = gateway_api_entry_problems(entries, version, bare)
    if problems:
        raise ConfigError([f"{prefix}:{where}: {message}" for where, message in problems])
