"""The Gateway API object the program writes, checked against the pinned Gateway CRDs.

The program's ``GatewayPatch`` is a server-side-apply body of the user's ``Gateway`` that carries
only ``spec.infrastructure.parametersRef``. The API server validates the Gateway that results from
the apply, so that is what is checked here: the patch merged into a user's Gateway
(:func:`user_gateway`, :func:`apply_patch`), validated against each pinned CRD's ``v1`` schema with
its CEL rules by :class:`tests.conformance.istio_schema.Bundle` (the same structural-schema and
CEL validator as the Istio CRDs; a rule it cannot evaluate is a problem here, not a pass).

The CRDs are unmodified ``config/crd/standard/gateway.networking.k8s.io_gateways.yaml`` files of
https://github.com/kubernetes-sigs/gateway-api, in ``tests/data/gateway-api/`` (git blob ids in
:data:`GATEWAY_CRDS`):

* v1.2.1 (tag commit a8fe5c8732a37ef471d86afaf570ff8ad0ef0221): the oldest line the program
  supports. The standard channel has ``spec.infrastructure`` from v1.2.0 (not at v1.1.0), so the
  cluster's Gateway API CRDs must be v1.2.0 or newer (docs/installers.md), or the field is pruned;
  v1.2.1 differs from v1.2.0 only in its ``bundle-version`` annotation.
* v1.6.1 (tag commit 8bb74df00e56ec8f944d48c25e6c1c9c2f6848e3): the newest release when pinned.

What istiod accepts on top (group "" and kind ConfigMap only, same namespace) is
``acpw.istio_versions.GATEWAY_API_FACTS``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.conformance.istio_schema import Bundle
from tests.conformance.objects import object_ref
from tests.conformance.overlay import ssa_merge

GROUP = "gateway.networking.k8s.io"
CRD_DIR = Path(__file__).resolve().parents[1] / "data" / "gateway-api"
GATEWAY_CRDS = {
    "v1.2.1": "7d5b5811d140950b1849a6ae324691887da50a65",
    "v1.6.1": "6de4376f21fc8d304ac467f089686b84ccc5dbfb",
}
"""Gateway API release -> git blob id of its standard-channel Gateway CRD (``gateways-<tag>.yaml``)."""


def crd_file(tag: str) -> Path:
    return CRD_DIR / f"gateways-{tag}.yaml"


@functools.cache
def crd(tag: str) -> Bundle:
    """The pinned Gateway CRD of Gateway API ``tag`` (``"v1.2.1"``), as a one-CRD bundle."""
    major, minor, patch = (int(p) for p in tag.removeprefix("v").split("."))
    return Bundle((major, minor, patch), [crd_file(tag)])


def is_gateway_api_object(obj: Mapping[str, Any]) -> bool:
    return str(obj.get("apiVersion", "")).rpartition("/")[0] == GROUP


def user_gateway(name: str, namespace: str) -> dict[str, Any]:
    """A Gateway of class ``istio`` as a user would own it before the program patches it."""
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "gatewayClassName": "istio",
            "infrastructure": {"labels": {"example.com/team": "partner"}},
            "listeners": [
                {
                    "name": "http",
                    "port": 80,
                    "protocol": "HTTP",
                    "allowedRoutes": {"namespaces": {"from": "Same"}},
                },
                {
                    "name": "https",
                    "hostname": "partner.example.com",
                    "port": 443,
                    "protocol": "HTTPS",
                    "tls": {"mode": "Terminate", "certificateRefs": [{"name": "partner-cert"}]},
                },
            ],
        },
    }


def apply_patch(gateway: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The Gateway after server-side apply of ``patch``: maps merge field by field (the user's
    listeners and infrastructure labels stay), the patch's fields win (``patchForce``)."""
    merged = ssa_merge(gateway, patch)
    assert isinstance(merged, dict)
    return merged


def validate_gateway_patch(
    patch: Mapping[str, Any], gateway: Mapping[str, Any] | None = None
) -> list[str]:
    """Problems of the program's Gateway patch: it must own nothing but the parametersRef, and
    ``gateway`` (default :func:`user_gateway`) with it applied must be valid for every pinned CRD."""
    ref = object_ref(patch)
    out: list[str] = []
    spec = patch.get("spec")
    infrastructure = spec.get("infrastructure") if isinstance(spec, Mapping) else None
    if (patch.get("apiVersion"), patch.get("kind")) != (f"{GROUP}/v1", "Gateway"):
        out.append(f"{ref}: not a {GROUP}/v1 Gateway")
    if (
        not isinstance(infrastructure, Mapping)
        or set(spec or {}) != {"infrastructure"}
        or set(infrastructure) != {"parametersRef"}
    ):
        out.append(f"{ref}: the patch may own only spec.infrastructure.parametersRef: {spec}")
    meta = patch.get("metadata") or {}
    target = gateway or user_gateway(str(meta.get("name")), str(meta.get("namespace")))
    merged = apply_patch(target, patch)
    for tag in GATEWAY_CRDS:
        report = crd(tag).validate(merged)
        out += [f"Gateway API {tag}: {v}" for v in report.violations]
        out += [f"Gateway API {tag}: not evaluated: {v}" for v in report.unevaluated]
    return out
