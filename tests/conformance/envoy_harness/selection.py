"""Which gateways the rendered objects describe, and which objects apply to each, as istiod sees it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tests.conformance.envoy_harness import HarnessError
from tests.conformance.objects import Obj, object_ref

ROOT_NAMESPACE = "istio-system"


@dataclass(frozen=True)
class Workload:
    """A gateway as seen by istiod: its namespace and pod labels (from the WasmPlugin selector)."""

    namespace: str
    labels: Mapping[str, str]
    name: str

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"


def gateway_workloads(objects: Sequence[Obj]) -> list[Workload]:
    """One workload per distinct (namespace, selector) of the rendered WasmPlugins."""
    seen: dict[tuple[str, tuple[tuple[str, str], ...]], Workload] = {}
    for obj in objects:
        if obj.get("kind") != "WasmPlugin":
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
