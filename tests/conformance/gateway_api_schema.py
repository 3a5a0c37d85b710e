"""The Gateway API object the program writes: a server-side-apply body of the user's ``Gateway``
carrying only ``spec.infrastructure.parametersRef``.

No Gateway API CRD bundle is pinned here (the Istio bundles in ``istio-crds/`` do not hold the
``gateway.networking.k8s.io`` CRDs), so the rules below are the schema of that field written
down as facts, read in kubernetes-sigs/gateway-api
``config/crd/standard/gateway.networking.k8s.io_gateways.yaml`` at v1.3.0 (40be951ce) and the
same at v1.6.1: ``Gateway`` ``gateway.networking.k8s.io/v1``, ``spec.infrastructure.parametersRef``
with three required strings: ``group`` (at most 253, empty or a DNS subdomain: ``_GROUP_RE``),
``kind`` (1 - 63, ``_KIND_RE``) and ``name`` (1 - 253). The standard channel has ``spec.infrastructure`` from v1.2.0 (f73504594; not
at v1.1.0, 690f75464): the cluster's Gateway API CRDs must be v1.2.0 or newer, or the field is
pruned. What istiod accepts on top (group "" and kind ConfigMap only, same namespace) is
``acpw.istio_versions.GATEWAY_API_FACTS``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tests.conformance.objects import object_ref

GROUP = "gateway.networking.k8s.io"
_GROUP_RE = re.compile(r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_KIND_RE = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def is_gateway_api_object(obj: Mapping[str, Any]) -> bool:
    return str(obj.get("apiVersion", "")).rpartition("/")[0] == GROUP


def validate_gateway_patch(obj: Mapping[str, Any]) -> list[str]:
    """Problems of a ``Gateway`` patch body (only the fields the program may set)."""
    ref = object_ref(obj)
    out: list[str] = []
    if obj.get("apiVersion") != f"{GROUP}/v1" or obj.get("kind") != "Gateway":
        return [f"{ref}: not a {GROUP}/v1 Gateway"]
    meta = obj.get("metadata") or {}
    for key in ("name", "namespace"):
        if not _DNS_LABEL.match(str(meta.get(key, ""))):
            out.append(f"{ref}: metadata.{key} {meta.get(key)!r} is not a DNS label")
    spec = obj.get("spec") or {}
    if set(spec) != {"infrastructure"}:
        out.append(f"{ref}: spec sets {sorted(spec)}: the patch owns only spec.infrastructure")
    infrastructure = spec.get("infrastructure") or {}
    if set(infrastructure) != {"parametersRef"}:
        out.append(f"{ref}: spec.infrastructure sets {sorted(infrastructure)}")
    parameters = infrastructure.get("parametersRef") or {}
    if set(parameters) != {"group", "kind", "name"}:
        out.append(f"{ref}: parametersRef needs exactly group, kind and name: {sorted(parameters)}")
    group, kind, name = (parameters.get(k) for k in ("group", "kind", "name"))
    if not isinstance(group, str) or len(group) > 253 or not _GROUP_RE.match(group):
        out.append(f"{ref}: parametersRef.group {group!r} is not a Group")
    if not isinstance(kind, str) or not 1 <= len(kind) <= 63 or not _KIND_RE.match(kind):
        out.append(f"{ref}: parametersRef.kind {kind!r} is not a Kind")
    if not isinstance(name, str) or not 1 <= len(name) <= 253:
        out.append(f"{ref}: parametersRef.name {name!r} is not an object name")
    return out
