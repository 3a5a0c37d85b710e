"""Hand-written gateway Deployment fixtures (under ``fixtures/``) and how to instantiate them.

* ``operator-ingressgateway-1.13.yaml`` / ``-1.14.yaml``: the Deployment the IstioOperator
  installer renders for an ingress gateway (chart ``gateways/istio-ingress``) in 1.13 and in
  1.14 - 1.23 (1.14 added the workload SDS socket volumes).
* ``gateway-chart-deployment.yaml``: the Helm ``gateway`` chart's Deployment (``image: auto``),
  what a ``deploymentPatch`` gateway is merged into.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.conformance.objects import parse_istio_version
from tests.conformance.overlay import apply_overlay_patches, overlays_for, ssa_merge

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _load(name: str, subst: Mapping[str, str]) -> dict[str, Any]:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    for key, value in subst.items():
        text = text.replace(key, value)
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    return doc


def _default_istio_label(name: str) -> str:
    return name.removeprefix("istio-")


def operator_gateway_deployment(
    istio_version: str,
    name: str = "istio-ingressgateway",
    namespace: str = "istio-system",
    gateway_env: Mapping[str, Any] | None = None,
    proxy_metadata: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The IstioOperator-installed gateway Deployment of ``istio_version`` (before overlays)."""
    minor = parse_istio_version(istio_version).minor
    fixture = (
        "operator-ingressgateway-1.13.yaml" if minor <= 13 else "operator-ingressgateway-1.14.yaml"
    )
    istio_label = (labels or {}).get("istio", _default_istio_label(name))
    dep = _load(
        fixture,
        {"__NAME__": name, "__NAMESPACE__": namespace, "__ISTIO_LABEL__": istio_label},
    )
    container = dep["spec"]["template"]["spec"]["containers"][0]
    env: list[Any] = []
    for entry in container["env"]:
        if entry == "__GATEWAY_ENV__":
            # chart: `- name: {{ $key }}  value: "{{ $val }}"` (values are strings)
            env += [
                {"name": k, "value": _helm_str(v)} for k, v in sorted((gateway_env or {}).items())
            ]
        elif entry == "__PROXY_METADATA__":
            env += [
                {"name": k, "value": _helm_str(v)}
                for k, v in sorted((proxy_metadata or {}).items())
            ]
        else:
            env.append(entry)
    container["env"] = env
    if labels:
        for target in (
            dep["metadata"]["labels"],
            dep["spec"]["selector"]["matchLabels"],
            dep["spec"]["template"]["metadata"]["labels"],
        ):
            target.update(labels)
    return dep


def _helm_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def chart_gateway_deployment(
    istio_version: str,
    name: str,
    namespace: str,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Helm ``gateway`` chart Deployment for a gateway release named ``name``."""
    parsed = parse_istio_version(istio_version)
    version = f"1.{parsed.minor}.{parsed.patch if parsed.patch is not None else 0}"
    istio_label = (labels or {}).get("istio", _default_istio_label(name))
    dep = _load(
        "gateway-chart-deployment.yaml",
        {
            "__NAME__": name,
            "__NAMESPACE__": namespace,
            "__ISTIO_LABEL__": istio_label,
            "__VERSION__": version,
        },
    )
    if labels:
        dep["spec"]["template"]["metadata"]["labels"].update(labels)
    return dep


def _gateway_component(iop: Mapping[str, Any], gateway_name: str) -> Mapping[str, Any]:
    for gw in ((iop.get("spec") or {}).get("components") or {}).get("ingressGateways") or []:
        if gw.get("name") == gateway_name:
            return dict(gw)
    raise KeyError(f"IstioOperator has no components.ingressGateways entry named {gateway_name!r}")


def gateway_names(iop: Mapping[str, Any]) -> list[str]:
    return [
        gw["name"]
        for gw in ((iop.get("spec") or {}).get("components") or {}).get("ingressGateways") or []
    ]


# k8s settings of a gateway component that the operator translates into the Deployment and that
# we model here; anything else present is reported by `operator_gateway` as not modelled.
_MODELLED_K8S = {"overlays", "strategy", "podAnnotations", "replicaCount", "env"}


def operator_gateway(
    iop: Mapping[str, Any], gateway_name: str, istio_version: str
) -> tuple[dict[str, Any], list[str]]:
    """The gateway Deployment an IstioOperator produces.

    Chart fixture + ``values`` env + ``meshConfig`` proxyMetadata + k8s settings + overlays.

    Returns the Deployment and notes about settings that are not modelled.
    """
    spec = iop.get("spec") or {}
    gw = _gateway_component(iop, gateway_name)
    values = spec.get("values") or {}
    gateway_values = ((values.get("gateways") or {}).get("istio-ingressgateway")) or {}
    proxy_metadata = ((spec.get("meshConfig") or {}).get("defaultConfig") or {}).get(
        "proxyMetadata"
    ) or {}
    labels = gw.get("label") or None
    dep = operator_gateway_deployment(
        istio_version,
        name=gateway_name,
        namespace=gw.get("namespace") or spec.get("namespace") or "istio-system",
        gateway_env=gateway_values.get("env") or {},
        proxy_metadata=proxy_metadata,
        labels=labels,
    )
    notes: list[str] = []
    k8s = gw.get("k8s") or {}
    # The operator applies these k8s settings with a strategic merge patch, then the overlays.
    if "replicaCount" in k8s:
        dep["spec"]["replicas"] = k8s["replicaCount"]
    if "strategy" in k8s:
        dep["spec"]["strategy"] = ssa_merge(dep["spec"].get("strategy") or {}, k8s["strategy"])
    if "podAnnotations" in k8s:
        dep["spec"]["template"]["metadata"].setdefault("annotations", {}).update(
            k8s["podAnnotations"]
        )
    if "env" in k8s:
        proxy = dep["spec"]["template"]["spec"]["containers"][0]
        proxy["env"] = ssa_merge(proxy["env"], k8s["env"], "env")
        notes.append(
            "k8s.env is applied as a strategic merge here; ISTIO-VERSIONS.md says "
            "secretKeyRef in it is broken <= 1.23"
        )
    for key in sorted(set(k8s) - _MODELLED_K8S):
        notes.append(f"k8s.{key} is not modelled by the fixture")
    patched = apply_overlay_patches(dep, list(overlays_for(iop, gateway_name)))
    return patched, notes


def patched_chart_gateway(patch: Mapping[str, Any], istio_version: str) -> dict[str, Any]:
    """The Helm gateway chart Deployment with a ``deploymentPatch`` body merged in (SSA)."""
    meta = patch.get("metadata") or {}
    base = chart_gateway_deployment(
        istio_version, str(meta.get("name")), str(meta.get("namespace") or "default")
    )
    merged = ssa_merge(base, patch)
    assert isinstance(merged, dict)
    return merged


def patched_chart_gateways(
    patches: Sequence[Mapping[str, Any]], istio_version: str
) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, name) -> the chart Deployment with every patch of it merged, in render order:
    a ``deploymentPatch`` gateway has its strategy patch, its pod-changes patch and, from 1.24,
    its generations record, each one field manager's share of the same object. Gateways with no
    pod-changes patch (another installer's, carrying only a generations record) are left out."""

    def key_of(patch: Mapping[str, Any]) -> tuple[str, str]:
        meta = patch.get("metadata") or {}
        return (str(meta.get("namespace") or "default"), str(meta.get("name")))

    patched = {key_of(p) for p in patches if "template" in (p.get("spec") or {})}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for patch in patches:
        key = key_of(patch)
        if key not in patched:
            continue
        base = out.get(key) or chart_gateway_deployment(istio_version, key[1], key[0])
        merged = ssa_merge(base, patch)
        assert isinstance(merged, dict)
        out[key] = merged
    return out


# -- installer: gatewayApi ------------------------------------------------------------------------

GATEWAY_API_GOLDENS = Path(__file__).resolve().parents[1] / "data" / "istio-gateway-api"
GATEWAY_API_GOLDEN_MINORS = {26: "1.26.8", 28: "1.28.10", 30: "1.30.3"}
"""Releases whose istiod-generated Deployment golden is pinned (tests/test_gateway_api.py checks
the blobs); a release between them uses the newest pinned one below it."""


def gateway_api_deployment(istio_version: str, gateway: str, namespace: str) -> dict[str, Any]:
    """istiod's generated ``<gateway>-istio`` Deployment of ``istio_version`` (from the golden
    ``simple.yaml``, rendered for Gateway ``default/default``, moved to ``namespace/gateway``)."""
    minor = parse_istio_version(istio_version).minor
    pinned = max(m for m in GATEWAY_API_GOLDEN_MINORS if m <= minor)
    text = (GATEWAY_API_GOLDENS / f"{GATEWAY_API_GOLDEN_MINORS[pinned]}-simple.yaml").read_text()
    [dep] = [d for d in yaml.safe_load_all(text) if d and d.get("kind") == "Deployment"]
    generated = f"{gateway}-istio"
    dep["metadata"]["name"] = generated
    dep["metadata"]["namespace"] = namespace
    dep["metadata"]["ownerReferences"][0]["name"] = gateway
    template = dep["spec"]["template"]
    for labels in (
        dep["metadata"]["labels"],
        dep["spec"]["selector"]["matchLabels"],
        template["metadata"]["labels"],
    ):
        labels["gateway.networking.k8s.io/gateway-name"] = gateway
    template["metadata"]["labels"]["service.istio.io/canonical-name"] = generated
    template["spec"]["serviceAccountName"] = generated
    return dict(dep)


def gateway_api_overlay(
    objects: Sequence[Mapping[str, Any]], gateway: str, namespace: str
) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(the Gateway patch, the ConfigMap its parametersRef names) of a gatewayApi gateway."""
    [patch] = [
        o
        for o in objects
        if o.get("kind") == "Gateway"
        and o["metadata"].get("namespace") == namespace
        and o["metadata"].get("name") == gateway
    ]
    ref = patch["spec"]["infrastructure"]["parametersRef"]
    configmaps = [
        o
        for o in objects
        if o.get("kind") == "ConfigMap"
        and o["metadata"].get("namespace") == namespace
        and o["metadata"].get("name") == ref["name"]
    ]
    assert len(configmaps) == 1, f"parametersRef {ref} names no ConfigMap in {namespace}"
    return patch, configmaps[0]


def gateway_api_gateways(
    objects: Sequence[Mapping[str, Any]],
    gateways: Sequence[Mapping[str, Any]],
    istio_version: str,
) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, gateway) -> istiod's Deployment with the overlay merged the way istiod merges
    it (strategic merge patch, tests/gateway_api_merge.py), then the program's retained strategy
    patch (server-side apply, another field manager)."""
    from tests.gateway_api_merge import merge_deployment

    out: dict[tuple[str, str], dict[str, Any]] = {}
    for gw in gateways:
        if gw.get("installer") != "gatewayApi":
            continue
        name, namespace = str(gw["name"]), str(gw["namespace"])
        _, configmap = gateway_api_overlay(objects, name, namespace)
        overlay = yaml.safe_load(configmap["data"]["deployment"])
        merged = merge_deployment(gateway_api_deployment(istio_version, name, namespace), overlay)
        for patch in objects:
            meta = patch.get("metadata") or {}
            if (
                patch.get("kind") == "Deployment"
                and meta.get("namespace") == namespace
                and meta.get("name") == f"{name}-istio"
            ):
                merged = ssa_merge(merged, patch)
        out[(namespace, name)] = merged
    return out
