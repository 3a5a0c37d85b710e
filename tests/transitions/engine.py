"""The Pulumi steps of an update, derived from two renders (before and after) as the engine would.

Facts modelled (../shared/PULUMI-ENGINE.md, each with its source):
- a resource's identity is its URN; ``aliases`` map an earlier URN to the new one;
- a resource not in ``before`` is created, one with other inputs is updated, or replaced when a
  field that forces replacement changed: for Kubernetes objects the provider's triggers by field
  path (:data:`K8S_REPLACE_ON`, diff.go), for AWS ones :data:`REPLACE_ON`;
- a resource recorded with init errors (it did not become ready) gets an update step on the next
  run even when unchanged, which awaits it again (pulumi/pulumi step_generator.go); a Job
  annotated ``pulumi.com/replaceUnready: "true"`` whose live Job is not ready is replaced
  instead (pulumi-kubernetes provider.go Diff);
- replacement is create-before-delete, unless the provider forces delete-before-replace: a
  Kubernetes object that keeps its fixed name and namespace (provider.go Diff);
- the "delete original" step of a create-before-delete replacement runs after the replacement
  and the resources that depend on it (pulumi/pulumi-kubernetes#4522): modelled at the
  earliest such point, the worst case for pods;
- resources no longer in the program are deleted at the end of the update, in reverse
  dependency order, and not at all when a step failed (``pulumi up`` stops on the first error);
  one whose state has ``retainOnDelete`` is dropped from the state only (step.go).

What a step does in the cluster (awaiters, relinquish, the API server) is in cluster.py; the
awaiters' timeouts are :func:`await_timeout` here. Every pulumi-kubernetes rule was read at
:data:`PROVIDER_SOURCE` for :data:`PROVIDER_VERSION` (tests/test_provider_rules.py holds both).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

K8S = "kubernetes:"

PROVIDER_VERSION = "4.34.2"
"""The pulumi-kubernetes release whose rules this model plays: the pin in requirements.txt
(tests/test_provider_rules.py fails when the pin moves and this does not)."""
PROVIDER_SOURCE = "github.com/pulumi/pulumi-kubernetes@94977969d64112b04e19945818a7d5d5f38f631d"
"""Where the rules were read. The stored mirror has no v4.34.2 tag: its newest commit is
v4.32.0-27-g94977969d (2026-07-01). Paths below are relative to that tree."""
ENGINE_SOURCE = "github.com/pulumi/pulumi@1b5949891b3cefcb9974752b24a5ecef0acc86c8"
"""The engine rules (init errors, retainOnDelete): pkg/v3.259.0-14 (no v3.272.0 tag stored)."""


def _label_selector(prefix: str) -> tuple[str, ...]:
    # provider/pkg/provider/diff.go, labelSelectorForceNewProperties
    return tuple(
        prefix + s
        for s in (
            ".matchExpressions",
            ".matchExpressions.key",
            ".matchExpressions.operator",
            ".matchExpressions.values",
            ".matchLabels",
        )
    )


METADATA_REPLACE_ON = (".metadata.name", ".metadata.namespace")
"""Every Kubernetes object, Patch resources included: identity changes replace
(diff.go metadataForceNewProperties; provider.go Diff, the only triggers of a Patch)."""

K8S_REPLACE_ON: dict[str, tuple[str, ...]] = {
    # diff.go forceNewProperties: a Secret (enableSecretMutable off, the default) on .type,
    # .stringData, .data; a ConfigMap (enableConfigMapMutable off) on .binaryData, .data.
    # `immutable` is no trigger: flipping it is an in-place update.
    "kubernetes:core/v1:Secret": (".type", ".stringData", ".data"),
    "kubernetes:core/v1:ConfigMap": (".binaryData", ".data"),
    # diff.go `job`
    "kubernetes:batch/v1:Job": (
        ".spec.completions",
        ".spec.parallelism",
        ".spec.selector",
        ".spec.template",
        *_label_selector(".spec.selector"),
    ),
    # diff.go `roleBinding`
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": (".roleRef",),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": (".roleRef",),
    # diff.go `deployment`, `daemonset`
    "kubernetes:apps/v1:Deployment": (".spec.selector", *_label_selector(".spec.selector")),
    "kubernetes:apps/v1:DaemonSet": (".spec.selector", *_label_selector(".spec.selector")),
    # diff.go core/v1 Service
    "kubernetes:core/v1:Service": (".spec.clusterIP",),
}
"""Per Kubernetes type, the field paths whose change forces a replacement, besides
:data:`METADATA_REPLACE_ON` (provider/pkg/provider/diff.go at :data:`PROVIDER_SOURCE`). A change
at or under a path, or of an object that holds it, matches (pkg/openapi/match.go,
PatchPropertiesChanged on the JSON merge patch). Types absent here (CronJob, ServiceAccount,
Role, custom resources, every ``*Patch``) replace on identity only."""

REPLACE_ON: dict[str, set[str]] = {
    # terraform-provider-aws aws_iam_access_key: `user` and `pgp_key` are ForceNew; `status` is not.
    "aws:iam/accessKey:AccessKey": {"user", "pgpKey"},
    # aws_iam_user_policy: `name` and `user` are ForceNew.
    "aws:iam/userPolicy:UserPolicy": {"name", "user"},
    # aws_iam_user: nothing; a `name` change is an in-place UpdateUser (resourceUserUpdate).
    "aws:iam/user:User": set(),
    # aws_ecr_repository: `name` and `encryption_configuration` are ForceNew.
    "aws:ecr/repository:Repository": {"name", "encryptionConfigurations"},
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": {"repository"},
}
"""Non-Kubernetes types: the top-level inputs whose change forces a replacement. The program's
dynamic providers (acpw/oci/provider.py) never ask for a replacement (their diff returns no
replaces)."""

REPLACE_UNREADY = "pulumi.com/replaceUnready"
"""provider.go Diff: a Job with this annotation "true" whose live Job is not ready (the Job
checker) is replaced, instead of re-awaited."""

SKIP_AWAIT = "pulumi.com/skipAwait"
"""metadata/overrides.go SkipAwaitLogic: "true" makes the ready condition immediate."""
TIMEOUT_SECONDS = "pulumi.com/timeoutSeconds"
DEFAULT_AWAIT_SECONDS = 10 * 60
"""await.go Creation/Update: 10 minutes unless overridden; deployment.go
DefaultDeploymentTimeoutMins and job.go DefaultJobTimeoutMins are 10 as well."""
AWAITED_KINDS = ("Deployment", "Job")
"""The awaiters the program meets (awaiters.go): a Deployment (a DeploymentPatch's apply returns
the Deployment, whose awaiter then runs) and a Job; ConfigMaps, RBAC and custom resources have
none; Secrets and ServiceAccounts are ready at once."""


DYNAMIC_TYPE = "pulumi-python:dynamic:Resource"


def pickled_class(provider: str) -> tuple[str, str]:
    """Module and class a dynamic provider was pickled by reference to (dill, for a class defined
    outside ``__main__``; sdk/python/lib/pulumi/dynamic/dynamic.py), read without unpickling."""
    import base64
    import pickletools

    strings = [
        arg
        for op, arg, _ in pickletools.genops(base64.b64decode(provider))
        if isinstance(arg, str) and op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE")
    ]
    return strings[0], strings[1]


def _seconds(duration: str) -> int:
    """A Go duration as customTimeouts carries it (``"21600s"``, ``"10m"``, ``"1h30m"``)."""
    units = {"h": 3600, "m": 60, "s": 1}
    total, number = 0.0, ""
    for char in duration:
        if char.isdigit() or char == ".":
            number += char
        else:
            total += float(number) * units[char]
            number = ""
    return int(total + (float(number) if number else 0))


def await_timeout(resource: Resource, op: str) -> int:
    """Seconds the awaiter waits (metadata/overrides.go TimeoutDuration): the resource's
    ``customTimeouts`` for ``op`` first, then ``pulumi.com/timeoutSeconds``, else 10 minutes."""
    if resource.custom_timeouts.get(op):
        return _seconds(resource.custom_timeouts[op])
    annotation = str(resource.annotations.get(TIMEOUT_SECONDS, ""))
    if annotation.isdigit():
        return int(annotation)
    return DEFAULT_AWAIT_SECONDS


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    name: str
    inputs: Mapping[str, Any]
    dependencies: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    custom: bool = True
    delete_before_replace: bool = False
    retain_on_delete: bool = False
    custom_timeouts: Mapping[str, str] = field(default_factory=dict)
    init_errors: tuple[str, ...] = ()
    dynamic_provider: str = ""
    """A dynamic resource's pickled provider (``__provider``), as the state keeps it."""
    """Set in the state when create/update succeeded at the API but the awaiter failed
    (a partial failure): pulumi/pulumi pkg/resource/deploy/step.go records ``InitErrors``."""

    @property
    def annotations(self) -> Mapping[str, str]:
        return (self.inputs.get("metadata") or {}).get("annotations") or {}

    @property
    def k8s_identity(self) -> tuple[str, str, str] | None:
        """``(kind, namespace, name)`` of the Kubernetes object, for Kubernetes resources."""
        if not self.type.startswith(K8S) or not self.custom:
            return None
        meta = self.inputs.get("metadata") or {}
        kind = self.inputs.get("kind") or self.type.rsplit(":", 1)[1]
        if self.type.endswith("Patch"):
            kind = kind.removesuffix("Patch")
        return (kind, str(meta.get("namespace", "")), str(meta.get("name", "")))


def resources_from_registrations(registrations: Iterable[Any]) -> list[Resource]:
    """From ``tools.render`` registrations, or the previous-release fixture's dicts."""
    out = []
    for r in registrations:
        if isinstance(r, dict):
            fields = dict(r)
        else:
            fields = {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "inputs": r.plain_inputs(),
                "dependencies": r.dependencies,
                "aliases": r.aliases,
                "custom": r.custom,
                "delete_before_replace": r.delete_before_replace,
                "retain_on_delete": getattr(r, "retain_on_delete", False),
                "custom_timeouts": getattr(r, "custom_timeouts", {}),
            }
        out.append(
            Resource(
                urn=str(fields["urn"]),
                type=str(fields["type"]),
                name=str(fields["name"]),
                inputs={k: v for k, v in fields["inputs"].items() if k != "__provider"},
                dependencies=tuple(fields.get("dependencies") or ()),
                aliases=tuple(fields.get("aliases") or ()),
                custom=bool(fields.get("custom", True)),
                delete_before_replace=bool(fields.get("delete_before_replace")),
                retain_on_delete=bool(fields.get("retain_on_delete")),
                custom_timeouts=dict(fields.get("custom_timeouts") or {}),
                dynamic_provider=str(fields["inputs"].get("__provider") or ""),
            )
        )
    return out


@dataclass(frozen=True)
class Step:
    op: str
    """``create``, ``update``, ``delete``, ``replace-create`` or ``delete-original``."""
    resource: Resource
    old: Resource | None = None
    reason: str = ""

    def describe(self) -> str:
        identity = self.resource.k8s_identity
        what = "/".join(identity) if identity else self.resource.name
        return f"{self.op} {self.resource.type.rsplit(':', 1)[-1]} {what} {self.reason}".strip()


def _changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> set[str]:
    keys = set(old) | set(new)
    return {
        k
        for k in keys
        if json.dumps(old.get(k), sort_keys=True) != json.dumps(new.get(k), sort_keys=True)
    }


_MISSING = object()


def changed_paths(old: Any, new: Any, prefix: str = "") -> set[str]:
    """The field paths (``.spec.template``) where ``new`` differs from ``old``: maps compared
    key by key, anything else (lists included) as a whole."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: set[str] = set()
        for key in set(old) | set(new):
            out |= changed_paths(old.get(key, _MISSING), new.get(key, _MISSING), f"{prefix}.{key}")
        return out
    if json.dumps(old, sort_keys=True, default=str) != json.dumps(new, sort_keys=True, default=str):
        return {prefix}
    return set()


def unknown_paths(value: Any, prefix: str = "") -> set[str]:
    """Paths of values only the cloud knows (``[unknown: ...]`` placeholders of the mock)."""
    if isinstance(value, Mapping):
        out: set[str] = set()
        for key, item in value.items():
            out |= unknown_paths(item, f"{prefix}.{key}")
        return out
    return {prefix} if "[unknown:" in json.dumps(value) else set()


def _at(value: Any, path: str) -> Any:
    for part in path.strip(".").split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def triggers(resource_type: str) -> tuple[str, ...]:
    """The replace triggers of a Kubernetes type (provider.go Diff: a Patch replaces only on
    identity; everything else per :data:`K8S_REPLACE_ON`)."""
    if resource_type.endswith("Patch"):
        return METADATA_REPLACE_ON
    return METADATA_REPLACE_ON + K8S_REPLACE_ON.get(resource_type, ())


def forcing_paths(resource_type: str, paths: set[str], new: Mapping[str, Any]) -> set[str]:
    """The triggers that ``paths`` (changed in ``new``) match: a change at or under a trigger,
    or a value set above it that holds it (match.go, PatchPropertiesChanged)."""
    found = set()
    for trigger in triggers(resource_type):
        for path in paths:
            under = path == trigger or path.startswith(trigger + ".")
            holds = trigger.startswith(path + ".") and _at(new, trigger) is not _MISSING
            if under or holds:
                found.add(trigger)
    return found


def replacement_reason(old: Resource, new: Resource, fresh: set[str] | None = None) -> str | None:
    if old.k8s_identity and old.k8s_identity[1:] != (new.k8s_identity or ("", "", ""))[1:]:
        return "metadata.name/namespace changed"
    unknown = bool(fresh and fresh & set(new.dependencies))
    if new.type.startswith(K8S) and new.custom:
        paths = changed_paths(old.inputs, new.inputs)
        if unknown:
            # Values only the cloud knows, from a resource created anew in this update: new values.
            paths |= unknown_paths(new.inputs)
        forcing = forcing_paths(new.type, paths, new.inputs)
    else:
        changed = _changed(old.inputs, new.inputs)
        if unknown:
            changed |= {p.split(".")[1] for p in unknown_paths(new.inputs)}
        forcing = changed & REPLACE_ON.get(new.type, set())
    if forcing:
        return f"{', '.join(sorted(forcing))} changed"
    return None


def _has_changes(old: Resource, new: Resource, fresh: set[str]) -> bool:
    if _changed(old.inputs, new.inputs):
        return True
    return bool(fresh & set(new.dependencies) and unknown_paths(new.inputs))


def topological(resources: list[Resource]) -> list[Resource]:
    """Dependencies first; among independent resources, by URN (registration order varies)."""
    import heapq

    by_urn = {r.urn: r for r in resources}
    waiting = {r.urn: {d for d in r.dependencies if d in by_urn} for r in resources}
    users: dict[str, list[str]] = {}
    for urn, deps in waiting.items():
        for dep in deps:
            users.setdefault(dep, []).append(urn)
    ready = [urn for urn, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    out = []
    while ready:
        urn = heapq.heappop(ready)
        out.append(by_urn[urn])
        for user in users.get(urn, []):
            waiting[user].discard(urn)
            if not waiting[user]:
                heapq.heappush(ready, user)
    assert len(out) == len(resources), "dependency cycle"
    return out


def plan_update(
    before: list[Resource],
    after: list[Resource],
    unready: Callable[[Resource], bool] | None = None,
) -> list[Step]:
    """The engine's steps, in an order it may run them (dependencies first, deletes last).

    ``unready``: whether the live object of a (previous) resource is not ready, as the
    provider's Diff reads it for ``pulumi.com/replaceUnready`` (only Jobs are checked)."""
    before, after = topological(before), topological(after)
    by_urn = {r.urn: r for r in before}
    matched: set[str] = set()
    after_by_urn = {r.urn: r for r in after}
    dependents: dict[str, set[str]] = {}
    for resource in after:
        for dependency in resource.dependencies:
            dependents.setdefault(dependency, set()).add(resource.urn)

    steps: list[Step] = []
    fresh: set[str] = set()
    """URNs whose resource is created anew in this update (its outputs are new values)."""
    pending_originals: list[tuple[set[str], Step]] = []
    processed: set[str] = set()
    for resource in after:
        old = by_urn.get(resource.urn)
        if old is None:
            old = next((by_urn[a] for a in resource.aliases if a in by_urn), None)
        if old is None:
            steps.append(Step("create", resource))
            fresh.add(resource.urn)
        else:
            matched.add(old.urn)
            reason = replacement_reason(old, resource, fresh)
            if (
                reason is None
                and resource.type == "kubernetes:batch/v1:Job"
                and resource.annotations.get(REPLACE_UNREADY) == "true"
                and unready is not None
                and unready(old)
            ):
                reason = f'.metadata.annotations["{REPLACE_UNREADY}"] (the Job is not ready)'
            if reason is None:
                if _has_changes(old, resource, fresh):
                    steps.append(Step("update", resource, old))
                elif old.init_errors:
                    # step_generator.go: unchanged, but with init errors: an empty update step
                    # "continues" awaiting initialization.
                    steps.append(Step("update", resource, old, reason="(init errors: re-await)"))
            elif resource.delete_before_replace or (
                old.k8s_identity
                and old.k8s_identity == resource.k8s_identity
                and old.k8s_identity[2]
            ):
                # deleteBeforeReplace, or a fixed name and namespace (the provider then deletes
                # the old object first).
                fresh.add(resource.urn)
                steps.append(Step("delete", old, reason=f"(delete-before-replace: {reason})"))
                steps.append(Step("create", resource, old, reason=f"(replacement: {reason})"))
            else:
                fresh.add(resource.urn)
                steps.append(Step("replace-create", resource, old, reason=f"({reason})"))
                waiting = _transitive(dependents, resource.urn) - processed
                pending_originals.append(
                    (waiting, Step("delete-original", old, reason=f"(replaced: {reason})"))
                )
        processed.add(resource.urn)
        for waiting, step in list(pending_originals):
            waiting.discard(resource.urn)
            if not waiting:
                steps.append(step)
                pending_originals.remove((waiting, step))
    steps.extend(step for _, step in pending_originals)
    removed = [r for r in before if r.urn not in matched and r.urn not in after_by_urn]
    steps.extend(Step("delete", r, reason="(no longer in the program)") for r in reversed(removed))
    return steps


def _transitive(graph: Mapping[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
