"""Every change a user can make, played step by step against the cluster model.

Each case: a cluster whose gateways run the stack as deployed (rolled out completely), then
``pulumi up`` with the change, with time passing between steps (rollouts progress, any pod may
restart), then, where ``istioctl install`` performs the rollout, the user running it and a later
``pulumi up``. After every step the invariant (tests/transitions/cluster.py) is checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from tests.matrix import GHCR_CREDENTIAL
from tests.transitions.cluster import Cluster
from tests.transitions.previous_release import OPERATED, PATCHED, _config
from tests.transitions.simulator import (
    Deployed,
    Outcome,
    deploy_from_scratch,
    istioctl,
    previous_release,
    render,
    settle,
    update,
)

GATEWAY_API: dict[str, Any] = {"name": "gw", "namespace": "edge", "installer": "gatewayApi"}
"""A Gateway API Gateway (class istio): istiod renders edge/gw-istio from it."""

# One gateway per installer, with the receiver delivery of its Istio version.
INSTALLERS = {
    "gatewayApi-1.26": ("1.26", GATEWAY_API),
    "gatewayApi-1.30": ("1.30", GATEWAY_API),
    "deploymentPatch-1.20": ("1.20", PATCHED),
    "deploymentPatch-1.30": ("1.30", PATCHED),
    "inClusterOperator-1.20": ("1.20", OPERATED),
    "inClusterOperator-1.23": ("1.23", OPERATED),
    "istioctl-1.24": ("1.24", OPERATED),
    "istioctl-1.30": ("1.30", OPERATED),
}
AWAITED = [k for k in INSTALLERS if not k.startswith("istioctl")]
PIN = "sha256:" + "22" * 32
"""Scenarios that show real violations under the provider's rules (issue 19): they fail on
today's product and must pass once branch `awaits` lands (strict: then remove the mark)."""


def _merge(config: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    out = dict(config)
    for key, value in change.items():
        full = f"acpw:{key}" if ":" not in key else key
        if isinstance(value, dict) and isinstance(out.get(full), dict):
            out[full] = {**out[full], **value}
        else:
            out[full] = value
    return out


def play(
    base: dict[str, Any],
    change: dict[str, Any],
    other_gateways: list[Mapping[str, Any]] | None = None,
) -> tuple[Outcome, list[Outcome]]:
    """Deploy ``base``, then ``pulumi up`` with ``change``; where istioctl rolls the gateway,
    the user runs it, and a further ``pulumi up`` retires what is no longer used.
    ``other_gateways``: gateways in the cluster that ``base`` does not use (yet)."""
    cluster, first = deploy_from_scratch(base, other_gateways=other_gateways)
    return update_and_follow(cluster, first, _merge(base, change))


def update_and_follow(
    cluster: Cluster, first: Deployed, config: dict[str, Any]
) -> tuple[Outcome, list[Outcome]]:
    """``pulumi up`` with ``config``, time passing; where ``istioctl install`` performs the
    rollout, the user runs it and then ``pulumi up`` again."""
    outcome = update(cluster, first, render(config, cluster))
    outcome.violations += settle(cluster)
    rest = []
    if outcome.failed is None and "istioOperatorYaml" in outcome.deployed.outputs:
        start = len(cluster.violations)
        istioctl(cluster, outcome.deployed)
        following = update(cluster, outcome.deployed, render(config, cluster))
        following.violations = cluster.violations[start:] + settle(cluster)
        rest.append(following)
    return outcome, rest


CHANGES: dict[str, dict[str, Any]] = {
    "key generation bump": {"iam": {"keyGeneration": 2}},
    "user name change": {"iam": {"userName": "acpw-renamed"}},
    "sender digest change": {"images": {"senderDigest": PIN}},
    "receiver volume digest change": {"images": {"receiverVolumeDigest": PIN}},
    "receiver timeout change": {"cloudwatch": {"requestTimeoutMs": 2500}},
    "metric namespace change": {"cloudwatch": {"namespace": "Other/Namespace"}},
    "metric name change": {"cloudwatch": {"metricName": "Hits"}},
    "receiverVmId change": {"receiverVmId": "other-receiver"},
    "pull policy change": {"images": {"pullPolicy": "Always"}},
    "matchHosts change": {"matchHosts": ["www.example.com"]},
    "registry ghcr to ecr": {
        "images": {"registry": "ecr", "ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL}}
    },
}


@pytest.mark.parametrize("installer", list(INSTALLERS))
@pytest.mark.parametrize("change", list(CHANGES))
def test_no_serving_pod_loses_anything(installer: str, change: str) -> None:
    version, gateway = INSTALLERS[installer]
    outcome, rest = play(_config(version, gateway), CHANGES[change])
    assert outcome.failed is None
    assert outcome.violations == [], "\n".join(outcome.violations[:20])
    assert outcome.unawaited == []
    for later in rest:
        assert later.failed is None
        assert later.violations == [], "\n".join(later.violations[:20])


@pytest.mark.parametrize("installer", AWAITED)
def test_awaited_rotation_deletes_the_old_key_only_at_the_end(installer: str) -> None:
    version, gateway = INSTALLERS[installer]
    outcome, _ = play(_config(version, gateway), {"iam": {"keyGeneration": 2}})
    ops = [(s.op, s.resource.type.rsplit(":", 1)[-1]) for s in outcome.steps]
    deleted_key = ops.index(("delete", "AccessKey"))
    # What waits for the rollout: a rollout-check Job, or the DeploymentPatch's own awaiter
    # (await/deployment.go), unless it skips awaiting.
    awaiting = [
        i
        for i, step in enumerate(outcome.steps)
        if step.op in ("create", "update", "replace-create")
        and step.resource.annotations.get("pulumi.com/skipAwait") != "true"
        and (
            ops[i][1] == "Job"
            or (ops[i][1] == "DeploymentPatch" and step.resource.inputs.get("spec"))
        )
    ]
    assert awaiting and deleted_key > max(awaiting)
    assert all(op[0] == "delete" for op in ops[deleted_key:])


@pytest.mark.parametrize("installer", ["istioctl-1.24", "istioctl-1.30"])
def test_istioctl_rotation_keeps_the_old_key_until_the_rollout_is_seen(installer: str) -> None:
    version, gateway = INSTALLERS[installer]
    outcome, [following] = play(_config(version, gateway), {"iam": {"keyGeneration": 2}})
    assert outcome.ops("delete", "AccessKey") == []
    assert outcome.ops("delete", "Secret") == []
    assert any("its pods run generation" in w for w in outcome.deployed.warnings)
    # After `istioctl install`, the next `pulumi up` retires the previous generation.
    assert len(following.ops("delete", "AccessKey")) == 1
    assert len(following.ops("delete", "Secret")) == 1
    assert not any("its pods run generation" in w for w in following.deployed.warnings)


@pytest.mark.parametrize("installer", ["istioctl-1.30"])
def test_a_second_rotation_before_the_rollout_is_refused(installer: str) -> None:
    from acpw.config import ConfigError

    version, gateway = INSTALLERS[installer]
    base = _config(version, gateway)
    cluster, first = deploy_from_scratch(base)
    second = _merge(base, {"iam": {"keyGeneration": 2}})
    outcome = update(cluster, first, render(second, cluster))
    assert outcome.violations == []
    third = _merge(base, {"iam": {"keyGeneration": 3}})
    with pytest.raises(ConfigError, match="IAM allows 2"):
        render(third, cluster)


@pytest.mark.parametrize("installer", ["deploymentPatch-1.30", "istioctl-1.30"])
def test_emergency_revoke_deactivates_the_old_key_at_once(installer: str) -> None:
    version, gateway = INSTALLERS[installer]
    base = _config(version, gateway)
    cluster, first = deploy_from_scratch(base)
    change = _merge(base, {"iam": {"keyGeneration": 2, "revokePreviousKey": True}})
    after = render(change, cluster)
    key = f"{gateway['namespace']}/{gateway['name']}"
    assert any("revokePreviousKey" in w and key in w for w in after.warnings), after.warnings
    outcome = update(cluster, first, after)
    # Deactivated before any rollout (the update depends on nothing): the pods still running
    # with it were named in the warning, and fail to sign until replaced.
    [deactivate] = [s for s in outcome.steps if s.op == "update" and "AccessKey" in s.resource.type]
    assert deactivate.resource.inputs["status"] == "Inactive"
    assert all("iam/user:User" in d for d in deactivate.resource.dependencies)
    assert outcome.problems() == {"signs with a key which is inactive"}


@pytest.mark.parametrize(
    ("installer", "target"),
    [
        ("deploymentPatch-1.20", "1.21"),
        ("inClusterOperator-1.20", "1.21"),
        ("inClusterOperator-1.23", "1.24"),
        ("deploymentPatch-1.30", "1.23"),
        ("gatewayApi-1.26", "1.30"),
    ],
)
def test_istio_upgrades_and_rollbacks(installer: str, target: str) -> None:
    version, gateway = INSTALLERS[installer]
    base = _config(version, gateway)
    for there, back in ((target, version), (version, target)):
        start = _merge(base, {"istioVersion": back})
        outcome, rest = play(start, {"istioVersion": there})
        assert outcome.failed is None
        assert outcome.violations == [], "\n".join(outcome.violations[:20])
        for later in rest:
            assert later.violations == [], "\n".join(later.violations[:20])


@pytest.mark.parametrize(
    "installer", ["deploymentPatch-1.30", "inClusterOperator-1.23", "gatewayApi-1.30"]
)
def test_a_rollout_that_never_completes_keeps_everything_and_the_fix_needs_no_cleanup(
    installer: str,
) -> None:
    version, gateway = INSTALLERS[installer]
    base = _config(version, gateway)
    cluster, first = deploy_from_scratch(base)
    broken = _merge(base, {"images": {"receiverVolume": "ghcr.io/example/broken:1"}})
    cluster.broken_images.add(f"ghcr.io/example/broken:1@{PIN}")
    broken["acpw:images"]["receiverVolumeDigest"] = PIN
    outcome = update(cluster, first, render(broken, cluster))
    assert outcome.failed is not None and "did not complete" in outcome.failed
    planned = [s for s in outcome.steps if s.op.startswith("delete")]
    assert planned, "the update would have deleted the old generation"
    assert not [s for s in outcome.applied if s.op.startswith("delete")]
    assert outcome.violations == []  # old pods kept serving with all they use
    # The fix: a working image. The next `pulumi up` succeeds with no manual cleanup.
    fixed = _merge(base, {"images": {"receiverVolumeDigest": "sha256:" + "33" * 32}})
    following = update(cluster, outcome.deployed, render(fixed, cluster))
    assert following.failed is None
    assert following.violations == []
    assert settle(cluster) == []


@pytest.mark.parametrize(
    "installer", ["deploymentPatch-1.30", "inClusterOperator-1.23", "gatewayApi-1.30"]
)
def test_a_failed_rollout_is_retried_by_pulumi_up_with_no_config_change(installer: str) -> None:
    """The new pods cannot start for a while (here: their receiver image cannot be pulled yet),
    so `pulumi up` fails where it awaits the rollout; the resource is recorded with init errors.
    Once the cause is gone, `pulumi up` again, with the same config, completes the rollout."""
    version, gateway = INSTALLERS[installer]
    base = _config(version, gateway)
    cluster, first = deploy_from_scratch(base)
    changed = _merge(base, {"images": {"receiverVolumeDigest": PIN}})
    after = render(changed, cluster)
    [image] = {
        c["image"]
        for r in after.resources
        if r.type.endswith("DeploymentPatch")
        or r.type.endswith("IstioOperator")
        or r.type == "kubernetes:core/v1:ConfigMap"
        for c in _init_containers(r.inputs)
    }
    cluster.broken_images.add(image)
    outcome = update(cluster, first, after)
    assert outcome.failed is not None and "did not complete" in outcome.failed
    assert outcome.violations == []
    assert any(r.init_errors for r in outcome.deployed.resources)
    cluster.broken_images.clear()
    retry = update(cluster, outcome.deployed, render(changed, cluster))
    assert retry.failed is None, retry.failed
    assert retry.violations == []
    # The engine awaited again what had failed (an update step, or a replaced Job).
    retried = {s.resource.urn for s in retry.applied if s.op != "delete"}
    assert retried >= {r.urn for r in outcome.deployed.resources if r.init_errors}
    assert not cluster.gateways[_deployment(gateway)].rolling


def _init_containers(inputs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if "deployment" in (inputs.get("data") or {}):  # a gatewayApi overlay ConfigMap
        inputs = json.loads(inputs["data"]["deployment"])
    spec = inputs.get("spec") or {}
    if "components" in spec:
        return [
            p["value"]
            for entry in spec["components"]["ingressGateways"]
            for overlay in entry.get("k8s", {}).get("overlays", [])
            for p in overlay["patches"]
            if p["path"].startswith("spec.template.spec.initContainers")
        ]
    return list(((spec.get("template") or {}).get("spec") or {}).get("initContainers") or [])


SECOND = {**PATCHED, "name": "gw2", "namespace": "edge2", "selector": {"app": "gw2"}}


def _second(gateway: Mapping[str, Any]) -> dict[str, Any]:
    """A second gateway of the same installer, in another namespace."""
    if gateway["installer"] == "gatewayApi":
        return {**GATEWAY_API, "name": "gw2", "namespace": "edge2"}
    return {**SECOND, "installer": gateway["installer"]}


def _deployment(gateway: Mapping[str, Any]) -> str:
    """The cluster model's key of a gateway's Deployment (istiod's <gateway>-istio for a
    Gateway API gateway)."""
    suffix = "-istio" if gateway["installer"] == "gatewayApi" else ""
    return f"{gateway['namespace']}/{gateway['name']}{suffix}"


SAME_NAMESPACE = {**PATCHED, "name": "gw3", "selector": {"app": "gw3"}}


@pytest.mark.parametrize("installer", ["deploymentPatch-1.20", "deploymentPatch-1.30"])
@pytest.mark.parametrize("added", [SECOND, SAME_NAMESPACE])
def test_adding_a_gateway(installer: str, added: dict[str, Any]) -> None:
    version, gateway = INSTALLERS[installer]
    outcome, _ = play(_config(version, gateway), {"gateways": [gateway, added]}, [added])
    assert outcome.failed is None
    assert outcome.violations == [], "\n".join(outcome.violations[:20])


@pytest.mark.parametrize("installer", ["gatewayApi-1.26", "gatewayApi-1.30"])
def test_adding_a_gateway_api_gateway(installer: str) -> None:
    """Issue 16: a Gateway API gateway added next to one already running ACPW; the new one's
    pods roll (awaited by a Job on gw2-istio), the old one's pods keep everything."""
    version, gateway = INSTALLERS[installer]
    added = _second(gateway)
    outcome, _ = play(_config(version, gateway), {"gateways": [gateway, added]}, [added])
    assert outcome.failed is None
    assert outcome.violations == [], "\n".join(outcome.violations[:20])
    assert outcome.unawaited == []
    assert any("acpw-rollout-gw2-" in name for name in outcome.ops("create", "Job"))


def test_adding_a_gateway_api_gateway_next_to_other_installers() -> None:
    base = _merge(_config("1.30", PATCHED), {"gateways": [PATCHED, OPERATED]})
    added = _second(GATEWAY_API)
    outcome, rest = play(base, {"gateways": [PATCHED, OPERATED, added]}, [added])
    _assert_clean(outcome, rest)
    assert any("acpw-rollout-gw2-" in name for name in outcome.ops("create", "Job"))


def _gateway_api_cluster(replicas: int = 8) -> tuple[Cluster, Deployed, dict[str, Any]]:
    base = _merge(_config("1.30", GATEWAY_API), {"gateways": [GATEWAY_API, _second(GATEWAY_API)]})
    cluster, first = deploy_from_scratch(base, replicas=replicas)
    return cluster, first, base


def test_istiod_rerenders_the_gateway_from_the_overlay_it_names() -> None:
    """The model of istiod: the generated Deployment follows the Gateway's parametersRef and
    that ConfigMap; a missing ConfigMap fails the render and changes nothing."""
    cluster, _, _ = _gateway_api_cluster(replicas=2)
    gateway = cluster.gateways["edge2/gw2-istio"]
    assert gateway.template.acpw and gateway.max_unavailable == 0
    ref = cluster.parameters_refs[("edge2", "gw2")]
    template = gateway.template
    overlay = cluster.objects.pop(("ConfigMap", "edge2", ref))
    cluster._istiod_render("edge2", "gw2")
    assert gateway.template == template  # render failed: left alone
    cluster.objects[("ConfigMap", "edge2", ref)] = overlay
    del cluster.parameters_refs[("edge2", "gw2")]
    cluster._istiod_render("edge2", "gw2")
    assert not gateway.template.acpw  # no parametersRef: istiod's template alone


def test_removing_a_gateway_api_gateway_at_once_keeps_its_capacity() -> None:
    """The entry removed in one step: the GatewayPatch's delete relinquishes the parametersRef
    (before its ConfigMap goes), istiod renders gw2-istio without the modules, and the
    retained strategy patch keeps maxUnavailable: 0 (istiod's template sets no strategy)."""
    cluster, first, base = _gateway_api_cluster()
    outcome = update(cluster, first, render(_merge(base, {"gateways": [GATEWAY_API]}), cluster))
    _assert_removed_keeping_capacity(cluster, outcome, "edge2/gw2-istio")
    ops = [(s.op, s.resource.type.rsplit(":", 1)[-1]) for s in outcome.steps]
    assert ops.index(("delete", "GatewayPatch")) < max(
        i for i, op in enumerate(ops) if op == ("delete", "ConfigMap")
    )


def test_destroying_a_stack_with_gateway_api_gateways_keeps_their_capacity() -> None:
    cluster, first, _ = _gateway_api_cluster()
    outcome = update(cluster, first, Deployed([], {}))
    _assert_removed_keeping_capacity(cluster, outcome, "edge/gw-istio", "edge2/gw2-istio")


def test_a_gateway_api_gateway_turned_off_restarts_nothing_when_removed() -> None:
    cluster, first, base = _gateway_api_cluster()
    off = _merge(base, {"gateways": [GATEWAY_API, {**_second(GATEWAY_API), "enabled": False}]})
    step1 = update(cluster, first, render(off, cluster))
    step1.violations += settle(cluster)
    assert step1.failed is None and step1.violations == []
    gateway = cluster.gateways["edge2/gw2-istio"]
    assert not gateway.template.acpw
    generation = gateway.generation
    step2 = update(
        cluster, step1.deployed, render(_merge(base, {"gateways": [GATEWAY_API]}), cluster)
    )
    step2.violations += settle(cluster)
    assert step2.failed is None and step2.violations == []
    assert gateway.generation == generation  # retained overlay and patch: no re-render


def play_previous(name: str, change: dict[str, Any] | None = None) -> tuple[Outcome, list[Outcome]]:
    """A stack deployed by release 0.1.0, updated by this release (same settings unless changed)."""
    cluster, first = deploy_from_scratch({}, previous=name)
    config, _ = previous_release(name)
    return update_and_follow(cluster, first, _merge(config, change or {}))


# Release 0.1.0's WasmPlugin and EnvoyFilter select every pod of the gateway, so they would also
# select the new pods (two senders, or two receivers: a proxy that cannot start). They are
# replaced delete-before-replace (acpw/legacy.py): 0.1.0's pods keep serving, with all they use
# to start again, but report no metrics until replaced. Nothing else may happen to any pod.
UPGRADE_EFFECTS = {"0 senders select it", "would start again with another receiver configuration"}


@pytest.mark.parametrize("name", ["patch-1.30", "operator-1.13", "operator-1.20", "istioctl-1.24"])
def test_the_program_upgrade_keeps_every_pod_serving(name: str) -> None:
    outcome, rest = play_previous(name)
    assert outcome.failed is None
    assert outcome.problems() <= UPGRADE_EFFECTS, sorted(outcome.problems())
    for later in rest:
        assert later.failed is None
        assert later.violations == [], "\n".join(later.violations[:20])
    # No Kubernetes object or key that pods use is deleted by a rename (aliases).
    for op in ("delete", "delete-original"):
        assert outcome.ops(op, "AccessKey") == []
        assert outcome.ops(op, "User") == []
        assert outcome.ops(op, "ServiceEntry") == []
        assert outcome.ops(op, "DestinationRule") == []


def test_the_program_upgrade_refuses_settings_other_than_the_deployed_ones() -> None:
    from acpw.config import ConfigError

    with pytest.raises(ConfigError, match=r"release 0\.1\.0"):
        play_previous("istioctl-1.24", {"cloudwatch": {"requestTimeoutMs": 1234}})


# --- the five defects of release 0.1.0, flagged by the simulator on its own behaviour ----------


def play_old(before: str, after: str) -> Outcome:
    cluster, first = deploy_from_scratch({}, previous=before)
    _, second = previous_release(after)
    outcome = update(cluster, first, second)
    outcome.violations += settle(cluster)
    return outcome


def test_old_rotation_with_istio_operator_deletes_the_key_pods_use() -> None:
    for before in ("operator-1.13", "istioctl-1.24"):
        outcome = play_old(before, f"{before}-key2")
        assert "signs with a key which was deleted" in outcome.problems(), before


def test_old_user_name_change_deletes_the_key_without_rolling() -> None:
    outcome = play_old("patch-1.30", "patch-1.30-user")
    assert "signs with a key which was deleted" in outcome.problems()


def test_old_pull_policy_change_is_awaited_by_the_patch_itself() -> None:
    # Release 0.1.0 was thought to roll without waiting (pulumi/pulumi-kubernetes#2455). Under
    # the provider's real rules its DeploymentPatch waits for the rollout (await/awaiters.go,
    # deployment.go): nothing is left rolling, and the patch step is what waited.
    outcome = play_old("patch-1.30", "patch-1.30-always")
    assert outcome.unawaited == []
    assert outcome.failed is None


def test_old_fixed_names_delete_before_replace() -> None:
    outcome = play_old("patch-1.30", "patch-1.30-key2")
    assert "would not start again: Secret missing" in outcome.problems()


def test_old_shared_objects_change_under_running_pods() -> None:
    outcome = play_old("operator-1.20", "operator-1.20-vm")
    assert any("its sender points at vm other-receiver" in p for p in outcome.problems())


@pytest.mark.parametrize(
    "installer",
    INSTALLERS,
)
def test_removing_a_gateway_in_two_steps(installer: str) -> None:
    """First `enabled: false` (pods roll without ACPW, awaited or confirmed), then the entry goes."""
    version, gateway = INSTALLERS[installer]
    other = _second(gateway)
    base = _merge(_config(version, gateway), {"gateways": [gateway, other]})
    cluster, first = deploy_from_scratch(base)
    off = _merge(base, {"gateways": [gateway, {**other, "enabled": False}]})
    step1 = update(cluster, first, render(off, cluster))
    step1.violations += settle(cluster)
    assert step1.failed is None
    assert step1.violations == [], "\n".join(step1.violations[:20])
    deployed = step1.deployed
    if "istioOperatorYaml" in deployed.outputs and not any(
        "IstioOperator" in r.type for r in deployed.resources
    ):
        istioctl(cluster, deployed)
        again = update(cluster, deployed, render(off, cluster))
        assert again.violations == []
        deployed = again.deployed
    assert not cluster.gateways[_deployment(other)].template.acpw
    removed = _merge(base, {"gateways": [gateway]})
    step2 = update(cluster, deployed, render(removed, cluster))
    # Nothing may roll unawaited: deleting the patch relinquishes its fields (ssa/actions.go),
    # which restarts every pod of a deploymentPatch gateway (defect 3 of issue 19).
    assert step2.unawaited == []
    step2.violations += settle(cluster)
    assert step2.failed is None
    assert step2.violations == [], "\n".join(step2.violations[:20])


def test_removing_a_gateway_at_once_is_what_the_two_steps_avoid() -> None:
    base = _merge(_config("1.30", PATCHED), {"gateways": [PATCHED, SECOND]})
    cluster, first = deploy_from_scratch(base)
    outcome = update(cluster, first, render(_merge(base, {"gateways": [PATCHED]}), cluster))
    assert "would not start again: Secret missing" in outcome.problems()


def _fewer_ready(violations: list[str]) -> list[str]:
    return [v for v in violations if "ready pods, fewer than" in v]


def _assert_removed_keeping_capacity(cluster: Any, outcome: Any, *gateways: str) -> None:
    """The update succeeded, and once everything settled no step lowered ready capacity and
    ``gateways`` run without the modules, still under ``maxUnavailable: 0``."""
    assert outcome.failed is None, outcome.failed
    violations = outcome.violations + settle(cluster)
    assert _fewer_ready(violations) == [], "\n".join(violations[:20])
    for key in gateways:
        assert not cluster.gateways[key].template.acpw
        assert cluster.gateways[key].max_unavailable == 0


def test_removing_a_patched_gateway_at_once_keeps_its_capacity() -> None:
    """Issue 19, "removal keeps capacity": the entry removed in one step (no `enabled: false`
    first) deletes the pod-changes patch, whose relinquish rolls every pod back without the
    modules, unawaited. The strategy belongs to a retained patch of its own, so that rollout
    keeps `maxUnavailable: 0` (on release 0.2.0's graph it ran under 25% unavailable)."""
    base = _merge(_config("1.30", PATCHED), {"gateways": [PATCHED, SECOND]})
    cluster, first = deploy_from_scratch(base, replicas=8)
    outcome = update(cluster, first, render(_merge(base, {"gateways": [PATCHED]}), cluster))
    _assert_removed_keeping_capacity(cluster, outcome, "edge2/gw2")


def test_destroying_a_stack_with_patched_gateways_keeps_their_capacity() -> None:
    """`pulumi destroy` deletes every patch while it is enabled: the pods roll back without the
    modules under the retained strategy patch, never under the API defaults."""
    base = _merge(_config("1.30", PATCHED), {"gateways": [PATCHED, SECOND]})
    cluster, first = deploy_from_scratch(base, replicas=8)
    outcome = update(cluster, first, Deployed([], {}))
    _assert_removed_keeping_capacity(cluster, outcome, "edge/gw", "edge2/gw2")


# --- release 0.2.0 -> this release, every installer ---------------------------------------------

RELEASE_0_2_0 = [
    "patch-1.20",
    "patch-1.30",
    "operator-1.20",
    "operator-1.23",
    "istioctl-1.24",
    "istioctl-1.30",
    "patch-1.30-ecr",
]


@pytest.mark.parametrize("name", RELEASE_0_2_0)
def test_upgrading_from_0_2_0_keeps_every_pod_serving(name: str) -> None:
    """A stack deployed by 0.2.0 (its state holds ImagePush/ImageDigest dynamic resources),
    updated by this release with the same settings: every step succeeds (dynamic resources
    left behind are deleted by their pickled provider, which must still import), and no pod
    loses anything."""
    cluster, first = deploy_from_scratch({}, previous=name, release="0.2.0")
    config, _ = previous_release(name, "0.2.0")
    if config.get("acpw:images", {}).get("registry") == "ecr":
        # The one setting the upgrade asks for (refused until given, docs/operations.md "Upgrading from
        # 0.2.0"): the pull-through cache's credential for ghcr.io.
        config = _merge(
            config, {"images": {"ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL}}}
        )
    outcome, rest = update_and_follow(cluster, first, config)
    assert outcome.failed is None, outcome.failed
    assert outcome.violations == [], "\n".join(outcome.violations[:20])
    for later in rest:
        assert later.failed is None, later.failed
        assert later.violations == [], "\n".join(later.violations[:20])
    # A change after the upgrade rolls safely too.
    changed = _merge(config, {"iam": {"keyGeneration": 2}})
    after, rest = update_and_follow(cluster, (rest or [outcome])[-1].deployed, changed)
    assert after.failed is None, after.failed
    assert after.violations == [], "\n".join(after.violations[:20])
    for later in rest:
        assert later.failed is None, later.failed
        assert later.violations == [], "\n".join(later.violations[:20])


# --- regression cases: the provider's real rules (issue 19) --------------------------------------
# Regression cases of issue 19's defects: each failed on release 0.2.0's graph under the
# provider's real rules (awaited patches, relinquish on delete, init errors re-awaited).


def test_a_large_gateway_that_keeps_progressing_is_not_failed_for_its_size() -> None:
    """Defect 2: the DeploymentPatch is awaited like a Deployment, 10 minutes by default
    (await/deployment.go). 30 pods that take 5 minutes each to become Ready roll for longer."""
    base = _config("1.30", PATCHED)
    cluster, first = deploy_from_scratch(base, replicas=30, pod_start_seconds=300)
    outcome = update(cluster, first, render(_merge(base, CHANGES["sender digest change"]), cluster))
    assert outcome.failed is None, outcome.failed
    assert outcome.violations == []


def test_the_record_patch_does_not_wait_for_an_istioctl_rollout() -> None:
    """Defect 2: the metadata-only generations-record patch is awaited like the Deployment, so a
    `pulumi up` while an `istioctl install` rollout runs stalls on it (and fails after 10 min)."""
    base = _config("1.30", OPERATED)
    cluster, first = deploy_from_scratch(base, replicas=30, pod_start_seconds=300)
    rotated = _merge(base, {"iam": {"keyGeneration": 2}})
    outcome = update(cluster, first, render(rotated, cluster))
    assert outcome.failed is None
    istioctl(cluster, outcome.deployed, complete=False)  # the user starts the rollout
    later = _merge(rotated, CHANGES["metric name change"])
    start = len(cluster.awaited)
    following = update(cluster, outcome.deployed, render(later, cluster))
    assert following.failed is None, following.failed
    assert all(entry.endswith(" waited 0s") for entry in cluster.awaited[start:]), cluster.awaited[
        start:
    ]


def test_removing_a_larger_gateway_keeps_its_capacity() -> None:
    """Defect 3: step 2 of a removal deletes the DeploymentPatch; the relinquish (ssa/actions.go)
    drops `maxUnavailable: 0` and the template label, so the gateway rolls under the API defaults
    (25% unavailable: 2 of 8 pods) and nothing waits for it."""
    other = {**SECOND, "installer": "deploymentPatch"}
    base = _merge(_config("1.30", PATCHED), {"gateways": [PATCHED, other]})
    cluster, first = deploy_from_scratch(base, replicas=8)
    off = _merge(base, {"gateways": [PATCHED, {**other, "enabled": False}]})
    step1 = update(cluster, first, render(off, cluster))
    step1.violations += settle(cluster)
    assert step1.failed is None and step1.violations == []
    step2 = update(cluster, step1.deployed, render(_merge(base, {"gateways": [PATCHED]}), cluster))
    step2.violations += settle(cluster)
    assert step2.failed is None
    assert step2.violations == [], "\n".join(step2.violations[:20])
    assert step2.unawaited == []


def test_a_failed_refresher_job_is_retried_by_the_next_update() -> None:
    """Defect 6: the refresher's initial Job has no `replaceUnready`. After one failure (a new
    IAM key still propagating), the next `pulumi up` re-awaits the same failed Job
    (step_generator.go: init errors -> update step; job.go fails at once on `Failed`)."""
    base = _config(
        "1.30",
        PATCHED,
        images={"registry": "ecr", "ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL}},
    )
    cluster, first = deploy_from_scratch(base)
    rotated = _merge(base, {"iam": {"keyGeneration": 2}})
    cluster.job_failures["acpw-registry-refresher-initial-"] = 1
    outcome = update(cluster, first, render(rotated, cluster))
    assert outcome.failed is not None and "refresher-initial" in outcome.failed
    retry = update(cluster, outcome.deployed, render(rotated, cluster))
    assert retry.failed is None, retry.failed
    assert retry.violations == []


# --- signing and credentials (issue 17) ----------------------------------------------------------

OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.ap-northeast-1.amazonaws.com/id/ABC123"
TO_IRSA = {"iam": {"credentials": "irsa", "oidcProviderArn": OIDC}}
TO_POD_IDENTITY = {"iam": {"credentials": "podIdentity", "eksClusterName": "prod"}}
BACK_TO_KEYS = {"iam": {"credentials": "accessKey"}, "cloudwatch": {"signing": "module"}}
SIGNING_INSTALLERS = ["deploymentPatch-1.30", "istioctl-1.30", "istioctl-1.24"]


def _assert_clean(outcome: Outcome, rest: list[Outcome]) -> None:
    assert outcome.failed is None, outcome.failed
    assert outcome.violations == [], "\n".join(outcome.violations[:20])
    for later in rest:
        assert later.failed is None, later.failed
        assert later.violations == [], "\n".join(later.violations[:20])


def _credential_secrets(cluster: Cluster) -> list[tuple[str, str, str]]:
    return [k for k in cluster.objects if k[0] == "Secret" and "aws-credentials" in k[2]]


@pytest.mark.parametrize("installer", SIGNING_INSTALLERS)
@pytest.mark.parametrize(
    "change",
    [
        {"cloudwatch": {"signing": "envoy"}},
        TO_IRSA,
        TO_POD_IDENTITY,
    ],
    ids=["module to envoy", "accessKey to irsa", "accessKey to podIdentity"],
)
def test_signing_and_credential_changes_keep_every_pod_serving(
    installer: str, change: dict[str, Any]
) -> None:
    version, gateway = INSTALLERS[installer]
    cluster, first = deploy_from_scratch(_config(version, gateway))
    outcome, rest = update_and_follow(cluster, first, _merge(_config(version, gateway), change))
    _assert_clean(outcome, rest)
    keyless = "credentials" in change.get("iam", {})
    if keyless:
        # Once no pod uses them, the user, its key and its Secrets are gone.
        assert cluster.keys == {}
        assert _credential_secrets(cluster) == []
        assert cluster.roles
    else:
        assert cluster.keys and _credential_secrets(cluster)
    if rest:  # istioctl: the first update kept the key for the pods still running with it
        assert outcome.deployed is not None


@pytest.mark.parametrize("installer", SIGNING_INSTALLERS)
@pytest.mark.parametrize("keyless", [TO_IRSA, TO_POD_IDENTITY], ids=["irsa", "podIdentity"])
def test_back_from_keyless_to_keys_keeps_every_pod_serving(
    installer: str, keyless: dict[str, Any]
) -> None:
    version, gateway = INSTALLERS[installer]
    base = _merge(_config(version, gateway), keyless)
    outcome, rest = play(base, BACK_TO_KEYS)
    _assert_clean(outcome, rest)


@pytest.mark.parametrize("installer", ["istioctl-1.30"])
def test_istioctl_keeps_the_key_until_the_keyless_rollout_is_seen(installer: str) -> None:
    version, gateway = INSTALLERS[installer]
    cluster, first = deploy_from_scratch(_config(version, gateway))
    outcome = update(cluster, first, render(_merge(_config(version, gateway), TO_IRSA), cluster))
    assert outcome.failed is None
    # The pods still run with the key: it and its Secret stay, beside the new role.
    assert cluster.keys and _credential_secrets(cluster) and cluster.roles
    assert settle(cluster) == []
