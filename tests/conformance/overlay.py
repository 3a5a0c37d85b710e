"""Istio's IstioOperator ``k8s.overlays`` patching and server-side-apply merging, for tests.

``apply_overlay_patches`` re-implements the path semantics of Istio's operator overlay code
(``operator/pkg/patch/patch.go`` and ``operator/pkg/tpath/tree.go``, 1.13 - 1.23) on plain Python
data, including its quirks:

* the path is split on unescaped ``.``; ``node[expr]`` is split into ``node``, ``[expr]``;
* ``[N]`` selects a list index; an index past the end appends (a new entry);
* ``[key:value]`` selects the list entry (a map) whose ``key`` stringifies to ``value``;
  ``[value]`` in a list of scalars selects the first entry the regex ``value`` matches;
* a missing map key on the way is created (a list if the next step is ``[N]``, else a map);
* a path with no value deletes the node (a list entry or a map key);
* writing a value at a map key replaces it, EXCEPT when the key already holds a list: then the
  value is appended to that list as one entry (so writing a list onto an existing list nests it);
* writing at a list position (``[N]``, ``[key:value]``) replaces the entry (no merge);
* a string value that looks like a YAML map (contains ``": "``) is parsed as one and its single
  root key replaces the addressed key.

``ssa_merge`` merges a partial object into a full one the way server-side apply does for the
Deployment fields the program patches: maps merge, associative lists merge by their keys
(containers/initContainers/volumes/env/imagePullSecrets by ``name``, volumeMounts by
``mountPath``, ports by ``containerPort`` + ``protocol``), every other list is atomic.
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml


class OverlayError(Exception):
    """A patch Istio's overlay code would also reject (path not found, bad element, ...)."""


_VALID_KEY = re.compile(r"^[a-zA-Z0-9_-]*$")


def _split_escaped(s: str, sep: str) -> list[str]:
    if not s:
        return []
    out: list[str] = []
    start = 0
    prev = ""
    for i, ch in enumerate(s):
        if ch == sep and (i == 0 or prev != "\\"):
            out.append(s[start:i])
            start = i + 1
        prev = ch
    out.append(s[start:])
    return out


def path_from_string(path: str) -> list[str]:
    """Split an overlay path into elements like Istio's ``util.PathFromString``."""
    p = posixpath.normpath(path) if path else "."
    if p.startswith("//"):
        p = p[1:]
    p = p.removeprefix(".").removesuffix(".")
    out: list[str] = []
    for elem in _split_escaped(p, "."):
        if not elem:
            continue
        elem = elem.replace("\\.", ".")
        n = elem.find("[")
        if n > 0:
            out += [elem[:n], elem[n:]]
        else:
            out.append(elem)
    return out


def _brackets(pe: str) -> str | None:
    return pe[1:-1] if pe.startswith("[") and pe.endswith("]") else None


def is_index_element(pe: str) -> bool:
    inner = _brackets(pe)
    if inner is None:
        return False
    try:
        return int(inner) > -1
    except ValueError:
        return False


def is_kv_element(pe: str) -> bool:
    inner = _brackets(pe)
    if inner is None:
        return False
    kv = _split_escaped(inner, ":")
    return len(kv) == 2 and bool(kv[0]) and bool(kv[1]) and bool(_VALID_KEY.match(kv[0]))


def _go_str(v: Any) -> str:
    """fmt.Sprint of a decoded YAML value (enough for key:value matching)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "<nil>"
    return str(v)


@dataclass
class _Ctx:
    """Where a path step landed: ``container[key]`` holds ``node``."""

    container: Any  # dict or list holding the node, None for the root
    key: Any
    node: Any
    parent: _Ctx | None


def _walk(root: dict[str, Any], elems: list[str], full: str) -> _Ctx:
    ctx = _Ctx(None, None, root, None)
    for i, pe in enumerate(elems):
        node = ctx.node
        last = i == len(elems) - 1
        if node is None:
            node = [] if (is_index_element(pe) or is_kv_element(pe)) else {}
            _store(ctx, node)
        if isinstance(node, list):
            if is_index_element(pe):
                idx = int(pe[1:-1])
                if idx >= len(node) and last:
                    ctx = _Ctx(node, len(node), {}, ctx)
                elif idx >= len(node):
                    # a deeper write fills the new entry; Istio then appends it to the list
                    node.append({})
                    ctx = _Ctx(node, len(node) - 1, node[-1], ctx)
                else:
                    ctx = _Ctx(node, idx, node[idx], ctx)
                continue
            found = False
            for idx, entry in enumerate(node):
                if isinstance(entry, Mapping):
                    if not is_kv_element(pe):
                        raise OverlayError(
                            f"path {full}: {pe} is not a valid key:value path element"
                        )
                    k, v = _split_escaped(pe[1:-1], ":")
                    if _go_str(entry.get(k)) == v.replace("\\:", ":"):
                        ctx = _Ctx(node, idx, entry, ctx)
                        found = True
                        break
                    continue
                inner = _brackets(pe)
                if not inner:
                    raise OverlayError(f"path {full}: {pe} is not a valid value path element")
                pattern = inner[1:] if inner.startswith(":") and len(inner) > 1 else inner
                if re.search(pattern, _go_str(entry)):
                    ctx = _Ctx(node, idx, entry, ctx)
                    found = True
                    break
            if not found:
                raise OverlayError(f"path {full}: element {pe} not found")
            continue
        if isinstance(node, dict):
            if pe not in node:
                next_is_index = not last and is_index_element(elems[i + 1])
                node[pe] = [] if next_is_index else {}
                # Istio creates a map placeholder at the leaf; a written value replaces it
            ctx = _Ctx(node, pe, node[pe], ctx)
            continue
        raise OverlayError(f"path {full}: leaf type {type(node).__name__} in non-leaf node at {pe}")
    return ctx


def _store(ctx: _Ctx, value: Any) -> None:
    ctx.node = value
    if ctx.container is not None:
        if isinstance(ctx.container, list) and ctx.key == len(ctx.container):
            ctx.container.append(value)
        else:
            ctx.container[ctx.key] = value


def _maybe_yaml_map(value: Any) -> tuple[Any, bool]:
    if isinstance(value, str):
        lines = value.split("\n")
        if (len(lines) == 1 and ": " in value) or (len(lines) > 1 and ":" in value):
            try:
                json.loads(value)
            except ValueError:
                pass
            else:
                return value, False
            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError:
                return value, False
            if isinstance(parsed, dict):
                return parsed, True
    return value, False


def apply_overlay_patch(obj: dict[str, Any], path: str, value: Any = None) -> None:
    """Apply one ``{path, value}`` overlay patch to ``obj`` in place."""
    if not path.strip():
        return
    elems = path_from_string(path)
    ctx = _walk(obj, elems, path)
    if value is None:
        if ctx.container is None:
            raise OverlayError("cannot delete root element")
        if isinstance(ctx.container, list):
            if ctx.key < len(ctx.container):
                del ctx.container[ctx.key]
        else:
            ctx.container.pop(ctx.key, None)
        return
    vv, map_from_string = _maybe_yaml_map(value)
    if isinstance(ctx.container, list):
        # a list position: the entry is replaced (appended when past the end)
        _store(ctx, copy.deepcopy(vv))
        return
    if ctx.container is None:
        raise OverlayError("cannot write the root element")
    existing = ctx.container.get(ctx.key)
    if map_from_string:
        del ctx.container[ctx.key]
        root_key = next(iter(vv))
        ctx.container[root_key] = vv[root_key]
        return
    if isinstance(existing, list):
        # Istio appends to an existing list instead of replacing it (a list value gets nested)
        existing.append(copy.deepcopy(vv))
        return
    ctx.container[ctx.key] = copy.deepcopy(vv)


def apply_overlay_patches(obj: dict[str, Any], patches: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Return a copy of ``obj`` with the IstioOperator overlay ``patches`` applied in order."""
    out = copy.deepcopy(obj)
    for patch in patches:
        apply_overlay_patch(out, str(patch.get("path", "")), patch.get("value"))
    return out


def overlays_for(
    iop: Mapping[str, Any], gateway_name: str, kind: str = "Deployment"
) -> list[Mapping[str, Any]]:
    """The ``k8s.overlays`` patches of gateway ``gateway_name`` for ``kind/gateway_name``."""
    patches: list[Mapping[str, Any]] = []
    for gw in (iop.get("spec", {}).get("components", {}) or {}).get("ingressGateways") or []:
        if gw.get("name") != gateway_name:
            continue
        for overlay in (gw.get("k8s") or {}).get("overlays") or []:
            if overlay.get("kind") == kind and overlay.get("name") == gateway_name:
                patches += overlay.get("patches") or []
    return patches


# -- server-side apply -------------------------------------------------------------------------

# list field name -> merge keys (for the lists a Deployment patch touches)
_SSA_LIST_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "volumes": ("name",),
    "env": ("name",),
    "imagePullSecrets": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "ports": ("containerPort", "protocol"),
    "hostAliases": ("ip",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
}
_DEFAULTS = {"protocol": "TCP"}


def _list_key(item: Any, keys: tuple[str, ...]) -> tuple[Any, ...] | None:
    if not isinstance(item, Mapping):
        return None
    return tuple(item.get(k, _DEFAULTS.get(k)) for k in keys)


def ssa_merge(base: Any, patch: Any, field: str | None = None) -> Any:
    """Merge ``patch`` into ``base`` like server-side apply (returns a new value)."""
    if isinstance(base, Mapping) and isinstance(patch, Mapping):
        out = copy.deepcopy(dict(base))
        for k, v in patch.items():
            out[k] = ssa_merge(out[k], v, k) if k in out else copy.deepcopy(v)
        return out
    if isinstance(base, list) and isinstance(patch, list) and field in _SSA_LIST_KEYS:
        keys = _SSA_LIST_KEYS[field]
        merged = copy.deepcopy(base)
        for item in patch:
            k = _list_key(item, keys)
            for i, existing in enumerate(merged):
                if k is not None and _list_key(existing, keys) == k:
                    merged[i] = ssa_merge(existing, item)
                    break
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(patch)
