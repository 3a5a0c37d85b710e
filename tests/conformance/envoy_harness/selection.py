"""Which gateways the rendered objects describe, and which objects apply to each, as istiod sees it.

A WasmPlugin attaches by ``selector`` (the pod labels, in its namespace or the root namespace)
or, for a Gateway API gateway, by ``targetRefs`` / ``targetRef`` to a ``Gateway`` of its own
namespace (istiod refuses a reference into another one): the pods of that Gateway are those
istiod's deployment controller labels ``gateway.networking.k8s.io/gateway-name: <gateway>``
(acpw.istio_versions.GATEWAY_API_FACTS).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from acpw.istio_versions import GATEWAY_API_POD_LABEL
from tests.conformance.envoy_harness import HarnessError
from tests.conformance.objects import Obj, object_ref

ROOT_NAMESPACE = "istio-system"


@dataclass(frozen=True)
class Workload:
    """A gateway as seen by istiod: its namespace and pod labels (from the WasmPlugin selector)."""

    namespace: str
    labels: Mapping[str, str]
    name: str
    pod: Mapping[str, Any] | None = None
    """The gateway pod's spec, where it is known (a Gateway API gateway: istiod's Deployment
    with the overlay merged): the receiver is then read from what it mounts."""

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"


def gateway_workloads(objects: Sequence[Obj]) -> list[Workload]:
    """One workload per distinct (namespace, selector) of the rendered WasmPlugins."""
    seen: dict[tuple[str, tuple[tuple[str, str], ...]], Workload] = {}
    for obj in objects:
        if obj.get("kind") != "WasmPlugin":
            continue
        gateways = gateway_refs(obj)
        if gateways:
            ns = obj["metadata"].get("namespace", "default")
            for gateway in gateways:
                labels = {GATEWAY_API_POD_LABEL: gateway}
                key = (ns, tuple(sorted(labels.items())))
                seen.setdefault(key, Workload(ns, labels, obj["metadata"]["name"]))
            continue
        labels = obj.get("spec", {}).get("selector", {}).get("matchLabels")
        if not labels:
            raise HarnessError(
                f"{object_ref(obj)}: spec.selector.matchLabels is empty (no gateway to attach to)"
            )
        ns = obj["metadata"].get("namespace", "default")
        key = (ns, tuple(sorted(labels.items())))
        if key not in seen:
            seen[key] = Workload(namespace=ns, labels=dict(labels), name=obj["metadata"]["name"])
    return sorted(seen.values(), key=lambda w: w.id)


def gateway_refs(plugin: Obj) -> list[str]:
    """The Gateways a WasmPlugin's ``targetRefs`` / ``targetRef`` name (same namespace only)."""
    spec = plugin.get("spec", {})
    refs = list(spec.get("targetRefs") or ([spec["targetRef"]] if spec.get("targetRef") else []))
    names = []
    for ref in refs:
        if (ref.get("group"), ref.get("kind")) != ("gateway.networking.k8s.io", "Gateway"):
            raise HarnessError(f"{object_ref(plugin)}: targetRef {ref} is not a Gateway")
        if ref.get("namespace") not in (None, plugin["metadata"].get("namespace")):
            raise HarnessError(f"{object_ref(plugin)}: targetRef {ref} names another namespace")
        names.append(str(ref["name"]))
    return names


def plugin_applies(plugin: Obj, workload: Workload) -> bool:
    """Whether istiod gives the WasmPlugin to the workload's proxies."""
    gateways = gateway_refs(plugin)
    if gateways:
        return plugin["metadata"].get("namespace", "default") == workload.namespace and (
            workload.labels.get(GATEWAY_API_POD_LABEL) in gateways
        )
    labels = plugin.get("spec", {}).get("selector", {}).get("matchLabels")
    return applies(plugin, workload, labels)


def applies(obj: Obj, workload: Workload, labels: Mapping[str, str] | None) -> bool:
    ns = obj["metadata"].get("namespace", "default")
    if ns not in (workload.namespace, ROOT_NAMESPACE):
        return False
    return all(workload.labels.get(k) == v for k, v in (labels or {}).items())


def exported_to(obj: Obj, namespace: str) -> bool:
    export = obj.get("spec", {}).get("exportTo")
    if not export or "*" in export:
        return True
    own = obj["metadata"].get("namespace", "default")
    return any((e == "." and own == namespace) or e == namespace for e in export)


def host_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*"):
        return host.endswith(pattern[1:])
    return pattern == host
