"""The Pulumi steps of an update, derived from two renders (before and after) as the engine would.

Facts modelled (../shared/PULUMI-ENGINE.md, each with its source):
- a resource's identity is its URN; ``aliases`` map an earlier URN to the new one;
- a resource not in ``before`` is created, one with other inputs is updated, or replaced when a
  field that forces replacement changed (:data:`REPLACE_ON`);
- replacement is create-before-delete, unless the provider forces delete-before-replace: a
  Kubernetes object that keeps its fixed name and namespace (pulumi-kubernetes Diff,
  pulumi/pulumi-terraform#383, pulumi/pulumi-kubernetes#21);
- the "delete original" step of a create-before-delete replacement runs after the replacement
  and the resources that depend on it (pulumi/pulumi-kubernetes#4522): modelled at the
  earliest such point, the worst case for pods;
- resources no longer in the program are deleted at the end of the update, in reverse
  dependency order, and not at all when a step failed (``pulumi up`` stops on the first error).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

K8S = "kubernetes:"

REPLACE_ON: dict[str, set[str]] = {
    # pulumi-kubernetes replaces ConfigMaps and Secrets whose data changes, unless
    # enableConfigMapMutable / enableSecretMutable (pulumi/pulumi-kubernetes#1567, PR #1926).
    "kubernetes:core/v1:ConfigMap": {"data", "binaryData", "immutable"},
    "kubernetes:core/v1:Secret": {"data", "stringData", "type", "immutable"},
    # A Job's pod template is immutable in Kubernetes (batch/v1 JobSpec.template).
    "kubernetes:batch/v1:Job": {"spec"},
    # RoleBinding.roleRef is immutable in Kubernetes.
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": {"roleRef"},
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
"""Per type, the inputs whose change forces a replacement. Every Kubernetes object is also
replaced when its ``metadata.name`` or ``metadata.namespace`` changes. The program's dynamic
providers (acpw/oci/provider.py) never ask for a replacement (their diff returns no replaces)."""


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


def _unknown_fields(inputs: Mapping[str, Any]) -> set[str]:
    return {k for k, v in inputs.items() if "[unknown:" in json.dumps(v)}


def replacement_reason(old: Resource, new: Resource, fresh: set[str] | None = None) -> str | None:
    changed = _changed(old.inputs, new.inputs)
    if fresh and fresh & set(new.dependencies):
        # Values only the cloud knows, from a resource created anew in this update: new values.
        changed |= _unknown_fields(new.inputs)
    if old.k8s_identity and old.k8s_identity[1:] != (new.k8s_identity or ("", "", ""))[1:]:
        return "metadata.name/namespace changed"
    forcing = changed & REPLACE_ON.get(new.type, set())
    if forcing:
        return f"{', '.join(sorted(forcing))} changed"
    return None


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


def plan_update(before: list[Resource], after: list[Resource]) -> list[Step]:
    """The engine's steps, in an order it may run them (dependencies first, deletes last)."""
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
            if reason is None:
                changed = _changed(old.inputs, resource.inputs)
                if fresh & set(resource.dependencies):
                    changed |= _unknown_fields(resource.inputs)
                if changed:
                    steps.append(Step("update", resource, old))
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
