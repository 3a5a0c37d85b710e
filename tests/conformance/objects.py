"""Rendered objects and Istio versions as every conformance module sees them.

One object identity (``Kind/namespace/name``) for every message that names an object, and one
Istio version parser: the program's own :class:`acpw.istio_versions.IstioVersion`, so the
conformance code accepts exactly the versions stack config accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from acpw.istio_versions import IstioVersion

Obj = dict[str, Any]
"""A rendered Kubernetes object (``list[dict]`` as in docs/ARCHITECTURE.md)."""


def object_ref(obj: Mapping[str, Any]) -> str:
    """``Kind/namespace/name`` (``Kind/name`` for cluster-scoped objects)."""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    assert isinstance(meta, Mapping)
    parts = [str(obj.get("kind", "?"))]
    if meta.get("namespace"):
        parts.append(str(meta["namespace"]))
    parts.append(str(meta.get("name", "?")))
    return "/".join(parts)


def parse_istio_version(version: str | IstioVersion) -> IstioVersion:
    """``"1.13"`` / ``"1.13.9"`` (or an already parsed version); ValueError for anything else."""
    return version if isinstance(version, IstioVersion) else IstioVersion.parse(str(version))
