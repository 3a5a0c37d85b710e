"""Field check of an ``IstioOperator`` (``install.istio.io/v1alpha1``).

Its CRD has only ``x-kubernetes-preserve-unknown-fields: true`` (and from 1.24 there is no CRD),
so the API server checks nothing. What ``istioctl`` / the operator accept is the
``IstioOperatorSpec`` proto of istio/api (``operator/v1alpha1/operator.proto``); the field names
below are its JSON names, limited to the messages the program writes into. ``values`` and
``meshConfig`` are free-form maps here (validated by Helm / istiod).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.conformance.istio_schema import Violation
from tests.conformance.objects import object_ref

_SPEC = {
    "profile",
    "installPackagePath",
    "hub",
    "tag",
    "resourceSuffix",
    "namespace",
    "revision",
    "meshConfig",
    "components",
    "addonComponents",
    "values",
    "unvalidatedValues",
}
_COMPONENTS = {
    "base",
    "pilot",
    "policy",
    "telemetry",
    "cni",
    "istiodRemote",
    "ingressGateways",
    "egressGateways",
    "ztunnel",
}
_GATEWAY = {"enabled", "namespace", "name", "label", "hub", "tag", "k8s"}
_K8S = {
    "affinity",
    "env",
    "hpaSpec",
    "imagePullPolicy",
    "nodeSelector",
    "podDisruptionBudget",
    "podAnnotations",
    "priorityClassName",
    "readinessProbe",
    "replicaCount",
    "resources",
    "service",
    "strategy",
    "tolerations",
    "serviceAnnotations",
    "securityContext",
    "volumes",
    "volumeMounts",
    "overlays",
}
_OVERLAY = {"apiVersion", "kind", "name", "patches"}
_PATCH = {"path", "value"}
_STRATEGY = {"type", "rollingUpdate"}
_ROLLING = {"maxSurge", "maxUnavailable"}


def _unknown(ref: str, path: str, value: Any, allowed: set[str], out: list[Violation]) -> bool:
    if not isinstance(value, Mapping):
        out.append(Violation(ref, path, f"must be an object, got {type(value).__name__}"))
        return False
    for key in value:
        if key not in allowed:
            out.append(Violation(ref, f"{path}.{key}", "unknown field of the IstioOperator API"))
    return True


def _string_map(ref: str, path: str, value: Any, out: list[Violation]) -> None:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        out.append(Violation(ref, path, "must be a map of strings"))


def validate_istio_operator(obj: Mapping[str, Any]) -> list[Violation]:
    """Unknown fields and wrong shapes in the parts of an IstioOperator the program writes."""
    ref = object_ref(obj)
    out: list[Violation] = []
    spec = obj.get("spec")
    if not _unknown(ref, "spec", spec, _SPEC, out):
        return out
    assert isinstance(spec, Mapping)
    components = spec.get("components")
    if components is None:
        return out
    if not _unknown(ref, "spec.components", components, _COMPONENTS, out):
        return out
    assert isinstance(components, Mapping)
    for kind in ("ingressGateways", "egressGateways"):
        gateways = components.get(kind) or []
        if not isinstance(gateways, list):
            out.append(Violation(ref, f"spec.components.{kind}", "must be a list"))
            continue
        for i, gw in enumerate(gateways):
            base = f"spec.components.{kind}[{i}]"
            if not _unknown(ref, base, gw, _GATEWAY, out):
                continue
            if not isinstance(gw.get("name"), str) or not gw.get("name"):
                out.append(Violation(ref, f"{base}.name", "a gateway needs a name"))
            if "enabled" in gw and not isinstance(gw["enabled"], bool):
                out.append(Violation(ref, f"{base}.enabled", "must be a boolean"))
            if "label" in gw:
                _string_map(ref, f"{base}.label", gw["label"], out)
            k8s = gw.get("k8s")
            if k8s is None or not _unknown(ref, f"{base}.k8s", k8s, _K8S, out):
                continue
            if "podAnnotations" in k8s:
                _string_map(ref, f"{base}.k8s.podAnnotations", k8s["podAnnotations"], out)
            strategy = k8s.get("strategy")
            if (
                strategy is not None
                and _unknown(ref, f"{base}.k8s.strategy", strategy, _STRATEGY, out)
                and "rollingUpdate" in strategy
            ):
                _unknown(
                    ref,
                    f"{base}.k8s.strategy.rollingUpdate",
                    strategy["rollingUpdate"],
                    _ROLLING,
                    out,
                )
            for j, overlay in enumerate(k8s.get("overlays") or []):
                opath = f"{base}.k8s.overlays[{j}]"
                if not _unknown(ref, opath, overlay, _OVERLAY, out):
                    continue
                for field in ("kind", "name"):
                    if not isinstance(overlay.get(field), str) or not overlay.get(field):
                        out.append(Violation(ref, f"{opath}.{field}", "required"))
                for n, patch in enumerate(overlay.get("patches") or []):
                    ppath = f"{opath}.patches[{n}]"
                    if _unknown(ref, ppath, patch, _PATCH, out) and (
                        not isinstance(patch.get("path"), str) or not patch["path"].strip()
                    ):
                        out.append(
                            Violation(
                                ref,
                                f"{ppath}.path",
                                "a patch needs a path (Istio skips empty ones)",
                            )
                        )
    return out
