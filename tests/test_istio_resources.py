"""Pure builders of the Istio objects: config in, dict out, per Istio version."""

from __future__ import annotations

import json
from typing import Any

import pytest

from acpw.config import AcpwConfig, load_config
from acpw.istio_resources import (
    OS_CA_BUNDLE,
    bootstrap_override_configmap,
    destination_rule,
    envoy_filter,
    service_entry,
    wasm_plugin,
)
from acpw.receiver import receiver_bootstrap, receiver_configuration

DIGEST_HEX = "12" * 32
GEN = "0123456789ab"


def config_for(version: str, **raw: Any) -> AcpwConfig:
    return load_config(
        {"istioVersion": version, **raw}, project="acpw", stack="t", aws_region="ap-northeast-1"
    )


def plugin(version: str, **raw: Any) -> dict[str, Any]:
    config = config_for(version, **raw)
    return wasm_plugin(
        config, config.gateways[0], GEN, url="oci://r/s:1", sha256=DIGEST_HEX, pull_secret="pull"
    )


@pytest.mark.parametrize(
    ("version", "api_version"),
    [
        ("1.13", "networking.istio.io/v1beta1"),
        ("1.21", "networking.istio.io/v1beta1"),
        ("1.22", "networking.istio.io/v1"),
        ("1.30", "networking.istio.io/v1"),
    ],
)
def test_networking_api_version(version: str, api_version: str) -> None:
    config = config_for(version)
    assert service_entry(config, "ns")["apiVersion"] == api_version
    assert destination_rule(config, "ns")["apiVersion"] == api_version


def test_service_entry_gives_the_cluster_a_dns_tls_port() -> None:
    spec = service_entry(config_for("1.13"), "istio-system")["spec"]
    assert spec == {
        "hosts": ["monitoring.ap-northeast-1.amazonaws.com"],
        "location": "MESH_EXTERNAL",
        "ports": [{"number": 443, "name": "https", "protocol": "TLS"}],
        "resolution": "DNS",
        "exportTo": ["."],
    }


@pytest.mark.parametrize(
    ("version", "ca"),
    [("1.13", OS_CA_BUNDLE), ("1.20", OS_CA_BUNDLE), ("1.21", None), ("1.30", None)],
)
def test_destination_rule_always_verifies_the_server(version: str, ca: str | None) -> None:
    spec = destination_rule(config_for(version), "ns")["spec"]
    tls = spec["trafficPolicy"]["tls"]
    assert tls["mode"] == "SIMPLE"
    assert tls["sni"] == "monitoring.ap-northeast-1.amazonaws.com"
    assert tls.get("caCertificates") == ca
    # The name is checked on every version, not only the chain.
    assert tls["subjectAltNames"] == ["monitoring.ap-northeast-1.amazonaws.com"]
    assert "insecureSkipVerify" not in tls
    assert spec["exportTo"] == ["."]


@pytest.mark.parametrize(
    ("version", "fields"),
    [
        ("1.13", set()),
        ("1.14", {"imagePullSecret"}),
        ("1.18", {"imagePullSecret"}),
        ("1.19", {"imagePullSecret", "failStrategy"}),
        ("1.20", {"imagePullSecret", "failStrategy", "type"}),
        ("1.30", {"imagePullSecret", "failStrategy", "type"}),
    ],
)
def test_wasm_plugin_renders_only_fields_the_version_has(version: str, fields: set[str]) -> None:
    spec = plugin(version)["spec"]
    base = {"selector", "url", "sha256", "imagePullPolicy", "pluginConfig"}
    assert set(spec) == base | fields


def test_wasm_plugin_fields() -> None:
    spec = plugin("1.30", matchHosts=["a.example.com"], failStrategy="closed", receiverVmId="rx")[
        "spec"
    ]
    # Only the gateway's pods of this generation run this sender.
    assert spec["selector"] == {
        "matchLabels": {
            "app": "istio-ingressgateway",
            "istio": "ingressgateway",
            "acpw-rollout": GEN,
        }
    }
    assert spec["url"] == "oci://r/s:1"
    assert spec["sha256"] == DIGEST_HEX
    assert spec["imagePullPolicy"] == "IfNotPresent"
    assert spec["imagePullSecret"] == "pull"
    assert spec["pluginConfig"] == {"receiver_vm_id": "rx", "match_hosts": ["a.example.com"]}
    assert spec["failStrategy"] == "FAIL_CLOSE"
    assert spec["type"] == "HTTP"
    assert plugin("1.30")["spec"]["failStrategy"] == "FAIL_OPEN"


def test_wasm_plugin_without_known_digest_has_no_sha256() -> None:
    config = config_for("1.13")
    spec = wasm_plugin(
        config, config.gateways[0], GEN, url="oci://r/s:1", sha256=None, pull_secret=None
    )["spec"]
    assert "sha256" not in spec
    assert "imagePullSecret" not in spec


def test_receiver_configuration_is_the_module_contract() -> None:
    config = config_for(
        "1.13", cloudwatch={"namespace": "Team/App", "metricName": "Hits", "requestTimeoutMs": 2500}
    )
    assert json.loads(receiver_configuration(config)) == {
        "cloud_watch_region": "ap-northeast-1",
        "cloud_watch_cluster_name": "outbound|443||monitoring.ap-northeast-1.amazonaws.com",
        "http_request_timeout_millisecond": 2500,
        "metric_namespace": "Team/App",
        "metric_name": "Hits",
    }


def test_receiver_bootstrap_is_a_singleton_wasm_service() -> None:
    [extension] = receiver_bootstrap(config_for("1.13"))["bootstrap_extensions"]
    assert extension["name"] == "envoy.bootstrap.wasm"
    typed = extension["typed_config"]
    assert typed["@type"] == "type.googleapis.com/envoy.extensions.wasm.v3.WasmService"
    assert typed["singleton"] is True
    assert (
        typed["config"]["configuration"]["@type"]
        == "type.googleapis.com/google.protobuf.StringValue"
    )


def test_envoy_filter_is_a_bootstrap_merge_on_the_gateway() -> None:
    config = config_for("1.20")
    obj = envoy_filter(config, config.gateways[0], GEN)
    assert obj["apiVersion"] == "networking.istio.io/v1alpha3"
    assert obj["metadata"]["name"] == f"acpw-receiver-istio-ingressgateway-{GEN}"
    assert obj["spec"]["workloadSelector"] == {
        "labels": {"app": "istio-ingressgateway", "istio": "ingressgateway", "acpw-rollout": GEN}
    }
    [patch] = obj["spec"]["configPatches"]
    assert patch["applyTo"] == "BOOTSTRAP"
    assert patch["patch"] == {"operation": "MERGE", "value": receiver_bootstrap(config)}


def test_bootstrap_override_configmap_holds_the_same_extension() -> None:
    config = config_for("1.21")
    obj = bootstrap_override_configmap(config, "ns")
    assert json.loads(obj["data"]["custom_bootstrap.json"]) == receiver_bootstrap(config)
    # Named by content (kustomize style) and immutable: a restarted pod mounts what it started with.
    assert obj["immutable"] is True
    name = obj["metadata"]["name"]
    assert name.startswith("acpw-bootstrap-")
    assert bootstrap_override_configmap(config_for("1.21"), "other")["metadata"]["name"] == name
    changed = config_for("1.21", cloudwatch={"requestTimeoutMs": 1234})
    assert bootstrap_override_configmap(changed, "ns")["metadata"]["name"] != name
