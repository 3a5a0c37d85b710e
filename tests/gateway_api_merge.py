"""A strategic merge patch for tests only, driven by the Kubernetes OpenAPI patch meta.

istiod applies a Gateway's ConfigMap overlays with ``strategicpatch.StrategicMergeMapPatchUsingLookupPatchMeta``
against the Go type (apps/v1 Deployment; ``strategicMergePatchYAML`` in
pilot/pkg/config/kube/gateway/deploymentcontroller.go @1.26.8, gatewaycommon/ @1.30.3). The
patch meta of those Go types is published in the OpenAPI schema as ``x-kubernetes-patch-strategy``
/ ``x-kubernetes-patch-merge-key``; this reads it from the JSON schema that the pinned
``kubernetes-validate`` package ships (``v1.33.0-local/_definitions.json``). Covered: maps merge
recursively, ``null`` deletes a key, lists with strategy ``merge`` merge by their merge key (or,
for scalars, as a union), every other list is replaced. Directives (``$patch``,
``$setElementOrder``, ``$retainKeys``) are not needed by our overlay and are refused.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate

SCHEMA_VERSION = "v1.33.0-local"
"""Kubernetes 1.33: the k8s.io/api line of Istio 1.26 - 1.28 (1.30's is newer; the patch meta
of PodSpec/Container lists has not changed across these releases)."""


@cache
def definitions() -> dict[str, Any]:
    path = (
        Path(kubernetes_validate.__file__).parent
        / "kubernetes-json-schema"
        / SCHEMA_VERSION
        / "_definitions.json"
    )
    return dict(json.loads(path.read_text())["$defs"])


def _resolve(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    while schema is not None and "$ref" in schema:
        schema = definitions()[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def schema_of(name: str) -> dict[str, Any]:
    resolved = _resolve({"$ref": f"#/$defs/{name}"})
    assert resolved is not None
    return resolved


def patch_meta(
    schema: dict[str, Any] | None, field: str
) -> tuple[dict[str, Any] | None, str, str | None]:
    """(field schema, patch strategy, merge key) of a field of an object schema."""
    schema = _resolve(schema)
    if schema is None:
        return None, "", None
    prop = (schema.get("properties") or {}).get(field)
    if prop is None and isinstance(schema.get("additionalProperties"), dict):
        prop = schema["additionalProperties"]
    if prop is None:
        return None, "", None
    return (
        prop,
        prop.get("x-kubernetes-patch-strategy", ""),
        prop.get("x-kubernetes-patch-merge-key"),
    )


def merge(original: Any, patch: Any, schema: dict[str, Any] | None) -> Any:
    if not isinstance(patch, dict) or not isinstance(original, dict):
        return patch
    if any(str(key).startswith("$") for key in patch):
        raise NotImplementedError(f"patch directive in {sorted(patch)}")
    result = dict(original)
    for field, value in patch.items():
        if value is None:
            result.pop(field, None)
            continue
        prop, strategy, merge_key = patch_meta(schema, field)
        if field not in result:
            result[field] = value
        elif isinstance(value, list):
            if "merge" in strategy.split(","):
                item_schema = (_resolve(prop) or {}).get("items")
                result[field] = _merge_list(result[field], value, merge_key, item_schema)
            else:
                result[field] = value
        else:
            result[field] = merge(result[field], value, prop)
    return result


def _merge_list(
    original: list[Any], patch: list[Any], merge_key: str | None, item_schema: dict[str, Any] | None
) -> list[Any]:
    if merge_key is None:  # a list of scalars: union, original order first
        return original + [item for item in patch if item not in original]
    result = list(original)
    for item in patch:
        index = next(
            (i for i, old in enumerate(result) if old.get(merge_key) == item[merge_key]), None
        )
        if index is None:
            result.append(item)
        else:
            result[index] = merge(result[index], item, item_schema)
    return result


def merge_deployment(deployment: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = merge(deployment, overlay, schema_of("io.k8s.api.apps.v1.Deployment"))
    assert isinstance(merged, dict)
    return merged
