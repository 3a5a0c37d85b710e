"""Validate Istio custom resources against the CRD schemas of a given Istio release.

The CRD bundles are unmodified ``crd-all.gen.yaml`` / ``crd-operator.yaml`` files of istio/istio
tags (see ``../shared/istio-crds/README.md``). They are found through one setting: the env var
``ACPW_ISTIO_CRDS`` (a directory; a relative path is taken from the repository root), default
``../shared/istio-crds``. ``make fetch-istio-crds`` (``tools/fetch_istio_crds.py``) fetches the same
files on a user's machine and checks their pinned git blob ids.

For an Istio version the newest bundle not newer than it is used: ``1.19`` is checked against the
1.14.6 bundle when that is the newest one at or below 1.19. A version without a patch number
stands for its whole minor line (``1.13`` is covered by ``1.13.9``); ``1.13.2`` is not (1.13.9 is
newer). A version older than every bundle is an error.

The validation follows what the API server does with a structural CRD schema:

* an ``apiVersion`` whose version the release does not serve is rejected;
* a field the schema does not declare is an error (the server would prune it silently), unless
  ``x-kubernetes-preserve-unknown-fields`` is set at that level;
* ``type`` (with ``nullable``, ``x-kubernetes-int-or-string``, ``format: int32``), ``enum``,
  ``pattern``, ``required``, min/max lengths, items, properties and values, ``oneOf`` /
  ``anyOf`` / ``allOf`` / ``not``, list-type ``map``/``set`` uniqueness;
* ``x-kubernetes-validations`` CEL rules are evaluated with :mod:`tests.conformance.cel`; rules it
  cannot evaluate are listed in :attr:`Report.unevaluated` (never silently passed as checked).

Every :class:`Violation` names the object (``Kind/namespace/name``) and the field path.
"""

from __future__ import annotations

import base64
import functools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from acpw.istio_versions import IstioVersion
from tests.conformance import cel
from tests.conformance.objects import object_ref, parse_istio_version

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_VAR = "ACPW_ISTIO_CRDS"
DEFAULT_DIR = "../shared/istio-crds"

OPERATOR_CRD_REMOVED_MINOR = 24
"""Istio 1.24 removed the in-cluster operator and the IstioOperator CRD (istio/istio #52090)."""

_BUNDLE_FILE_RE = re.compile(r"^crd-[a-z]+-(\d+)\.(\d+)\.(\d+)\.ya?ml$")
_PLACEHOLDER_RE = re.compile(r"\[(?:unknown: [^\]]*|secret)\]")
_VALUE_CHECKS = ("enum", "pattern", "format", "x-kubernetes-validations", "maxLength", "minLength")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

# ObjectMeta fields a client may send (status-like fields are ignored by the server but legal).
_OBJECT_META_FIELDS = {
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "finalizers",
    "ownerReferences",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
}


class IstioSchemaError(Exception):
    """The bundles cannot answer the question (no bundle for the version, unknown kind, bad dir)."""


def crds_dir() -> Path:
    """``$ACPW_ISTIO_CRDS`` or ``../shared/istio-crds``; a relative path is from the repo root."""
    raw = os.environ.get(ENV_VAR) or DEFAULT_DIR
    path = Path(raw).expanduser()
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()


def _version(text: str) -> IstioVersion:
    try:
        return parse_istio_version(text)
    except ValueError as exc:
        raise IstioSchemaError(str(exc)) from exc


def _fmt(v: tuple[int, int, int]) -> str:
    return ".".join(str(p) for p in v)


def available_bundles(
    directory: Path | None = None,
) -> dict[tuple[int, int, int], list[Path]]:
    """Bundle version -> its files (``crd-all-X.Y.Z.yaml``, ``crd-operator-X.Y.Z.yaml``)."""
    d = directory or crds_dir()
    if not d.is_dir():
        raise IstioSchemaError(
            f"Istio CRD bundle directory {d} does not exist: set {ENV_VAR} or run `make fetch-istio-crds`"
        )
    out: dict[tuple[int, int, int], list[Path]] = {}
    for path in sorted(d.iterdir()):
        m = _BUNDLE_FILE_RE.match(path.name)
        if m:
            out.setdefault((int(m.group(1)), int(m.group(2)), int(m.group(3))), []).append(path)
    if not out:
        raise IstioSchemaError(f"no crd-*-X.Y.Z.yaml bundles in {d}")
    return out


def select_bundle_version(
    istio_version: str, available: Iterable[tuple[int, int, int]]
) -> tuple[int, int, int]:
    """The newest bundle not newer than ``istio_version`` (a bare minor covers its whole line)."""
    version = _version(istio_version)
    limit = (1, version.minor, version.patch if version.patch is not None else 10**9)
    candidates = sorted(v for v in available if v <= limit)
    if not candidates:
        oldest = min(available, default=None)
        raise IstioSchemaError(
            f"no Istio CRD bundle covers Istio {istio_version}"
            + (f" (oldest bundle: {_fmt(oldest)})" if oldest else "")
        )
    return candidates[-1]


@dataclass(frozen=True)
class Violation:
    """One validation failure: which object, which field, what is wrong."""

    obj: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.obj}: {self.path or '<root>'}: {self.message}"


@dataclass
class Report:
    """Result of validating objects against one bundle."""

    bundle: str
    violations: list[Violation] = field(default_factory=list)
    unevaluated: list[Violation] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def __str__(self) -> str:
        lines = [
            f"Istio CRD bundle {self.bundle}: {len(self.checked)} objects, "
            f"{len(self.violations)} violations"
        ]
        lines += [f"  {v}" for v in self.violations]
        lines += [f"  (not evaluated) {v}" for v in self.unevaluated]
        return "\n".join(lines)


@dataclass(frozen=True)
class CrdVersion:
    name: str
    served: bool
    storage: bool
    schema: Mapping[str, Any]


@dataclass(frozen=True)
class Crd:
    group: str
    kind: str
    scope: str
    versions: Mapping[str, CrdVersion]


def is_istio_object(obj: Mapping[str, Any]) -> bool:
    """True for objects in an ``*.istio.io`` API group."""
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return group == "istio.io" or group.endswith(".istio.io")


class Bundle:
    """The CRDs of one Istio release."""

    def __init__(self, version: tuple[int, int, int], files: Sequence[Path]) -> None:
        self.version = version
        self.files = tuple(files)
        self.crds: dict[tuple[str, str], Crd] = {}
        for path in self.files:
            with path.open(encoding="utf-8") as fh:
                for doc in yaml.load_all(fh, Loader=_LOADER):
                    if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                        continue
                    spec = doc["spec"]
                    versions = {
                        v["name"]: CrdVersion(
                            v["name"],
                            bool(v.get("served", False)),
                            bool(v.get("storage", False)),
                            (v.get("schema") or spec.get("validation") or {}).get("openAPIV3Schema")
                            or {},
                        )
                        for v in spec.get("versions", [])
                    }
                    crd = Crd(
                        spec["group"],
                        spec["names"]["kind"],
                        spec.get("scope", "Namespaced"),
                        versions,
                    )
                    self.crds[(crd.group, crd.kind)] = crd

    @property
    def name(self) -> str:
        return _fmt(self.version)

    def served_versions(self, group: str, kind: str) -> list[str]:
        crd = self.crds.get((group, kind))
        return [v.name for v in crd.versions.values() if v.served] if crd else []

    def _served(self, group: str, kind: str) -> list[str]:
        return [f"{group}/{v}" for v in self.served_versions(group, kind)]

    def validate(self, obj: Mapping[str, Any], report: Report | None = None) -> Report:
        """Validate one object; appends to ``report`` (a new one if not given)."""
        rep = report if report is not None else Report(self.name)
        ref = object_ref(obj)
        rep.checked.append(ref)
        api_version = str(obj.get("apiVersion", ""))
        group, _, version = api_version.rpartition("/")
        kind = str(obj.get("kind", ""))
        crd = self.crds.get((group, kind))
        if crd is None:
            known = sorted(f"{k}.{g}" for g, k in self.crds if g == group)
            rep.violations.append(
                Violation(
                    ref,
                    "kind",
                    f"Istio {self.name} has no CRD for kind {kind!r} in group {group!r}"
                    + (f" (it has: {', '.join(known)})" if known else ""),
                )
            )
            return rep
        crd_version = crd.versions.get(version)
        if crd_version is None or not crd_version.served:
            rep.violations.append(
                Violation(
                    ref,
                    "apiVersion",
                    f"{api_version} is not served by Istio {self.name} "
                    f"(served: {', '.join(self._served(group, kind))})",
                )
            )
            return rep
        _Validator(ref, rep).root(obj, crd_version.schema, crd.scope)
        return rep


class _Validator:
    def __init__(self, ref: str, report: Report, record_unevaluated: bool = True) -> None:
        self.ref = ref
        self.errors: list[Violation] = report.violations
        self.unevaluated: list[Violation] = report.unevaluated
        self.record_unevaluated = record_unevaluated

    def err(self, path: str, message: str) -> None:
        self.errors.append(Violation(self.ref, path, message))

    def root(self, obj: Mapping[str, Any], schema: Mapping[str, Any], scope: str) -> None:
        meta = obj.get("metadata")
        if not isinstance(meta, Mapping):
            self.err("metadata", "metadata is required")
        else:
            self.metadata(meta, scope)
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        self.check(body, {**schema, "type": "object"}, "", prune=True)

    def metadata(self, meta: Mapping[str, Any], scope: str) -> None:
        for key in meta:
            if key not in _OBJECT_META_FIELDS:
                self.err(f"metadata.{key}", "unknown field in ObjectMeta")
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            if not meta.get("generateName"):
                self.err("metadata.name", "name is required")
        elif len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
            self.err("metadata.name", f"{name!r} is not a DNS-1123 subdomain")
        ns = meta.get("namespace")
        if (
            scope == "Namespaced"
            and ns is not None
            and (not isinstance(ns, str) or not _DNS1123_LABEL.match(ns))
        ):
            self.err("metadata.namespace", f"{ns!r} is not a DNS-1123 label")
        for mkey in ("labels", "annotations"):
            m = meta.get(mkey)
            if m is None:
                continue
            if not isinstance(m, Mapping):
                self.err(f"metadata.{mkey}", "must be a map of strings")
                continue
            for k, v in m.items():
                prefix, _, local = str(k).rpartition("/")
                if (
                    (prefix and not _DNS1123_SUBDOMAIN.match(prefix))
                    or len(local) > 63
                    or not _QUALIFIED_NAME.match(local)
                ):
                    self.err(f"metadata.{mkey}[{k}]", "invalid key (not a qualified name)")
                if not isinstance(v, str):
                    self.err(
                        f"metadata.{mkey}[{k}]",
                        f"value must be a string, got {type(v).__name__}",
                    )
                elif mkey == "labels" and (len(v) > 63 or not _LABEL_VALUE.match(v)):
                    self.err(f"metadata.{mkey}[{k}]", f"invalid label value {v!r}")

    # -- schema walk ---------------------------------------------------------------------------

    def check(self, value: Any, schema: Mapping[str, Any], path: str, prune: bool) -> None:
        if value is None:
            if not schema.get("nullable"):
                # the API server rejects null for a non-nullable field (no defaults in these CRDs)
                self.err(path, "null is not allowed here")
            return
        if not self.check_type(value, schema, path):
            return
        placeholder = isinstance(value, str) and bool(_PLACEHOLDER_RE.search(value))
        if placeholder and self.record_unevaluated and _has_value_checks(schema):
            self.unevaluated.append(
                Violation(
                    self.ref,
                    path,
                    f"value {value!r} holds a render placeholder: enum/pattern/format/CEL not checked",
                )
            )
        if not placeholder:
            self.check_scalar(value, schema, path)
        if isinstance(value, Mapping):
            self.check_object(value, schema, path, prune)
        elif isinstance(value, list):
            self.check_array(value, schema, path, prune)
        self.check_combinators(value, schema, path)
        if not placeholder:
            self.check_rules(value, schema, path)

    def check_type(self, value: Any, schema: Mapping[str, Any], path: str) -> bool:
        if schema.get("x-kubernetes-int-or-string"):
            if isinstance(value, bool) or not isinstance(value, int | str):
                self.err(path, f"must be an integer or a string, got {_type_name(value)}")
                return False
            return True
        typ = schema.get("type")
        if typ is None:
            return True
        ok = {
            "object": isinstance(value, Mapping),
            "array": isinstance(value, list),
            "string": isinstance(value, str),
            "boolean": isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
        }.get(str(typ), True)
        if not ok:
            self.err(path, f"must be of type {typ}, got {_type_name(value)}")
        return ok

    def check_scalar(self, value: Any, schema: Mapping[str, Any], path: str) -> None:
        if "enum" in schema and value not in schema["enum"]:
            self.err(path, f"{value!r} is not one of {schema['enum']}")
        if isinstance(value, str):
            if "pattern" in schema and not re.search(schema["pattern"], value):
                self.err(path, f"{value!r} does not match pattern {schema['pattern']!r}")
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                self.err(path, f"longer than {schema['maxLength']} characters")
            if "minLength" in schema and len(value) < schema["minLength"]:
                self.err(path, f"shorter than {schema['minLength']} characters")
            fmt = schema.get("format")
            if fmt == "date-time" and not _is_datetime(value):
                self.err(path, f"{value!r} is not an RFC 3339 date-time")
            if fmt == "byte" and not _is_base64(value):
                self.err(path, "is not base64")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if (
                schema.get("format") == "int32"
                and isinstance(value, int)
                and not -(2**31) <= value < 2**31
            ):
                self.err(path, f"{value} does not fit int32")
            if "minimum" in schema:
                lo = schema["minimum"]
                if value < lo or (schema.get("exclusiveMinimum") is True and value == lo):
                    self.err(path, f"{value} is less than the minimum {lo}")
            if "maximum" in schema:
                hi = schema["maximum"]
                if value > hi or (schema.get("exclusiveMaximum") is True and value == hi):
                    self.err(path, f"{value} is greater than the maximum {hi}")

    def check_object(
        self,
        value: Mapping[str, Any],
        schema: Mapping[str, Any],
        path: str,
        prune: bool,
    ) -> None:
        props: Mapping[str, Any] = schema.get("properties") or {}
        addl = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        for req in schema.get("required") or []:
            if req not in value:
                self.err(_join(path, req), "required field is missing")
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            self.err(path, f"more than {schema['maxProperties']} properties")
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            self.err(path, f"fewer than {schema['minProperties']} properties")
        for key, sub in value.items():
            sub_path = (
                _join(path, str(key))
                if key in props or not isinstance(addl, Mapping)
                else f"{path}[{key}]"
            )
            if key in props:
                self.check(sub, props[key], sub_path, prune)
            elif isinstance(addl, Mapping):
                self.check(sub, addl, sub_path, prune)
            elif addl is not True and not preserve and prune:
                self.err(
                    sub_path,
                    "unknown field (not in the CRD schema; the API server would prune it)",
                )

    def check_array(
        self, value: list[Any], schema: Mapping[str, Any], path: str, prune: bool
    ) -> None:
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            self.err(path, f"more than {schema['maxItems']} items")
        if "minItems" in schema and len(value) < schema["minItems"]:
            self.err(path, f"fewer than {schema['minItems']} items")
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                self.check(item, items, f"{path}[{i}]", prune)
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "set":
            seen: list[Any] = []
            for i, item in enumerate(value):
                if item in seen:
                    self.err(f"{path}[{i}]", f"duplicate entry {item!r} in a set")
                seen.append(item)
        elif list_type == "map":
            keys = schema.get("x-kubernetes-list-map-keys") or []
            seen_keys: set[tuple[str, ...]] = set()
            for i, item in enumerate(value):
                if not isinstance(item, Mapping):
                    continue
                k = tuple(repr(item.get(key)) for key in keys)
                if k in seen_keys:
                    self.err(f"{path}[{i}]", f"duplicate entry for keys {keys}")
                seen_keys.add(k)

    def _matches(self, value: Any, schema: Mapping[str, Any]) -> bool:
        """Does value satisfy a value-validation sub-schema (oneOf/anyOf/allOf/not branch)?"""
        probe = Report("probe")
        _Validator(self.ref, probe, record_unevaluated=False).check(value, schema, "", prune=False)
        return not probe.violations

    def check_combinators(self, value: Any, schema: Mapping[str, Any], path: str) -> None:
        if "oneOf" in schema:
            n = sum(1 for s in schema["oneOf"] if self._matches(value, s))
            if n != 1:
                self.err(
                    path,
                    f"must match exactly one oneOf branch, matches {n}"
                    + _describe_branches(schema["oneOf"]),
                )
        if "anyOf" in schema and not any(self._matches(value, s) for s in schema["anyOf"]):
            self.err(
                path,
                f"must match at least one anyOf branch{_describe_branches(schema['anyOf'])}",
            )
        for s in schema.get("allOf") or []:
            if not self._matches(value, s):
                self.err(path, f"does not match allOf branch {_short(s)}")
        if "not" in schema and self._matches(value, schema["not"]):
            self.err(path, f"must not match {_short(schema['not'])}")

    def check_rules(self, value: Any, schema: Mapping[str, Any], path: str) -> None:
        for rule in schema.get("x-kubernetes-validations") or []:
            expr = rule.get("rule", "")
            message = rule.get("message") or f"failed rule: {expr}"
            try:
                result = cel.evaluate(expr, value)
            except cel.CelUnsupportedError as exc:
                if self.record_unevaluated:
                    self.unevaluated.append(
                        Violation(self.ref, path, f"CEL rule not evaluated ({exc}): {expr}")
                    )
                continue
            except cel.CelEvalError as exc:
                self.err(path, f"{message} (CEL rule error: {exc}; rule: {expr})")
                continue
            if result is not True:
                self.err(path, f"{message} (rule: {expr})")


def _has_value_checks(schema: Mapping[str, Any]) -> bool:
    return any(k in schema for k in _VALUE_CHECKS)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _short(schema: Any) -> str:
    text = yaml.safe_dump(schema, default_flow_style=True, width=10**6).strip()
    return text if len(text) < 120 else text[:117] + "..."


def _describe_branches(branches: Sequence[Any]) -> str:
    return f" of {[_short(b) for b in branches]}"


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value or "t" in value


def _is_base64(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=16)
def _load_bundle(version: tuple[int, int, int], files: tuple[Path, ...]) -> Bundle:
    return Bundle(version, files)


def bundle_for(istio_version: str, directory: Path | None = None) -> Bundle:
    """The bundle for ``istio_version`` (cached): the newest one not newer than it."""
    available = available_bundles(directory)
    version = select_bundle_version(istio_version, available)
    return _load_bundle(version, tuple(available[version]))


def validate_objects(
    objects: Iterable[Mapping[str, Any]],
    istio_version: str,
    directory: Path | None = None,
) -> Report:
    """Validate every Istio object in ``objects`` (others are skipped) for ``istio_version``."""
    bundle = bundle_for(istio_version, directory)
    report = Report(bundle.name)
    minor = _version(istio_version).minor
    for obj in objects:
        if not is_istio_object(obj):
            continue
        group = str(obj.get("apiVersion", "")).rpartition("/")[0]
        if group == "install.istio.io" and (group, str(obj.get("kind"))) not in bundle.crds:
            ref = object_ref(obj)
            report.checked.append(ref)
            if minor >= OPERATOR_CRD_REMOVED_MINOR:
                report.violations.append(
                    Violation(
                        ref,
                        "apiVersion",
                        f"Istio 1.{minor} has no {obj.get('kind')} CRD (removed in 1.24): it "
                        "cannot be applied to a cluster, only passed to `istioctl install -f`",
                    )
                )
            else:
                report.unevaluated.append(
                    Violation(
                        ref,
                        "",
                        f"bundle {bundle.name} does not include crd-operator.yaml; the "
                        "IstioOperator CRD preserves unknown fields in every release that has it "
                        "(its spec is checked by tests.conformance.iop_schema)",
                    )
                )
            continue
        bundle.validate(obj, report)
    return report
