"""One gateway's complete Envoy inputs, assembled from the receiver, sender and cluster models.

Path mapping: every container path the config names (the receiver's
``vm_config.code.local.filename`` directory, the CA bundle) keeps its rendered value; a
:class:`Mount` says which host file or directory the Envoy process binds there.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acpw.istio_versions import IstioVersion
from tests.conformance.envoy_harness import HarnessError
from tests.conformance.envoy_harness.bootstrap import receiver_bootstrap
from tests.conformance.envoy_harness.clusters import build_clusters
from tests.conformance.envoy_harness.selection import Workload
from tests.conformance.envoy_harness.sender import sender_filters as build_sender_filters
from tests.conformance.objects import Obj, parse_istio_version

GATEWAY_RESPONSE = "acpw-gateway-ok"
_FORBIDDEN_MOUNT_DIRS = {
    "/",
    "/etc",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/proc",
    "/dev",
    "/sys",
    "/tmp",
}


@dataclass(frozen=True)
class Mount:
    target: str
    """Path inside Envoy's mount namespace (the rendered path)."""
    source: Path
    """Host file or directory bind-mounted there."""


@dataclass
class EnvoyConfig:
    """Everything needed to start the gateway's Envoy for one workload."""

    workload: Workload
    receiver_route: str
    """Which rendered object delivered the receiver, e.g. ``EnvoyFilter/ns/name spec.configPatches[0]``."""
    bootstrap: Obj
    config_yaml: str | None
    ecds_files: dict[Path, Obj]
    mounts: list[Mount]
    receiver_files: list[str]
    clusters: list[str]
    sender_filters: dict[str, str] = field(default_factory=dict)
    """Per WasmPlugin ref: ``wasm``, ``allow-all (fetch failed, fail open)`` or ``deny-all (...)``."""

    def describe(self) -> str:
        return (
            f"gateway {self.workload.id}: receiver via {self.receiver_route}; "
            f"clusters {self.clusters}; sender {self.sender_filters}"
        )


def _stage_receiver(
    receiver_files: list[str], receiver_module: Path | None, work_dir: Path
) -> list[Mount]:
    """A staging directory per receiver directory (the pod's ``emptyDir``), with the module copied in."""
    mounts: list[Mount] = []
    staged: dict[str, Path] = {}
    for path in receiver_files:
        directory = os.path.dirname(path)
        if directory in _FORBIDDEN_MOUNT_DIRS:
            raise HarnessError(
                f"receiver module path {path!r}: refusing to map directory {directory!r}"
            )
        if directory not in staged:
            staged[directory] = work_dir / f"mnt{len(staged)}"
            staged[directory].mkdir(exist_ok=True)
            mounts.append(Mount(target=directory, source=staged[directory]))
        if receiver_module is not None:
            shutil.copyfile(receiver_module, staged[directory] / os.path.basename(path))
    return mounts


RECEIVER_VOLUME = "acpw-receiver-wasm"
RECEIVER_KEY = "receiver.wasm"


def _volume_configmaps(node: Any) -> set[str]:
    """Names of the ConfigMaps mounted as the receiver's volume anywhere in ``node``."""
    found: set[str] = set()
    if isinstance(node, dict):
        if node.get("name") == RECEIVER_VOLUME and isinstance(node.get("configMap"), dict):
            found.add(str(node["configMap"].get("name")))
        for value in node.values():
            found |= _volume_configmaps(value)
    elif isinstance(node, list):
        for item in node:
            found |= _volume_configmaps(item)
    return found


def receiver_from_configmap(
    objects: Sequence[Obj], workload: Workload, work_dir: Path
) -> Path | None:
    """The module a ConfigMap delivers (``binaryData`` ``receiver.wasm`` in the gateway's
    namespace), as the kubelet would write it into the pod's volume; None when none does.

    With several (generations), the one the rendered pod template mounts."""
    candidates = {
        obj["metadata"]["name"]: obj
        for obj in objects
        if obj.get("kind") == "ConfigMap"
        and obj["metadata"].get("namespace") == workload.namespace
        and RECEIVER_KEY in (obj.get("binaryData") or {})
    }
    if not candidates:
        return None
    mounted = _volume_configmaps(list(objects)) & set(candidates)
    if len(mounted) == 1:
        chosen = candidates[mounted.pop()]
    elif len(candidates) == 1:
        chosen = next(iter(candidates.values()))
    else:
        raise HarnessError(
            f"{len(candidates)} receiver module ConfigMaps in {workload.namespace} and no single "
            f"one mounted: {sorted(candidates)}"
        )
    out = work_dir / "receiver-from-configmap.wasm"
    out.write_bytes(base64.b64decode(chosen["binaryData"][RECEIVER_KEY]))
    return out


def _gateway_listener(sender_filters: list[Obj]) -> Obj:
    """The gateway listener (standing for LDS/RDS): the sender filters, then the router, which
    answers every request with GATEWAY_RESPONSE."""
    router = {
        "name": "envoy.filters.http.router",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
        },
    }
    return {
        "name": "0.0.0.0_8080",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network."
                            "http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": "outbound_0.0.0.0_8080",
                            "route_config": {
                                "name": "http.8080",
                                "virtual_hosts": [
                                    {
                                        "name": "all",
                                        "domains": ["*"],
                                        "routes": [
                                            {
                                                "match": {"prefix": "/"},
                                                "direct_response": {
                                                    "status": 200,
                                                    "body": {"inline_string": GATEWAY_RESPONSE},
                                                },
                                            }
                                        ],
                                    }
                                ],
                            },
                            "http_filters": [*sender_filters, router],
                        },
                    }
                ]
            }
        ],
    }


def _map_override_clusters(
    config_yaml: str | None, endpoint_port: int, ca_paths: set[str]
) -> tuple[str | None, list[str]]:
    """Clusters the bootstrap override defines itself (the receiver's signed CloudWatch cluster):
    their DNS answer is mapped to the fake endpoint, as for istiod's clusters; their CA paths
    are mapped to the test CA."""
    if config_yaml is None:
        return None, []
    override = json.loads(config_yaml)
    names = []
    for cluster in override.get("static_resources", {}).get("clusters", []):
        names.append(cluster["name"])
        cluster["type"] = "STATIC"
        cluster.pop("dns_lookup_family", None)
        for group in cluster.get("load_assignment", {}).get("endpoints", []):
            for lb in group.get("lb_endpoints", []):
                address = lb["endpoint"]["address"]["socket_address"]
                if not str(address["address"]).endswith(".amazonaws.com"):
                    raise HarnessError(f"cluster {cluster['name']}: {address} is not an AWS host")
                address.update({"address": "127.0.0.1", "port_value": endpoint_port})
        socket = cluster.get("transport_socket", {}).get("typed_config", {})
        validation = socket.get("common_tls_context", {}).get("validation_context", {})
        if "trusted_ca" in validation:
            ca_paths.add(validation["trusted_ca"]["filename"])
    return json.dumps(override, separators=(",", ":")), names


def build_envoy_config(
    objects: Sequence[Obj],
    workload: Workload,
    *,
    istio_version: str | IstioVersion,
    work_dir: Path,
    sender_module: Path | None,
    receiver_module: Path | None,
    ca_file: Path,
    endpoint_port: int,
) -> EnvoyConfig:
    """Builds the gateway's Envoy inputs from rendered objects only.

    ``sender_module`` is what the agent's fetch of ``WasmPlugin.spec.url`` yields (None: fetch
    fails). ``receiver_module`` is the file the init container would copy to the rendered receiver
    path (None: the file is missing there, unless a rendered ConfigMap delivers the module, which
    is then used as the kubelet would mount it). ``ca_file`` is what every CA path is mapped to.
    """
    try:
        version = parse_istio_version(istio_version)
    except ValueError as exc:
        raise HarnessError(f"istioVersion: {exc}") from exc
    work_dir.mkdir(parents=True, exist_ok=True)
    if receiver_module is None:
        receiver_module = receiver_from_configmap(objects, workload, work_dir)
    receiver = receiver_bootstrap(objects, workload, version)
    bootstrap = receiver.bootstrap
    mounts = _stage_receiver(receiver.files, receiver_module, work_dir)
    sender = build_sender_filters(objects, workload, version, sender_module, work_dir)

    clusters, ca_paths = build_clusters(objects, workload, version, endpoint_port)
    config_yaml, own_clusters = _map_override_clusters(
        receiver.config_yaml, endpoint_port, ca_paths
    )
    for path in sorted(ca_paths):
        mounts.append(Mount(target=path, source=ca_file))

    bootstrap["static_resources"]["listeners"] = [
        *bootstrap["static_resources"]["listeners"],
        _gateway_listener(sender.http_filters),
    ]
    bootstrap["static_resources"]["clusters"] = [
        *bootstrap["static_resources"]["clusters"],
        *clusters,
    ]
    return EnvoyConfig(
        workload=workload,
        receiver_route=", ".join(receiver.routes)
        if receiver.routes
        else "(nothing: no receiver object applies)",
        bootstrap=bootstrap,
        config_yaml=config_yaml,
        ecds_files={sender.ecds_path: {"resources": sender.ecds_resources}},
        mounts=mounts,
        receiver_files=receiver.files,
        clusters=[c["name"] for c in clusters] + own_clusters,
        sender_filters=sender.delivered,
    )
