"""Stand-in for ``tools.render`` while it does not exist: objects from the pure builders."""

from __future__ import annotations

from typing import Any

from components.config import load_config
from components.credentials import CREDENTIALS_SECRET
from components.gateway import (
    deployment_patch,
    gateway_pod_changes,
    istio_operator,
    istio_operator_gateway,
)
from components.istio_resources import (
    ACCESS_KEY_ENV,
    SECRET_KEY_ENV,
    bootstrap_override_configmap,
    destination_rule,
    envoy_filter,
    service_entry,
    wasm_plugin,
)

DIGEST = "sha256:" + "a" * 64


def sample_objects(istio_version: str, installer: str, gateways: int = 1) -> list[dict[str, Any]]:
    gws = [
        {
            "name": "istio-ingressgateway" if i == 0 else f"gw{i}",
            "namespace": "istio-system" if i == 0 else f"ns{i}",
            "selector": {"istio": "ingressgateway" if i == 0 else f"gw{i}"},
            "installer": installer,
        }
        for i in range(gateways)
    ]
    config = load_config(
        {"istioVersion": istio_version, "gateways": gws, "matchHosts": ["example.com"]},
        project="acpw",
        stack="sample",
        aws_region="ap-northeast-1",
    )
    objs: list[dict[str, Any]] = []
    for ns in config.namespaces:
        objs += [service_entry(config, ns), destination_rule(config, ns)]
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": CREDENTIALS_SECRET, "namespace": ns},
                "type": "Opaque",
                "stringData": {ACCESS_KEY_ENV: "[secret]", SECRET_KEY_ENV: "[secret]"},
            }
        )
        if config.features.receiver_delivery == "bootstrapOverride":
            objs.append(bootstrap_override_configmap(config, ns))
    entries = []
    for gw in config.gateways:
        objs.append(
            wasm_plugin(
                config,
                gw,
                url="oci://ghcr.io/hatappi/aws-cloudwatch-proxy-wasm/oci-sender:v0.1.0",
                sha256="a" * 64,
                pull_secret=None,
            )
        )
        if config.features.receiver_delivery == "envoyFilterBootstrapPatch":
            objs.append(envoy_filter(config, gw))
        changes = gateway_pod_changes(
            config,
            receiver_image=f"ghcr.io/hatappi/aws-cloudwatch-proxy-wasm@{DIGEST}",
            rollout_hash_value="0" * 32,
        )
        if gw.installer == "deploymentPatch":
            objs.append(deployment_patch(gw, changes))
        else:
            entries.append(istio_operator_gateway(gw, changes))
    if entries:
        objs.append(istio_operator(entries))
    return objs
