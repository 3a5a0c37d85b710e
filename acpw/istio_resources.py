"""Istio objects of the deployment: pure builders (config in, dict out) and their component.

- ``ServiceEntry`` + ``DestinationRule``: the Envoy cluster ``outbound|443||monitoring.<region>.amazonaws.com``
  the receiver sends ``PutMetricData`` through, with TLS and a verified server certificate
  (chain and name: ``subjectAltNames``).
- ``WasmPlugin``: the sender HTTP filter, one per gateway.
- the receiver bootstrap extension, delivered per Istio version: an ``EnvoyFilter`` BOOTSTRAP patch
  (1.12 - 1.20) or a custom bootstrap ``ConfigMap`` read through ``ISTIO_BOOTSTRAP_OVERRIDE`` (1.21+).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from acpw import legacy
from acpw.config import AcpwConfig, GatewayConfig
from acpw.contract import BOOTSTRAP_CONFIGMAP, BOOTSTRAP_FILE_KEY, RECEIVER_WASM_FILE
from acpw.gateway_api import wasm_plugin_target
from acpw.generations import Generation, bootstrap_configmap_name, rollout_selector
from acpw.installers import installer_of
from acpw.receiver import (
    monitoring_host,
    receiver_bootstrap,
)
from acpw.receiver_module import batching_module_base64, batching_module_sha256

OS_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
"""The OS trust bundle inside Istio's proxy image (Debian/Ubuntu and distroless bases alike)."""


def _metadata(config: AcpwConfig, name: str, namespace: str, component: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": config.names.labels(component),
    }


def service_entry(config: AcpwConfig, namespace: str) -> dict[str, Any]:
    host = monitoring_host(config.region)
    return {
        "apiVersion": config.features.networking_api_version,
        "kind": "ServiceEntry",
        "metadata": _metadata(
            config, config.names.monitoring(config.region), namespace, "cloudwatch-endpoint"
        ),
        "spec": {
            "hosts": [host],
            "location": "MESH_EXTERNAL",
            "ports": [{"number": 443, "name": "https", "protocol": "TLS"}],
            "resolution": "DNS",
            # Only the gateway pods in this namespace need the cluster.
            "exportTo": ["."],
        },
    }


def destination_rule(config: AcpwConfig, namespace: str) -> dict[str, Any]:
    """TLS origination to CloudWatch that verifies the chain and the name, on every Istio version.

    ``subjectAltNames`` pins the certificate's name: without it istiod gives Envoy a CA but no
    name matcher (``auto_san_validation`` is only set when ``sni`` is empty), so any certificate
    the trusted CAs signed would be accepted, whatever host it was issued for.
    """
    host = monitoring_host(config.region)
    tls: dict[str, Any] = {"mode": "SIMPLE", "sni": host, "subjectAltNames": [host]}
    if not config.features.tls_verifies_by_default:
        # Before 1.21 a SIMPLE origination skips server verification unless a CA is given.
        tls["caCertificates"] = OS_CA_BUNDLE
    return {
        "apiVersion": config.features.networking_api_version,
        "kind": "DestinationRule",
        "metadata": _metadata(
            config, config.names.monitoring(config.region), namespace, "cloudwatch-endpoint"
        ),
        "spec": {"host": host, "exportTo": ["."], "trafficPolicy": {"tls": tls}},
    }


def envoy_filter(config: AcpwConfig, gateway: GatewayConfig, generation_id: str) -> dict[str, Any]:
    """Istio 1.12 - 1.20: the receiver as a BOOTSTRAP MERGE patch (needs BOOTSTRAP_XDS_AGENT=true).

    It selects only the gateway's pods of this generation: the agent of a pod that restarts
    fetches its bootstrap again, and must get the receiver it was rolled out with.
    """
    return {
        "apiVersion": config.features.envoy_filter_api_version,
        "kind": "EnvoyFilter",
        "metadata": _metadata(
            config,
            config.names.receiver_filter(gateway.name, generation_id),
            gateway.namespace,
            "receiver",
        ),
        "spec": {
            "workloadSelector": {"labels": rollout_selector(gateway.selector, generation_id)},
            "configPatches": [
                {
                    "applyTo": "BOOTSTRAP",
                    "patch": {"operation": "MERGE", "value": receiver_bootstrap(config)},
                }
            ],
        },
    }


def bootstrap_file(config: AcpwConfig) -> str:
    return json.dumps(receiver_bootstrap(config), indent=2, sort_keys=True)


def bootstrap_override_configmap(config: AcpwConfig, namespace: str) -> dict[str, Any]:
    """Istio 1.21+: the receiver in a custom bootstrap file that pilot-agent passes to Envoy.

    Named by its content and immutable: a pod mounts the file it was rolled out with, even when
    it restarts after the configuration changed.
    """
    content = bootstrap_file(config)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(
            config, bootstrap_configmap_name(content, config.names), namespace, "receiver"
        ),
        "immutable": True,
        "data": {BOOTSTRAP_FILE_KEY: content},
    }


def receiver_module_configmap(config: AcpwConfig, namespace: str) -> dict[str, Any]:
    """``receiver.module: batching``: the module itself, as ``binaryData`` ``receiver.wasm``.

    Named by the module's sha256 and immutable, like the bootstrap ConfigMap: the generation
    names it (acpw/generations.py ``receiver_module_sha256``), and a pod that restarts mounts the
    module it was rolled out with. Mounted over the receiver's directory in ``istio-proxy``
    (acpw/gateway.py), so the bootstrap reads it where it reads the published one.
    """
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(
            config, config.names.receiver_module(batching_module_sha256()), namespace, "receiver"
        ),
        "immutable": True,
        "binaryData": {RECEIVER_WASM_FILE: batching_module_base64()},
    }


def wasm_plugin(
    config: AcpwConfig,
    gateway: GatewayConfig,
    generation_id: str,
    *,
    url: pulumi.Input[str],
    sha256: pulumi.Input[str | None],
    pull_secret: str | None,
) -> dict[str, Any]:
    """The sender ``WasmPlugin`` of one generation, with only the fields this Istio version has.

    It selects only the gateway's pods of this generation, so a pod always runs the sender that
    matches its receiver (``receiver_vm_id``). ``url`` and ``sha256`` may be outputs (an image
    digest the registry decides); every other field is known at preview.

    A Gateway API gateway (``installer: gatewayApi``) is targeted by ``targetRefs`` (``targetRef``
    before 1.22), which excludes ``selector`` (CRD rule from 1.24) and so cannot tell its pods'
    generations apart: two generations' WasmPlugins pointing at the same receiver would both run
    in every pod during a rollout, each request counted twice. So such a gateway has one
    WasmPlugin per receiver ``vm_id`` (``ObjectNames.gateway_sender``), updated in place: every
    pod gets the desired generation's sender at once (xDS). A change of ``receiverVmId`` is a
    second WasmPlugin beside the first until the old pods are gone; in each pod only the one
    naming its receiver's VM finds the queue (the sender resolves it per request; the other's
    lookup fails and it enqueues nothing, ../shared/MODULE.md).
    """
    features = config.features
    by_gateway = installer_of(config, gateway).sender_by_gateway
    target: dict[str, Any] = (
        wasm_plugin_target(config.istio_version, gateway.name)
        if by_gateway
        else {"selector": {"matchLabels": rollout_selector(gateway.selector, generation_id)}}
    )
    spec: dict[str, Any] = {
        **target,
        "url": url,
        "imagePullPolicy": config.images.pull_policy,
        "pluginConfig": {
            "receiver_vm_id": config.receiver_vm_id,
            "match_hosts": list(config.match_hosts),
        },
    }
    if sha256 is not None:
        spec["sha256"] = sha256
    if pull_secret and features.wasm_pull_secret:
        spec["imagePullSecret"] = pull_secret
    if features.wasm_fail_strategy:
        spec["failStrategy"] = "FAIL_OPEN" if config.fail_strategy == "open" else "FAIL_CLOSE"
    if features.wasm_plugin_type:
        spec["type"] = "HTTP"
    return {
        "apiVersion": features.wasm_plugin_api_version,
        "kind": "WasmPlugin",
        "metadata": _metadata(
            config,
            (
                config.names.gateway_sender(gateway.name, config.receiver_vm_id)
                if by_gateway
                else config.names.sender(gateway.name, generation_id)
            ),
            gateway.namespace,
            "sender",
        ),
        "spec": spec,
    }


@dataclass(frozen=True)
class IstioResourcesArgs:
    """Inputs of :class:`IstioResources`."""

    config: AcpwConfig
    """The validated stack configuration (gateways, namespaces)."""
    generations: list[Generation]
    """The desired generation (built from ``config``) first, then older ones whose pods may
    still run (each built from its spec over ``config``)."""
    pull_secret_name: str | None = None
    """Image pull Secret present in each gateway namespace, for private registries."""
    legacy_namespaces: list[str] = field(default_factory=list)
    """Namespaces whose pods may still run release 0.1.0: keep its fixed-name bootstrap ConfigMap."""


class IstioResources(pulumi.ComponentResource):
    """ServiceEntry, DestinationRule, WasmPlugin and the receiver delivery for every gateway."""

    object_names: dict[str, list[str]]
    """Per gateway (``namespace/name``): ``Kind/namespace/name`` of the desired generation's objects."""
    bootstrap_configmaps: dict[str, str]
    """Per namespace (1.21+): the desired generation's bootstrap ConfigMap name."""

    def __init__(
        self, name: str, args: IstioResourcesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("acpw:istio:IstioResources", name, None, opts)
        self._name = name
        self._created: set[str] = set()
        config = args.config
        self.object_names = {}
        self.bootstrap_configmaps = {}
        for index, generation in enumerate(args.generations):
            gen_config = config if index == 0 else generation.spec.config(config)
            namespace_refs: dict[str, list[str]] = {}
            # Older generations may still run on gateways being taken off (enabled: false).
            namespaces = config.enabled_namespaces if index == 0 else config.namespaces
            gateways = config.enabled_gateways if index == 0 else config.gateways
            for namespace in namespaces:
                objects = [
                    service_entry(gen_config, namespace),
                    destination_rule(gen_config, namespace),
                ]
                if gen_config.features.receiver_delivery == "bootstrapOverride":
                    configmap = bootstrap_override_configmap(gen_config, namespace)
                    objects.append(configmap)
                    if index == 0:
                        self.bootstrap_configmaps[namespace] = configmap["metadata"]["name"]
                if gen_config.receiver.module == "batching":
                    objects.append(receiver_module_configmap(gen_config, namespace))
                for obj in objects:
                    self._create(obj)
                namespace_refs[namespace] = [_ref(obj) for obj in objects]
            for gateway in gateways:
                refs = list(namespace_refs[gateway.namespace])
                plugin = wasm_plugin(
                    gen_config,
                    gateway,
                    generation.id,
                    url=generation.sender_url,
                    sha256=generation.sender_sha256,
                    pull_secret=args.pull_secret_name,
                )
                # The desired generation takes over release 0.1.0's objects (acpw/legacy.py).
                takes_over = (
                    legacy.resource_names(gateway)
                    if index == 0 and not installer_of(config, gateway).sender_by_gateway
                    else {}
                )
                self._create(plugin, takes_over=takes_over.get("WasmPlugin"))
                refs.append(_ref(plugin))
                if gen_config.features.receiver_delivery == "envoyFilterBootstrapPatch":
                    patch = envoy_filter(gen_config, gateway, generation.id)
                    self._create(patch, takes_over=takes_over.get("EnvoyFilter"))
                    refs.append(_ref(patch))
                if index == 0:
                    self.object_names[gateway.key] = sorted(refs)
        if config.features.receiver_delivery == "bootstrapOverride":
            for namespace in args.legacy_namespaces:
                legacy_configmap = bootstrap_override_configmap(config, namespace)
                legacy_configmap["metadata"]["name"] = BOOTSTRAP_CONFIGMAP
                del legacy_configmap["immutable"]
                self._create(legacy_configmap)
        self.register_outputs({"objectNames": self.object_names})

    def _create(self, obj: dict[str, Any], *, takes_over: str | None = None) -> None:
        """Register an object once: generations share the objects whose content they share.

        ``takes_over``: a 0.1.0 resource name this object replaces, delete-before-replace.
        """
        meta = obj["metadata"]
        resource_name = f"{obj['kind'].lower()}-{meta['namespace']}-{meta['name']}"
        if resource_name in self._created:
            return
        self._created.add(resource_name)
        metadata = k8s.meta.v1.ObjectMetaArgs(
            name=meta["name"], namespace=meta["namespace"], labels=meta["labels"]
        )
        # Names carry the component's name; an object under 0.1.0's name keeps its URN.
        # The module ConfigMap is retained on delete: the program ships only its current module,
        # so a kept generation's pods (an upgrade that changed the module, mid-rollout) still
        # mount the old one by name when they restart; it is small, and removed by hand.
        module = obj["kind"] == "ConfigMap" and RECEIVER_WASM_FILE in (obj.get("binaryData") or {})
        opts = pulumi.ResourceOptions(
            parent=self,
            aliases=[pulumi.Alias(name=takes_over or resource_name)],
            delete_before_replace=True if takes_over else None,
            retain_on_delete=True if module else None,
        )
        if obj["kind"] == "ConfigMap":
            k8s.core.v1.ConfigMap(
                f"{self._name}-{resource_name}",
                metadata=metadata,
                immutable=obj.get("immutable"),
                data=obj.get("data"),
                binary_data=obj.get("binaryData"),
                opts=opts,
            )
            return
        k8s.apiextensions.CustomResource(
            f"{self._name}-{resource_name}",
            api_version=obj["apiVersion"],
            kind=obj["kind"],
            metadata=metadata,
            spec=obj["spec"],
            opts=opts,
        )


def _ref(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['namespace']}/{obj['metadata']['name']}"
