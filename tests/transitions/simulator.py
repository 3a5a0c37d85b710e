"""Play an update's steps against the cluster model, checking the invariant after every step."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tests.transitions.cluster import Cluster, StepFailed
from tests.transitions.engine import Resource, Step, plan_update, resources_from_registrations
from tools.render import render_stack

FIXTURES = {
    "0.1.0": Path(__file__).parent / "fixtures" / "previous-release.json",
    "0.2.0": Path(__file__).parent / "fixtures" / "release-0.2.0.json",
}
"""Per release, its renders (tests/transitions/previous_release.py writes them)."""


@dataclass
class Deployed:
    """What the Pulumi state holds after an update (the resources) and what it exported."""

    resources: list[Resource]
    outputs: Mapping[str, Any]
    warnings: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    steps: list[Step]
    violations: list[str]
    failed: str | None
    deployed: Deployed
    """The state after the update: the new resources, or on failure what the engine kept."""
    unawaited: list[str] = field(default_factory=list)
    """Gateways still rolling when the update ended: nothing waited for their new pods."""
    applied: list[Step] = field(default_factory=list)
    """The steps that ran (all of them, unless a step failed)."""

    def problems(self) -> set[str]:
        """The kinds of invariant violations seen, without step, pod names and key ids."""
        return {problem_kind(v) for v in self.violations}

    def ops(self, op: str, kind: str) -> list[str]:
        return [
            "/".join(s.resource.k8s_identity or ("", "", s.resource.name))[1:].lstrip("/")
            if s.resource.k8s_identity
            else s.resource.name
            for s in self.steps
            if s.op == op and s.resource.type.rsplit(":", 1)[-1] == kind
        ]


def problem_kind(violation: str) -> str:
    """``"... pod gw-7: signs with key AKIA4, which was deleted"`` -> ``"signs with a deleted key"``."""
    match = re.search(r" pod \S+: (.*)$", violation)
    text = match.group(1) if match else violation.rsplit(": ", 1)[-1]
    text = re.sub(r"key AKIA\d+, which was", "a key which was", text)
    text = re.sub(r"key AKIA\d+, which is", "a key which is", text)
    text = re.sub(r"\d+ ready pods", "N ready pods", text)
    text = re.sub(r"(Secret|ConfigMap) \S+ missing", r"\1 missing", text)
    return text


def render(config: Mapping[str, Any], cluster: Cluster) -> Deployed:
    """The new program's render of ``config``, reading the live gateways from the model."""
    result = render_stack("transition", config=dict(config), live=cluster.live())
    return Deployed(
        resources_from_registrations(result.registrations), result.outputs, result.warnings
    )


def previous_release(name: str, release: str = "0.1.0") -> tuple[dict[str, Any], Deployed]:
    """A configuration and its render by an earlier release (the committed fixture)."""
    fixture = json.loads(FIXTURES[release].read_text())[name]
    return fixture["config"], Deployed(
        resources_from_registrations(fixture["registrations"]), fixture["outputs"]
    )


def update(cluster: Cluster, before: Deployed, after: Deployed) -> Outcome:
    """``pulumi up`` from the state ``before`` to the program's ``after``."""
    steps = plan_update(before.resources, after.resources, cluster.job_unready)
    start = len(cluster.violations)
    done: list[Step] = []
    failed = None
    partial: Step | None = None
    templates = {key: g.template for key, g in cluster.gateways.items()}
    for step in steps:
        generations = {key: g.generation for key, g in cluster.gateways.items()}
        try:
            cluster.apply(step)
        except StepFailed as error:
            failed = f"{step.describe()}: {error}"
            if error.partial:
                partial = step
            break
        done.append(step)
        cluster.check(step.describe())
        # Steps follow each other within seconds: a rollout makes no progress between them,
        # except that a changed template starts its first new pods at once (and an awaited
        # rollout completes within its Job's step). Any old pod may restart at any moment:
        # the invariant checks that it could.
        changed = {k for k, g in cluster.gateways.items() if g.generation != generations[k]}
        if changed:
            cluster.advance(only=changed)
            cluster.check(f"new pods start after {step.describe()}")
    if failed:
        state = _state_after_failure(before.resources, after.resources, done, partial, failed)
        deployed = Deployed(state, before.outputs, after.warnings)
    else:
        deployed = after
    unawaited = [
        key
        for key, gateway in cluster.gateways.items()
        if gateway.rolling and gateway.template != templates[key]
    ]
    return Outcome(steps, cluster.violations[start:], failed, deployed, unawaited, done)


def settle(cluster: Cluster) -> list[str]:
    """Time passes after the update: rollouts in progress finish (or stay stuck)."""
    start = len(cluster.violations)
    for _ in range(50):
        cluster.advance()
        cluster.check("later, while rollouts settle")
    return cluster.violations[start:]


def _state_after_failure(
    before: list[Resource],
    after: list[Resource],
    done: list[Step],
    partial: Step | None = None,
    error: str | None = None,
) -> list[Resource]:
    """What Pulumi's state holds after a failed update: finished steps applied, the rest not.
    A step that failed to initialize (``partial``) is kept with init errors (step.go)."""
    state = {r.urn: r for r in before}
    if partial is not None:
        done = [
            *done,
            Step(partial.op, replace(partial.resource, init_errors=(error or "",)), partial.old),
        ]
    for step in done:
        if step.op in ("delete", "delete-original"):
            state.pop(step.resource.urn, None)
        else:
            if step.old is not None and step.op != "replace-create":
                state.pop(step.old.urn, None)
            state[step.resource.urn] = step.resource
    # Resources the program registers unchanged keep their new URN (aliases applied).
    for resource in after:
        for alias in resource.aliases:
            if alias in state and resource.urn not in state:
                state[resource.urn] = resource
                del state[alias]
    return list(state.values())


def deploy_from_scratch(
    config: Mapping[str, Any],
    *,
    replicas: int = 3,
    previous: str | None = None,
    other_gateways: list[Mapping[str, Any]] | None = None,
    release: str = "0.1.0",
    pod_start_seconds: int = 30,
) -> tuple[Cluster, Deployed]:
    """A cluster with the gateways (no ACPW), then a first ``pulumi up`` of ``config`` (or of
    the fixture ``previous`` of ``release``), rolled out completely (``istioctl install`` where
    the program cannot roll)."""
    if previous is not None:
        config, first = previous_release(previous, release)
    cluster = Cluster.with_gateways(
        [*_gateways(config), *(other_gateways or [])], replicas, pod_start_seconds
    )
    if previous is None:
        first = render(config, cluster)
    outcome = update(cluster, Deployed([], {}), first)
    assert outcome.failed is None, outcome.failed
    istioctl(cluster, first)
    settle(cluster)
    cluster.violations.clear()
    return cluster, first


def istioctl(cluster: Cluster, deployed: Deployed, *, complete: bool = True) -> None:
    """Run ``istioctl install`` with the exported IstioOperator when the stack needs it."""
    text = deployed.outputs.get("istioOperatorYaml")
    in_cluster = any(
        r.type == "kubernetes:install.istio.io/v1alpha1:IstioOperator" for r in deployed.resources
    )
    if isinstance(text, str) and not in_cluster:
        cluster.istioctl_install(text, complete=complete)


def _gateways(config: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    from acpw.config import DEFAULT_GATEWAY

    return list(config.get("acpw:gateways") or [DEFAULT_GATEWAY])
