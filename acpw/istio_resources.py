"""Istio objects of the deployment: pure builders (config in, dict out) and their component.

- ``ServiceEntry`` + ``DestinationRule``: the Envoy cluster ``outbound|443||monitoring.<region>.amazonaws.com``
  the receiver sends ``PutMetricData`` through, with TLS and a verified server certificate.
- ``WasmPlugin``: the sender HTTP filter, one per gateway.
- the receiver bootstrap extension, delivered per Istio version: an ``EnvoyFilter`` BOOTSTRAP patch
  (1.12 - 1.20) or a custom bootstrap ``ConfigMap`` read through ``ISTIO_BOOTSTRAP_OVERRIDE`` (1.21+).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from acpw.config import AcpwConfig, GatewayConfig
from acpw.contract import (
    BOOTSTRAP_CONFIGMAP,
    BOOTSTRAP_FILE_KEY,
    KEY_ENV_NAMES,
    RECEIVER_WASM_PATH,
    labels,
)

OS_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
"""The OS trust bundle inside Istio's proxy image (Debian/Ubuntu and distroless bases alike)."""


def monitoring_host(region: str) -> str:
    return f"monitoring.{region}.amazonaws.com"


def cloudwatch_cluster_name(region: str) -> str:
    """The Envoy cluster istiod builds from the ServiceEntry (``direction|port|subset|host``)."""
    return f"outbound|443||{monitoring_host(region)}"


def monitoring_object_name(region: str) -> str:
    return f"acpw-monitoring-{region}"


def sender_name(gateway: GatewayConfig) -> str:
    return f"acpw-sender-{gateway.name}"


def receiver_filter_name(gateway: GatewayConfig) -> str:
    return f"acpw-receiver-{gateway.name}"


def _metadata(name: str, namespace: str, component: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": labels(component),
    }


def service_entry(config: AcpwConfig, namespace: str) -> dict[str, Any]:
    host = monitoring_host(config.region)
    return {
        "apiVersion": config.features.networking_api_version,
        "kind": "ServiceEntry",
        "metadata": _metadata(
            monitoring_object_name(config.region), namespace, "cloudwatch-endpoint"
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
    host = monitoring_host(config.region)
    tls: dict[str, Any] = {"mode": "SIMPLE", "sni": host}
    if not config.features.tls_verifies_by_default:
        # Before 1.21 a SIMPLE origination skips server verification unless a CA is given.
        tls["caCertificates"] = OS_CA_BUNDLE
    return {
        "apiVersion": config.features.networking_api_version,
        "kind": "DestinationRule",
        "metadata": _metadata(
            monitoring_object_name(config.region), namespace, "cloudwatch-endpoint"
        ),
        "spec": {"host": host, "exportTo": ["."], "trafficPolicy": {"tls": tls}},
    }


def receiver_configuration(config: AcpwConfig) -> str:
    """The receiver's JSON configuration string (keys from the module contract; no credentials)."""
    return json.dumps(
        {
            "cloud_watch_region": config.region,
            "cloud_watch_cluster_name": cloudwatch_cluster_name(config.region),
            "http_request_timeout_millisecond": config.cloudwatch.request_timeout_ms,
            "metric_namespace": config.cloudwatch.namespace,
            "metric_name": config.cloudwatch.metric_name,
        },
        sort_keys=True,
    )


def receiver_bootstrap(config: AcpwConfig) -> dict[str, Any]:
    """The bootstrap fragment adding the receiver as a singleton ``envoy.bootstrap.wasm`` service."""
    return {
        "bootstrap_extensions": [
            {
                "name": "envoy.bootstrap.wasm",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.wasm.v3.WasmService",
                    "singleton": True,
                    "config": {
                        "name": config.receiver_vm_id,
                        "vm_config": {
                            "vm_id": config.receiver_vm_id,
                            "runtime": "envoy.wasm.runtime.v8",
                            "code": {"local": {"filename": RECEIVER_WASM_PATH}},
                            "environment_variables": {"host_env_keys": list(KEY_ENV_NAMES)},
                        },
                        "configuration": {
                            "@type": "type.googleapis.com/google.protobuf.StringValue",
                            "value": receiver_configuration(config),
                        },
                    },
                },
            }
        ]
    }


def envoy_filter(config: AcpwConfig, gateway: GatewayConfig) -> dict[str, Any]:
    """Istio 1.12 - 1.20: the receiver as a BOOTSTRAP MERGE patch (needs BOOTSTRAP_XDS_AGENT=true)."""
    return {
        "apiVersion": config.features.envoy_filter_api_version,
        "kind": "EnvoyFilter",
        "metadata": _metadata(receiver_filter_name(gateway), gateway.namespace, "receiver"),
        "spec": {
            "workloadSelector": {"labels": dict(gateway.selector)},
            "configPatches": [
                {
                    "applyTo": "BOOTSTRAP",
                    "patch": {"operation": "MERGE", "value": receiver_bootstrap(config)},
                }
            ],
        },
    }


def bootstrap_override_configmap(config: AcpwConfig, namespace: str) -> dict[str, Any]:
    """Istio 1.21+: the receiver in a custom bootstrap file that pilot-agent passes to Envoy."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(BOOTSTRAP_CONFIGMAP, namespace, "receiver"),
        "data": {
            BOOTSTRAP_FILE_KEY: json.dumps(receiver_bootstrap(config), indent=2, sort_keys=True)
        },
    }


def wasm_plugin(
    config: AcpwConfig,
    gateway: GatewayConfig,
    *,
    url: str,
    sha256: str | None,
    pull_secret: str | None,
) -> dict[str, Any]:
    """The sender ``WasmPlugin``, with only the fields this Istio version has."""
    features = config.features
    spec: dict[str, Any] = {
        "selector": {"matchLabels": dict(gateway.selector)},
        "url": url,
        "imagePullPolicy": config.images.pull_policy,
        "pluginConfig": {
            "receiver_vm_id": config.receiver_vm_id,
            "match_hosts": list(config.match_hosts),
        },
    }
    if sha256:
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
        "metadata": _metadata(sender_name(gateway), gateway.namespace, "sender"),
        "spec": spec,
    }


@dataclass(frozen=True)
class IstioResourcesArgs:
    """Inputs of :class:`IstioResources`."""

    config: AcpwConfig
    """The validated stack configuration."""
    sender_url: pulumi.Input[str]
    """``WasmPlugin.spec.url`` of the sender image."""
    sender_sha256: pulumi.Input[str | None]
    """The sender image's manifest digest (64 hex), if known."""
    pull_secret_name: str | None = None
    """Image pull Secret present in each gateway namespace, for private registries."""


class IstioResources(pulumi.ComponentResource):
    """ServiceEntry, DestinationRule, WasmPlugin and the receiver delivery for every gateway."""

    object_names: dict[str, list[str]]
    """Per gateway (``namespace/name``): ``Kind/namespace/name`` of every Istio object serving it."""
    bootstrap_configmaps: dict[str, k8s.core.v1.ConfigMap]
    """Per namespace (1.21+): the bootstrap override ConfigMap."""

    def __init__(
        self, name: str, args: IstioResourcesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("acpw:istio:IstioResources", name, None, opts)
        config = args.config
        self.object_names = {}
        self.bootstrap_configmaps = {}
        namespace_objects: dict[str, list[str]] = {}
        for namespace in config.namespaces:
            objects = [service_entry(config, namespace), destination_rule(config, namespace)]
            for obj in objects:
                self._create_custom(obj)
            if config.features.receiver_delivery == "bootstrapOverride":
                configmap = bootstrap_override_configmap(config, namespace)
                self.bootstrap_configmaps[namespace] = self._create_configmap(configmap)
                objects.append(configmap)
            namespace_objects[namespace] = [_ref(obj) for obj in objects]

        for gateway in config.gateways:
            key = f"{gateway.namespace}/{gateway.name}"
            refs = list(namespace_objects[gateway.namespace])
            plugin = pulumi.Output.all(args.sender_url, args.sender_sha256).apply(
                functools.partial(_plugin_from_image, config, gateway, args.pull_secret_name)
            )
            placeholder = wasm_plugin(
                config, gateway, url="", sha256=None, pull_secret=args.pull_secret_name
            )
            self._create_custom(placeholder, spec=plugin.apply(lambda obj: obj["spec"]))
            refs.append(_ref(placeholder))
            if config.features.receiver_delivery == "envoyFilterBootstrapPatch":
                patch = envoy_filter(config, gateway)
                self._create_custom(patch)
                refs.append(_ref(patch))
            self.object_names[key] = sorted(refs)

        self.register_outputs({"objectNames": self.object_names})

    def _create_custom(
        self, obj: dict[str, Any], spec: pulumi.Input[Any] | None = None
    ) -> k8s.apiextensions.CustomResource:
        meta = obj["metadata"]
        return k8s.apiextensions.CustomResource(
            f"{obj['kind'].lower()}-{meta['namespace']}-{meta['name']}",
            api_version=obj["apiVersion"],
            kind=obj["kind"],
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=meta["name"], namespace=meta["namespace"], labels=meta["labels"]
            ),
            spec=spec if spec is not None else obj["spec"],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_configmap(self, obj: dict[str, Any]) -> k8s.core.v1.ConfigMap:
        meta = obj["metadata"]
        return k8s.core.v1.ConfigMap(
            f"configmap-{meta['namespace']}-{meta['name']}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=meta["name"], namespace=meta["namespace"], labels=meta["labels"]
            ),
            data=obj["data"],
            opts=pulumi.ResourceOptions(parent=self),
        )


def _plugin_from_image(
    config: AcpwConfig, gateway: GatewayConfig, pull_secret: str | None, image: list[Any]
) -> dict[str, Any]:
    url, sha256 = image
    return wasm_plugin(config, gateway, url=url, sha256=sha256, pull_secret=pull_secret)


def _ref(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['namespace']}/{obj['metadata']['name']}"
