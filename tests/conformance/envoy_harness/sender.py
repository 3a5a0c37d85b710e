"""The sender: one ``envoy.filters.http.wasm`` filter per ``WasmPlugin``, as istiod delivers it.

Each ``WasmPlugin`` selecting the gateway becomes a filter delivered through ECDS
(``config_discovery``; istiod uses ADS, here a file subscription) with ``pluginConfig`` as a JSON
``google.protobuf.StringValue`` and istiod's failure policy (``failStrategy: FAIL_OPEN`` -> open,
anything else incl. absent -> closed, the proto default; ``fail_open`` for proxies < 1.25,
``failure_policy`` from 1.25). The agent's fetch is modelled: the module comes from a local file
given by the test; a missing file or one without the Wasm magic header is a fetch failure,
replaced (as pkg/wasm/convert.go does) by an allow-all RBAC filter when fail-open and a deny-all
RBAC filter when fail-closed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from acpw.istio_versions import IstioVersion
from tests.conformance.envoy_harness.selection import Workload, plugin_applies
from tests.conformance.objects import Obj, object_ref

WASM_MAGIC = b"\x00asm"
WASM_FILTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
RBAC_FILTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
STRING_VALUE_TYPE = "type.googleapis.com/google.protobuf.StringValue"


@dataclass
class SenderFilters:
    """The gateway's sender filters: ECDS resources and the HTTP filters that discover them."""

    ecds_path: Path
    ecds_resources: list[Obj]
    http_filters: list[Obj]
    """In filter-chain order (priority, then object), without the router."""
    delivered: dict[str, str]
    """Per WasmPlugin ref: ``wasm``, ``allow-all RBAC (...)`` or ``deny-all RBAC (...)``."""


def _sender_filter(
    plugin: Obj,
    version: IstioVersion,
    module: Path | None,
    fetched_dir: Path,
) -> tuple[Obj, str]:
    """(ECDS TypedExtensionConfig, how it was delivered) for one WasmPlugin."""
    spec = plugin.get("spec", {})
    name = f"{plugin['metadata'].get('namespace', 'default')}.{plugin['metadata']['name']}"
    fail_open = spec.get("failStrategy") == "FAIL_OPEN"
    ok = module is not None and module.is_file() and module.read_bytes()[:4] == WASM_MAGIC
    if not ok:
        # pkg/wasm/convert.go: fetch failure -> RBAC stand-in per failure policy
        rbac: Obj = {"@type": RBAC_FILTER_TYPE}
        if fail_open:
            rbac["rules_stat_prefix"] = "wasm-default-allow"
            how = "allow-all RBAC (fetch failed, fail open)"
        else:
            rbac["rules"] = {}
            rbac["rules_stat_prefix"] = "wasm-default-deny"
            how = "deny-all RBAC (fetch failed, fail closed)"
        return {"name": name, "typed_config": rbac}, how
    assert module is not None
    local = fetched_dir / f"{plugin['metadata']['name']}.wasm"
    shutil.copyfile(module, local)
    vm_config: Obj = {
        "runtime": "envoy.wasm.runtime.v8",
        "code": {"local": {"filename": str(local)}},
    }
    env = spec.get("vmConfig", {}).get("env") or []
    host_keys = [e["name"] for e in env if e.get("valueFrom") == "HOST"]
    inline = {
        e["name"]: e.get("value", "") for e in env if e.get("valueFrom", "INLINE") == "INLINE"
    }
    if host_keys or inline:
        vm_config["environment_variables"] = {}
        if host_keys:
            vm_config["environment_variables"]["host_env_keys"] = host_keys
        if inline:
            vm_config["environment_variables"]["key_values"] = inline
    config: Obj = {
        "name": name,
        "vm_config": vm_config,
        "configuration": {
            "@type": STRING_VALUE_TYPE,
            "value": json.dumps(spec.get("pluginConfig") or {}, separators=(",", ":")),
        },
    }
    if spec.get("pluginName"):
        config["root_id"] = spec["pluginName"]
    if version.at_least(25):
        policy = {"FAIL_OPEN": "FAIL_OPEN", "FAIL_RELOAD": "FAIL_RELOAD"}.get(
            spec.get("failStrategy", "")
        )
        config["failure_policy"] = policy or "FAIL_CLOSED"
    else:
        config["fail_open"] = fail_open
    return {"name": name, "typed_config": {"@type": WASM_FILTER_TYPE, "config": config}}, "wasm"


def sender_filters(
    objects: Sequence[Obj],
    workload: Workload,
    version: IstioVersion,
    sender_module: Path | None,
    work_dir: Path,
) -> SenderFilters:
    """Every WasmPlugin selecting ``workload``; ``sender_module`` is what the agent's fetch yields."""
    fetched = work_dir / "fetched"
    fetched.mkdir(exist_ok=True)
    ecds_path = work_dir / "ecds.json"
    ecds_resources: list[Obj] = []
    filters: list[Obj] = []
    delivered: dict[str, str] = {}
    plugins = [o for o in objects if o.get("kind") == "WasmPlugin" and plugin_applies(o, workload)]
    plugins.sort(key=lambda o: (-int(o.get("spec", {}).get("priority", 0) or 0), object_ref(o)))
    for plugin in plugins:
        resource, how = _sender_filter(plugin, version, sender_module, fetched)
        delivered[object_ref(plugin)] = how
        ecds_resources.append(
            {"@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig", **resource}
        )
        filters.append(
            {
                "name": resource["name"],
                "config_discovery": {
                    "config_source": {
                        "path_config_source": {"path": str(ecds_path)},
                        "resource_api_version": "V3",
                    },
                    "type_urls": [WASM_FILTER_TYPE, RBAC_FILTER_TYPE],
                },
            }
        )
    return SenderFilters(ecds_path, ecds_resources, filters, delivered)
