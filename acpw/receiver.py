"""The receiver's Envoy side: its JSON configuration and the bootstrap fragment that loads it.

Pure builders (config in, dict out), shared by :mod:`acpw.istio_resources` (which delivers the
fragment per Istio version) and :mod:`acpw.legacy` (which hashes it as release 0.1.0 did), so
that neither imports the other.
"""

from __future__ import annotations

import json
from typing import Any

from acpw.config import AcpwConfig
from acpw.contract import KEY_ENV_NAMES, RECEIVER_WASM_PATH


def monitoring_host(region: str) -> str:
    return f"monitoring.{region}.amazonaws.com"


def cloudwatch_cluster_name(region: str) -> str:
    """The Envoy cluster istiod builds from the ServiceEntry (``direction|port|subset|host``)."""
    return f"outbound|443||{monitoring_host(region)}"


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
