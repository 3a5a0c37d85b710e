"""The receiver: a bootstrap ``WasmService``, delivered as istiod and pilot-agent deliver it.

- Istio <= 1.20: every ``EnvoyFilter`` ``applyTo: BOOTSTRAP`` / ``operation: MERGE`` patch
  selecting the gateway is merged (protobuf merge: maps recursively, repeated fields appended,
  scalars replaced) into a minimal gateway bootstrap passed with ``-c``.
  From 1.21 such patches are ignored, as istiod does.
- Istio >= 1.21: the bootstrap-override ``ConfigMap`` (key ``custom_bootstrap.json``) of the
  gateway's namespace is read like pilot-agent reads ``ISTIO_BOOTSTRAP_OVERRIDE``: YAML/JSON
  converted to JSON and passed verbatim with ``--config-yaml``; Envoy does the merge. Where the
  gateway's pod is known (a Gateway API gateway: istiod's Deployment with the overlay merged),
  the file is the one istio-proxy mounts at ``ISTIO_BOOTSTRAP_OVERRIDE``, and without that env
  var there is no override at all.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from acpw.istio_versions import IstioVersion
from tests.conformance.envoy_harness import HarnessError
from tests.conformance.envoy_harness.selection import Workload, applies
from tests.conformance.objects import Obj, object_ref

BOOTSTRAP_OVERRIDE_KEY = "custom_bootstrap.json"
WASM_SERVICE_TYPE = "type.googleapis.com/envoy.extensions.wasm.v3.WasmService"


@dataclass
class ReceiverBootstrap:
    """What carries the receiver to the gateway's Envoy."""

    bootstrap: Obj
    """The ``-c`` bootstrap: the minimal gateway bootstrap with any BOOTSTRAP patches merged."""
    config_yaml: str | None
    """The ``--config-yaml`` override (1.21+), or None."""
    routes: list[str]
    """Which rendered objects delivered it, e.g. ``EnvoyFilter/ns/name spec.configPatches[0]``."""
    files: list[str]
    """The receiver module paths (``vm_config.code.local.filename``) its WasmServices name."""


def proto_merge(dst: Any, src: Any) -> Any:
    """Protobuf merge of JSON-shaped messages: maps recursively, lists appended, scalars replaced."""
    if isinstance(dst, dict) and isinstance(src, dict):
        out = dict(dst)
        for key, value in src.items():
            out[key] = proto_merge(dst[key], value) if key in dst else copy.deepcopy(value)
        return out
    if isinstance(dst, list) and isinstance(src, list):
        return [*dst, *copy.deepcopy(src)]
    return copy.deepcopy(src)


def _minimal_bootstrap(workload: Workload) -> Obj:
    """What the agent + istiod give a gateway, in static form (the listener stands for LDS/RDS)."""
    return {
        "node": {
            "id": f"router~127.0.0.1~{workload.name}.{workload.namespace}~{workload.namespace}.svc.cluster.local",
            "cluster": f"{workload.name}.{workload.namespace}",
        },
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {"listeners": [], "clusters": []},
    }


def _receiver_from_envoyfilters(
    objects: Sequence[Obj], workload: Workload, version: IstioVersion, bootstrap: Obj
) -> tuple[Obj, list[str]]:
    routes: list[str] = []
    for obj in objects:
        if obj.get("kind") != "EnvoyFilter":
            continue
        spec = obj.get("spec", {})
        if not applies(obj, workload, spec.get("workloadSelector", {}).get("labels")):
            continue
        for i, patch in enumerate(spec.get("configPatches", [])):
            if patch.get("applyTo") != "BOOTSTRAP":
                continue
            where = f"{object_ref(obj)} spec.configPatches[{i}]"
            if version.at_least(21):
                continue  # removed in 1.21 (istio/istio #48693): validates, never applied
            op = patch.get("patch", {}).get("operation")
            if op != "MERGE":
                continue  # istiod applies only MERGE to the bootstrap
            proxy_version = patch.get("match", {}).get("proxy", {}).get("proxyVersion")
            if proxy_version and not re.match(proxy_version, f"1.{version.minor}.0"):
                continue
            value = patch["patch"].get("value")
            if not isinstance(value, dict):
                raise HarnessError(f"{where}.patch.value is not an object")
            bootstrap = proto_merge(bootstrap, value)
            routes.append(f"{where} (BOOTSTRAP MERGE)")
    return bootstrap, routes


def _mounted_override(pod: Any) -> tuple[str, str] | None:
    """(ConfigMap, key) istio-proxy reads through ``ISTIO_BOOTSTRAP_OVERRIDE``, or None."""
    [proxy] = [c for c in pod.get("containers", []) if c.get("name") == "istio-proxy"]
    env = {e["name"]: e.get("value") for e in proxy.get("env") or []}
    path = env.get("ISTIO_BOOTSTRAP_OVERRIDE")
    if not path:
        return None
    directory, _, key = str(path).rpartition("/")
    mounts = [m for m in proxy.get("volumeMounts") or [] if m.get("mountPath") == directory]
    if not mounts:
        raise HarnessError(f"ISTIO_BOOTSTRAP_OVERRIDE={path}: istio-proxy mounts nothing there")
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    volume = volumes.get(mounts[0]["name"]) or {}
    if "configMap" not in volume:
        raise HarnessError(f"{path}: volume {mounts[0]['name']} is no ConfigMap")
    return str(volume["configMap"]["name"]), key


def _receiver_from_override(
    objects: Sequence[Obj], workload: Workload
) -> tuple[str | None, list[str]]:
    if workload.pod is not None:
        mounted = _mounted_override(workload.pod)
        if mounted is None:
            return None, []  # pilot-agent passes no --config-yaml
        name, key = mounted
        found = [
            o
            for o in objects
            if o.get("kind") == "ConfigMap"
            and o["metadata"].get("namespace") == workload.namespace
            and o["metadata"].get("name") == name
        ]
        if not found or key not in (found[0].get("data") or {}):
            # The kubelet cannot mount it: the pod never starts.
            raise HarnessError(f"{workload.id}: mounted ConfigMap {name} (key {key}) not rendered")
        objects = found
    for obj in objects:
        if obj.get("kind") != "ConfigMap" or obj["metadata"].get("namespace") != workload.namespace:
            continue
        data = obj.get("data") or {}
        if BOOTSTRAP_OVERRIDE_KEY not in data:
            continue
        where = f"{object_ref(obj)} data[{BOOTSTRAP_OVERRIDE_KEY!r}]"
        try:
            parsed = yaml.safe_load(data[BOOTSTRAP_OVERRIDE_KEY])
        except yaml.YAMLError as exc:
            # pilot-agent (1.21+) would start Envoy without the override, with only a warning.
            raise HarnessError(f"{where}: not YAML/JSON, pilot-agent would drop it: {exc}") from exc
        if not isinstance(parsed, dict):
            raise HarnessError(f"{where}: not an object")
        # pkg/envoy/proxy.go: yaml.YAMLToJSON(file content) -> --config-yaml <json>
        return json.dumps(parsed, separators=(",", ":")), [where]
    return None, []


def _wasm_services(bootstrap: Obj) -> list[Obj]:
    out = []
    for ext in bootstrap.get("bootstrap_extensions", []) or []:
        typed = ext.get("typed_config", {})
        if typed.get("@type") == WASM_SERVICE_TYPE:
            out.append(typed)
    return out


def receiver_bootstrap(
    objects: Sequence[Obj], workload: Workload, version: IstioVersion
) -> ReceiverBootstrap:
    """The receiver's delivery for ``workload`` on Istio ``version``, from rendered objects only."""
    bootstrap = _minimal_bootstrap(workload)
    bootstrap, routes = _receiver_from_envoyfilters(objects, workload, version, bootstrap)
    config_yaml: str | None = None
    if version.at_least(21):
        config_yaml, routes = _receiver_from_override(objects, workload)

    services = _wasm_services(bootstrap)
    if config_yaml is not None:
        services += _wasm_services(json.loads(config_yaml))
    receiver_files: list[str] = []
    for i, service in enumerate(services):
        local = service.get("config", {}).get("vm_config", {}).get("code", {}).get("local", {})
        if "filename" in local:
            receiver_files.append(str(local["filename"]))
        elif local or service.get("config", {}).get("vm_config", {}).get("code", {}).get("remote"):
            raise HarnessError(
                f"{routes[0] if routes else 'bootstrap'}: WasmService[{i}] config.vm_config.code "
                "is not a local filename"
            )
    return ReceiverBootstrap(bootstrap, config_yaml, routes, receiver_files)
