"""Validate core Kubernetes objects with the JSON schemas that ``kubernetes-validate`` ships.

Everything is offline: ``kubernetes-validate`` (pinned in the venv) ships the OpenAPI-derived JSON
schemas of Kubernetes 1.25 - 1.37, in a normal and a ``-strict`` flavour (strict: undeclared
fields are errors, as ``kubectl apply --validate=strict`` / server-side field validation would
report them). We use the strict schemas and collect *all* errors (``iter_errors``) instead of the
first one.

Each Istio release is checked against the Kubernetes versions of its support window
(:data:`ISTIO_K8S_WINDOWS`, from istio.io "Supported Releases"), clamped to what the package ships:
both ends of the window when they differ, the nearest shipped version when the whole window is
older than 1.25 (Istio 1.13 / 1.14: the apps/v1 Deployment, v1 Secret and v1 ConfigMap fields the
program uses did not change between 1.20 and 1.25).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

import jsonschema
import referencing
from referencing import Registry, Resource

from acpw.istio_versions import KUBERNETES_WINDOWS
from tests.conformance.istio_schema import Violation
from tests.conformance.objects import object_ref, parse_istio_version

# Istio minor -> supported Kubernetes (lowest, highest) minor, kept with every other Istio-version
# fact in acpw/istio_versions.py (source: istio.io "Supported Releases").
ISTIO_K8S_WINDOWS: dict[int, tuple[int, int]] = KUBERNETES_WINDOWS


class K8sSchemaError(Exception):
    """No schema for this version/kind."""


def shipped_versions() -> list[tuple[int, int]]:
    """Kubernetes minors whose strict schemas ``kubernetes-validate`` ships."""
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    out = set()
    for entry in root.iterdir():
        m = re.match(r"^v(\d+)\.(\d+)\.\d+-local-strict$", entry.name)
        if m:
            out.add((int(m.group(1)), int(m.group(2))))
    return sorted(out)


def k8s_versions_for(istio_version: str) -> list[str]:
    """The shipped Kubernetes versions (``"1.25"``) to check a given Istio release against."""
    minor = parse_istio_version(istio_version).minor
    known = sorted(ISTIO_K8S_WINDOWS)
    if minor not in ISTIO_K8S_WINDOWS:
        minor = known[-1] if minor > known[-1] else known[0]
    lo, hi = ISTIO_K8S_WINDOWS[minor]
    shipped = [m for _, m in shipped_versions()]
    in_window = [m for m in shipped if lo <= m <= hi]
    if in_window:
        picks = sorted({in_window[0], in_window[-1]})
    else:
        picks = [min(shipped, key=lambda m: (min(abs(m - lo), abs(m - hi)), m))]
    return [f"1.{m}" for m in picks]


def window_table() -> list[tuple[str, str, str]]:
    """(Istio, supported Kubernetes, checked against) rows, for docs and the report."""
    return [
        (f"1.{minor}", f"1.{lo} - 1.{hi}", ", ".join(k8s_versions_for(f"1.{minor}")))
        for minor, (lo, hi) in sorted(ISTIO_K8S_WINDOWS.items())
    ]


def _schema_dir(k8s_version: str) -> Any:
    """The shipped schemas of a Kubernetes minor such as ``"1.25"`` (see k8s_versions_for)."""
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    for entry in root.iterdir():
        if re.match(rf"^v{re.escape(k8s_version)}\.\d+-local-strict$", entry.name):
            return entry
    raise K8sSchemaError(f"kubernetes-validate ships no schemas for Kubernetes {k8s_version}")


@functools.lru_cache(maxsize=8)
def _registry(k8s_version: str) -> Registry[Any]:
    defs = json.loads(
        _schema_dir(k8s_version).joinpath("_definitions.json").read_text(encoding="utf-8")
    )
    return Resource.from_contents(defs) @ Registry()


@functools.lru_cache(maxsize=256)
def _validator(k8s_version: str, kind: str, api_version: str) -> jsonschema.protocols.Validator:
    short = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _schema_dir(k8s_version).joinpath(f"{kind.lower()}-{short}.json")
    if not path.is_file():
        raise K8sSchemaError(f"no schema for {kind} {api_version} in Kubernetes {k8s_version}")
    schema = json.loads(path.read_text(encoding="utf-8"))
    registry = Resource.from_contents(schema) @ _registry(k8s_version)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, registry=registry)


_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_CONFIGMAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def validate(
    obj: Mapping[str, Any],
    k8s_version: str,
    *,
    partial: bool = False,
    ref: str | None = None,
) -> list[Violation]:
    """All schema violations of ``obj`` for ``k8s_version``.

    ``partial=True`` is for patch bodies (a server-side-apply configuration): unknown fields and
    wrong types still count, missing required fields do not.
    """
    name = ref or object_ref(obj)
    try:
        validator = _validator(
            k8s_version, str(obj.get("kind", "")), str(obj.get("apiVersion", ""))
        )
    except K8sSchemaError as exc:
        return [Violation(name, "apiVersion", str(exc))]
    out: list[Violation] = []
    try:
        errors = list(validator.iter_errors(obj))
    except referencing.exceptions.Unresolvable as exc:  # pragma: no cover - broken package data
        return [Violation(name, "", f"schema reference unresolvable: {exc}")]
    for err in errors:
        if partial and err.validator == "required":
            continue
        out.append(
            Violation(
                name,
                _path(err.absolute_path),
                f"{err.message} (Kubernetes {k8s_version} schema)",
            )
        )
    out += _semantic_checks(obj, name, partial)
    return out


def _semantic_checks(obj: Mapping[str, Any], ref: str, partial: bool) -> list[Violation]:
    """The API server's own validation of the few formats the JSON schemas do not express."""
    out: list[Violation] = []
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not name:
        out.append(Violation(ref, "metadata.name", "name is required"))
    elif not _DNS1123_SUBDOMAIN.match(str(name)) or len(str(name)) > 253:
        out.append(Violation(ref, "metadata.name", f"{name!r} is not a DNS-1123 subdomain"))
    ns = meta.get("namespace")
    if ns is not None and not _DNS1123_LABEL.match(str(ns)):
        out.append(Violation(ref, "metadata.namespace", f"{ns!r} is not a DNS-1123 label"))
    kind = obj.get("kind")
    if kind in ("Secret", "ConfigMap"):
        for field in ("data", "stringData", "binaryData"):
            for key in obj.get(field) or {}:
                if not _CONFIGMAP_KEY.match(str(key)) or len(str(key)) > 253:
                    out.append(
                        Violation(
                            ref,
                            f"{field}[{key}]",
                            "invalid key (must be [-._a-zA-Z0-9]+)",
                        )
                    )
    if kind == "Deployment":
        pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        for lst in ("containers", "initContainers"):
            containers = pod.get(lst) or []
            names = [c.get("name") for c in containers if isinstance(c, Mapping)]
            for i, c in enumerate(containers):
                if not isinstance(c, Mapping):
                    continue
                base = f"spec.template.spec.{lst}[{i}]"
                if not _DNS1123_LABEL.match(str(c.get("name", ""))):
                    out.append(
                        Violation(
                            ref,
                            f"{base}.name",
                            f"{c.get('name')!r} is not a DNS-1123 label",
                        )
                    )
                env_names = [e.get("name") for e in c.get("env") or [] if isinstance(e, Mapping)]
                for j, env_name in enumerate(env_names):
                    if not _ENV_NAME.match(str(env_name)):
                        out.append(
                            Violation(
                                ref,
                                f"{base}.env[{j}].name",
                                f"invalid env var name {env_name!r}",
                            )
                        )
                    if env_names.count(env_name) > 1 and env_names.index(env_name) != j:
                        out.append(
                            Violation(
                                ref,
                                f"{base}.env[{j}].name",
                                f"duplicate env var {env_name!r}",
                            )
                        )
                mounts = [
                    m.get("mountPath")
                    for m in c.get("volumeMounts") or []
                    if isinstance(m, Mapping)
                ]
                for j, mp in enumerate(mounts):
                    if mounts.count(mp) > 1 and mounts.index(mp) != j:
                        out.append(
                            Violation(
                                ref,
                                f"{base}.volumeMounts[{j}].mountPath",
                                f"duplicate mountPath {mp!r}",
                            )
                        )
            for i, n in enumerate(names):
                if names.count(n) > 1 and names.index(n) != i:
                    out.append(
                        Violation(
                            ref,
                            f"spec.template.spec.{lst}[{i}].name",
                            f"duplicate container {n!r}",
                        )
                    )
        volumes = [v.get("name") for v in pod.get("volumes") or [] if isinstance(v, Mapping)]
        for i, v in enumerate(volumes):
            if volumes.count(v) > 1 and volumes.index(v) != i:
                out.append(
                    Violation(
                        ref,
                        f"spec.template.spec.volumes[{i}].name",
                        f"duplicate volume {v!r}",
                    )
                )
        if not partial:
            for lst in ("containers", "initContainers"):
                for i, c in enumerate(pod.get(lst) or []):
                    if not isinstance(c, Mapping):
                        continue
                    for j, m in enumerate(c.get("volumeMounts") or []):
                        if isinstance(m, Mapping) and m.get("name") not in volumes:
                            out.append(
                                Violation(
                                    ref,
                                    f"spec.template.spec.{lst}[{i}].volumeMounts[{j}].name",
                                    f"volume {m.get('name')!r} is not in spec.template.spec.volumes",
                                )
                            )
    return out


def validate_objects(objects: Iterable[Mapping[str, Any]], istio_version: str) -> list[Violation]:
    """Validate the non-Istio objects for each Kubernetes version of the Istio release's window.

    A ``Deployment`` here is validated as a partial object (a patch body); the full-object check of
    a patched gateway Deployment is done by the caller after merging it into a fixture.
    """
    from tests.conformance.gateway_api_schema import is_gateway_api_object, validate_gateway_patch
    from tests.conformance.istio_schema import is_istio_object

    out: list[Violation] = []
    for obj in objects:
        if is_gateway_api_object(obj):  # not a Kubernetes built-in: its own rules
            out += [Violation(object_ref(obj), "", p) for p in validate_gateway_patch(obj)]
    for version in k8s_versions_for(istio_version):
        for obj in objects:
            if (
                is_istio_object(obj)
                or is_gateway_api_object(obj)
                or str(obj.get("apiVersion", "")).startswith("install.istio.io")
            ):
                continue
            out += validate(obj, version, partial=obj.get("kind") == "Deployment")
    return out
