"""The receiver's Envoy side: its JSON configuration and the bootstrap fragment that loads it.

Pure builders (config in, dict out), shared by :mod:`acpw.istio_resources` (which delivers the
fragment per Istio version) and :mod:`acpw.legacy` (which hashes it as release 0.1.0 did), so
that neither imports the other.
"""

from __future__ import annotations

import json
from typing import Any

from acpw.config import AcpwConfig
from acpw.contract import ACCESS_KEY_ENV, KEY_ENV_NAMES, RECEIVER_WASM_PATH, SECRET_KEY_ENV

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
"""The OS CA bundle inside the istio-proxy image (what ``caCertificates: system`` names)."""

PLACEHOLDER_KEYS = {
    ACCESS_KEY_ENV: "ACPW-ENVOY-SIGNS-NOT-A-KEY",
    SECRET_KEY_ENV: "acpw-envoy-signs-this-is-not-a-secret",
}
"""With ``cloudwatch.signing: envoy`` the receiver still gets ``ACPW_AWS_*``: the published
v0.1.0 refuses to start with them empty (an outage of the pod, ../shared/MODULE.md). They are
fixed, public and worthless: Envoy removes the signature the receiver makes with them before
its own ``aws_request_signing`` filter signs, so no real key enters the Wasm VM."""

ENVOY_KEY_ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ENV, "AWS_SECRET_ACCESS_KEY": SECRET_KEY_ENV}
"""``accessKey`` with Envoy signing: Envoy's env credential provider reads these, from the same
generation-scoped key Secret (its data keys stay ``ACPW_AWS_*``), so rotation works as before."""

STRIPPED_HEADERS = ("authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256")
"""Removed before Envoy signs: the Envoy 1.30-era signer adds its headers next to existing ones
(``addCopy``; envoy issues #15963, #23702), which AWS refuses; newer ones replace them."""


def monitoring_host(region: str) -> str:
    return f"monitoring.{region}.amazonaws.com"


def cloudwatch_cluster_name(region: str) -> str:
    """The Envoy cluster istiod builds from the ServiceEntry (``direction|port|subset|host``)."""
    return f"outbound|443||{monitoring_host(region)}"


def signed_cluster_name(region: str) -> str:
    """The receiver's own cluster (``cloudwatch.signing: envoy``), defined in its bootstrap."""
    return f"acpw-signed|443||{monitoring_host(region)}"


def receiver_cluster_name(config: AcpwConfig) -> str:
    """The cluster the receiver calls: istiod's from the ServiceEntry, or its own signed one."""
    if config.signing == "envoy":
        return signed_cluster_name(config.region)
    return cloudwatch_cluster_name(config.region)


def signing_filters(region: str) -> list[dict[str, Any]]:
    """Upstream HTTP filters of the signed cluster: strip the receiver's signature, sign, encode."""
    return [
        {
            "name": "envoy.filters.http.header_mutation",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
                "mutations": {"request_mutations": [{"remove": h} for h in STRIPPED_HEADERS]},
            },
        },
        {
            "name": "envoy.filters.http.aws_request_signing",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.aws_request_signing.v3.AwsRequestSigning",
                "service_name": "monitoring",
                "region": region,
                "host_rewrite": monitoring_host(region),
            },
        },
        {
            "name": "envoy.filters.http.upstream_codec",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec"
            },
        },
    ]


def signed_cloudwatch_cluster(config: AcpwConfig) -> dict[str, Any]:
    """The CloudWatch cluster Envoy signs on (``cloudwatch.signing: envoy``).

    A cluster of the receiver's own bootstrap, not an EnvoyFilter CLUSTER patch on istiod's
    cluster: it belongs to the generation (the content-named bootstrap ConfigMap), so a pod
    keeps the signing it started with, and a module -> envoy change rolls pods instead of
    changing the signing of running ones (whose env has no credentials for Envoy). TLS as the
    DestinationRule asks for it: SNI, the OS CA bundle and the certificate's name.
    """
    host = monitoring_host(config.region)
    name = signed_cluster_name(config.region)
    return {
        "name": name,
        "type": "LOGICAL_DNS",
        "dns_lookup_family": "V4_ONLY",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {"socket_address": {"address": host, "port_value": 443}}
                            }
                        }
                    ]
                }
            ],
        },
        "transport_socket": {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": host,
                "common_tls_context": {
                    "validation_context": {
                        "trusted_ca": {"filename": CA_BUNDLE},
                        "match_typed_subject_alt_names": [
                            {"san_type": "DNS", "matcher": {"exact": host}}
                        ],
                    }
                },
            },
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http_protocol_options": {}},
                "http_filters": signing_filters(config.region),
            }
        },
    }


IMDS_DISABLED_ENV = "AWS_EC2_METADATA_DISABLED"
"""With ``true``, Envoy's credential chain has no instance-metadata (node role) provider."""


def proxy_credentials_env(config: AcpwConfig, secret_name: str) -> list[dict[str, Any]]:
    """The ``istio-proxy`` env carrying the signing credentials of the generation.

    ``module``: the receiver's ``ACPW_AWS_*`` from the key Secret. ``envoy``: placeholders for
    the receiver (:data:`PLACEHOLDER_KEYS`), and with ``accessKey`` Envoy's ``AWS_*`` from the
    key Secret; with ``irsa`` / ``podIdentity`` the EKS webhook injects Envoy's variables.
    """

    def from_secret(env_name: str, key: str) -> dict[str, Any]:
        return {"name": env_name, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}

    if config.signing == "module":
        return [from_secret(name, name) for name in KEY_ENV_NAMES]
    env: list[dict[str, Any]] = [
        {"name": name, "value": PLACEHOLDER_KEYS[name]} for name in KEY_ENV_NAMES
    ]
    if not config.iam.keyless:
        env += [from_secret(name, key) for name, key in ENVOY_KEY_ENV.items()]
    else:
        # Envoy's default chain ends with the instance-profile provider (IMDS): were the pod's
        # own credentials to fail, it would sign with the node's role. Envoy drops that provider
        # when this is "true" (tests/conformance/test_envoy_keyless.py shows it in 1.40).
        env.append({"name": IMDS_DISABLED_ENV, "value": "true"})
    return env


def receiver_configuration(config: AcpwConfig) -> str:
    """The receiver's JSON configuration string (keys from the module contract; no credentials).

    The batching receiver (receiver/batching.c) reads the same keys, and ``flush_seconds`` and
    ``max_series``; the published one would skip those as unknown keys."""
    values: dict[str, Any] = {
        "cloud_watch_region": config.region,
        "cloud_watch_cluster_name": receiver_cluster_name(config),
        "http_request_timeout_millisecond": config.cloudwatch.request_timeout_ms,
        "metric_namespace": config.cloudwatch.namespace,
        "metric_name": config.cloudwatch.metric_name,
    }
    if config.receiver.module == "batching":
        values["flush_seconds"] = config.receiver.flush_seconds
        values["max_series"] = config.receiver.max_series
    return json.dumps(values, sort_keys=True)


def receiver_bootstrap(config: AcpwConfig) -> dict[str, Any]:
    """The bootstrap fragment adding the receiver as a singleton ``envoy.bootstrap.wasm`` service
    (and, with Envoy signing, its own signed CloudWatch cluster)."""
    vm_config: dict[str, Any] = {
        "vm_id": config.receiver_vm_id,
        "runtime": "envoy.wasm.runtime.v8",
        "code": {"local": {"filename": RECEIVER_WASM_PATH}},
    }
    if config.receiver.module == "published":
        # The batching receiver signs nothing: no key variable enters its VM.
        vm_config["environment_variables"] = {"host_env_keys": list(KEY_ENV_NAMES)}
    fragment: dict[str, Any] = {
        "bootstrap_extensions": [
            {
                "name": "envoy.bootstrap.wasm",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.wasm.v3.WasmService",
                    "singleton": True,
                    "config": {
                        "name": config.receiver_vm_id,
                        "vm_config": vm_config,
                        "configuration": {
                            "@type": "type.googleapis.com/google.protobuf.StringValue",
                            "value": receiver_configuration(config),
                        },
                    },
                },
            }
        ]
    }
    if config.signing == "envoy":
        fragment["static_resources"] = {"clusters": [signed_cloudwatch_cluster(config)]}
    return fragment
