"""The transition simulator plays pulumi-kubernetes' rules, not a model of them.

Held here: the version the rules were read for is the one requirements.txt pins; the replace
table is the provider's (pinned reference data of diff.go, tests/transitions/fixtures/
pulumi-kubernetes-diff.json); and each rule the simulator plays behaves as its source says.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.transitions import engine
from tests.transitions.cluster import API_DEFAULT_STRATEGY, Cluster, StepFailed
from tests.transitions.engine import Resource, Step, await_timeout, plan_update
from tests.transitions.simulator import FIXTURES

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = json.loads(
    (ROOT / "tests/transitions/fixtures/pulumi-kubernetes-diff.json").read_text()
)


def _pin(package: str) -> str:
    text = (ROOT / "requirements.txt").read_text()
    match = re.search(rf"^{re.escape(package)}==(\S+)$", text, re.MULTILINE)
    assert match, f"{package} is not pinned in requirements.txt"
    return match.group(1)


def test_the_rules_name_the_pinned_provider_version() -> None:
    pinned = _pin("pulumi-kubernetes")
    assert pinned == engine.PROVIDER_VERSION, (
        f"requirements.txt pins pulumi-kubernetes {pinned}, the simulator's rules were read for "
        f"{engine.PROVIDER_VERSION}: re-read diff.go, await/, ssa/ and provider.go for {pinned}, "
        "update tests/transitions/engine.py and fixtures/pulumi-kubernetes-diff.json"
    )
    assert pinned == REFERENCE["provider_version"], "re-read the reference data for the pin"


def _registered_k8s_types() -> set[str]:
    types = set()
    for path in FIXTURES.values():
        for fixture in json.loads(path.read_text()).values():
            types |= {
                r["type"] for r in fixture["registrations"] if r["type"].startswith("kubernetes:")
            }
    return types


def test_the_replace_table_is_the_providers() -> None:
    # Defect 5 of issue 19: the table counted `immutable`, and its Job rule was `spec`.
    assert tuple(REFERENCE["metadata"]) == engine.METADATA_REPLACE_ON
    for kind, paths in engine.K8S_REPLACE_ON.items():
        assert kind in REFERENCE["kinds"], f"{kind}: not a kind with triggers in diff.go"
        assert set(paths) == set(REFERENCE["kinds"][kind]), kind
    for kind in _registered_k8s_types():
        expected = set(REFERENCE["metadata"])
        if not kind.endswith("Patch"):
            expected |= set(REFERENCE["kinds"].get(kind, []))
        assert set(engine.triggers(kind)) == expected, kind
    for kind, paths in REFERENCE["not_triggers"].items():
        assert not set(paths) & set(engine.triggers(kind)), kind


def _k8s(kind: str, api: str, name: str = "obj", **fields: Any) -> Resource:
    timeouts = fields.pop("timeouts", {})
    group, _, version = api.rpartition("/")
    token = f"kubernetes:{group or 'core'}/{version}:{kind}"
    inputs = {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": name, "namespace": "ns", **fields.pop("metadata", {})},
        **fields,
    }
    return Resource(
        urn=f"urn:{kind}:{name}",
        type=token,
        name=name,
        inputs=inputs,
        custom_timeouts=timeouts,
    )


def _steps(old: Resource, new: Resource, **kwargs: Any) -> list[tuple[str, str]]:
    return [(s.op, s.reason) for s in plan_update([old], [new], **kwargs)]


def test_flipping_immutable_is_an_in_place_update_the_api_server_refuses() -> None:
    old = _k8s("ConfigMap", "v1", data={"a": "1"}, immutable=True)
    new = _k8s("ConfigMap", "v1", data={"a": "1"}, immutable=False)
    assert _steps(old, new) == [("update", "")]
    cluster = Cluster(gateways={})
    cluster.apply(Step("create", old))
    with pytest.raises(StepFailed, match="immutable"):
        cluster.apply(Step("update", new, old))
    # Making a mutable object immutable is allowed.
    mutable = _k8s("Secret", "v1", stringData={"k": "v"})
    frozen = _k8s("Secret", "v1", stringData={"k": "v"}, immutable=True)
    assert _steps(mutable, frozen) == [("update", "")]
    cluster.apply(Step("create", mutable))
    cluster.apply(Step("update", frozen, mutable))


@pytest.mark.parametrize(
    ("old", "new", "replaced"),
    [
        ({"type": "Opaque"}, {"type": "kubernetes.io/tls"}, True),
        ({"stringData": {"k": "1"}}, {"stringData": {"k": "2"}}, True),
        ({"metadata": {"labels": {"a": "1"}}}, {"metadata": {"labels": {"a": "2"}}}, False),
    ],
)
def test_secret_triggers(old: dict[str, Any], new: dict[str, Any], replaced: bool) -> None:
    steps = _steps(_k8s("Secret", "v1", **old), _k8s("Secret", "v1", **new))
    # A fixed name: the provider makes the replacement delete-before-replace.
    assert [op for op, _ in steps] == (["delete", "create"] if replaced else ["update"])


def test_job_triggers_are_the_providers_not_the_whole_spec() -> None:
    spec = {"backoffLimit": 0, "template": {"spec": {"containers": [{"image": "a"}]}}}
    old = _k8s("Job", "batch/v1", spec=spec)
    limit = _k8s("Job", "batch/v1", spec={**spec, "backoffLimit": 2})
    image = _k8s(
        "Job", "batch/v1", spec={**spec, "template": {"spec": {"containers": [{"image": "b"}]}}}
    )
    assert _steps(old, limit) == [("update", "")]
    assert [op for op, _ in _steps(old, image)] == ["delete", "create"]
    assert ".spec.template changed" in _steps(old, image)[0][1]


def test_a_patch_replaces_only_on_identity() -> None:
    old = _k8s("DeploymentPatch", "apps/v1", name="gw", spec={"selector": {"matchLabels": {}}})
    new = _k8s(
        "DeploymentPatch", "apps/v1", name="gw", spec={"selector": {"matchLabels": {"a": "b"}}}
    )
    assert _steps(old, new) == [("update", "")]


def test_await_timeouts_custom_timeouts_beat_the_annotation() -> None:
    plain = _k8s("Job", "batch/v1")
    annotated = _k8s(
        "Job", "batch/v1", metadata={"annotations": {"pulumi.com/timeoutSeconds": "90"}}
    )
    both = _k8s(
        "Job",
        "batch/v1",
        metadata={"annotations": {"pulumi.com/timeoutSeconds": "90"}},
        timeouts={"create": "1h30m", "update": "45s"},
    )
    assert await_timeout(plain, "create") == 600
    assert await_timeout(annotated, "update") == 90
    assert await_timeout(both, "create") == 5400
    assert await_timeout(both, "update") == 45


GATEWAY = {"namespace": "ns", "name": "gw", "selector": {"app": "gw"}}


def _patch(**annotations: str) -> Resource:
    template = {"metadata": {"labels": {"rolled": "yes"}}}
    return _k8s(
        "DeploymentPatch",
        "apps/v1",
        name="gw",
        metadata={"annotations": annotations},
        spec={
            "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": template,
        },
    )


def test_a_deployment_patch_waits_for_its_rollout_ten_minutes_by_default() -> None:
    cluster = Cluster.with_gateways([GATEWAY], replicas=30, pod_start_seconds=60)
    with pytest.raises(StepFailed, match="within 600s") as failure:
        cluster.apply(Step("create", _patch()))
    assert failure.value.partial
    # A rollout that cannot progress is waited for until the timeout, not failed sooner
    # (ProgressDeadlineExceeded is only logged by deployment.go).
    cluster = Cluster.with_gateways([GATEWAY], replicas=3)
    cluster.broken_images.add("broken")
    stuck = _patch(**{"pulumi.com/timeoutSeconds": "1200"})
    stuck.inputs["spec"]["template"]["spec"] = {
        "initContainers": [{"name": "acpw-receiver-wasm", "image": "broken"}],
        "containers": [{"name": "istio-proxy", "env": [{"name": "ISTIO_BOOTSTRAP_OVERRIDE"}]}],
    }
    with pytest.raises(StepFailed, match="within 1200s"):
        cluster.apply(Step("create", stuck))
    assert cluster.awaited == ["create DeploymentPatch Deployment/ns/gw waited 1200s"]
    # skipAwait: the apply returns at once; the rollout goes on unawaited.
    cluster = Cluster.with_gateways([GATEWAY], replicas=30, pod_start_seconds=60)
    cluster.apply(Step("create", _patch(**{"pulumi.com/skipAwait": "true"})))
    assert cluster.gateways["ns/gw"].rolling


def test_init_errors_give_an_update_step_and_replace_unready_a_new_job() -> None:
    job = _k8s("Job", "batch/v1", spec={"template": {}})
    failed = replace(job, init_errors=("Job failed",))
    assert _steps(failed, job) == [("update", "(init errors: re-await)")]
    retried = _k8s(
        "Job",
        "batch/v1",
        metadata={"annotations": {"pulumi.com/replaceUnready": "true"}},
        spec={"template": {}},
    )
    old = replace(retried, init_errors=("Job failed",))
    steps = _steps(old, retried, unready=lambda _: True)
    assert [op for op, _ in steps] == ["delete", "create"]
    assert "replaceUnready" in steps[0][1]
    # A ready Job with the annotation is left alone.
    assert _steps(retried, retried, unready=lambda _: False) == []


def test_deleting_a_patch_relinquishes_the_strategy_unless_retained() -> None:
    cluster = Cluster.with_gateways([GATEWAY], replicas=8)
    patch = _patch()
    cluster.apply(Step("create", patch))
    gateway = cluster.gateways["ns/gw"]
    assert (gateway.max_surge, gateway.max_unavailable) == (1, 0)
    retained = replace(patch, retain_on_delete=True)
    cluster.apply(Step("delete", retained))
    assert (gateway.max_surge, gateway.max_unavailable) == (1, 0)
    assert gateway.template.labels == (("rolled", "yes"),)
    cluster.apply(Step("delete", patch))
    assert (gateway.max_surge, gateway.max_unavailable) == API_DEFAULT_STRATEGY
    assert gateway.rolling and gateway.template.labels == ()
    # Nothing waits for that rollout, and 25% of 8 pods may be unavailable.
    cluster.advance()
    cluster.advance()
    assert any("fewer than 8" in v for v in cluster.check("after the relinquish"))


def _dynamic(module: str, name: str) -> Resource:
    import base64

    def short(text: str) -> bytes:  # SHORT_BINUNICODE
        return b"\x8c" + bytes([len(text)]) + text.encode()

    # protocol 4: module, name, STACK_GLOBAL, EMPTY_TUPLE, NEWOBJ, STOP (an instance by reference)
    text = b"\x80\x04" + short(module) + short(name) + b"\x93)\x81."
    return Resource(
        urn=f"urn:dynamic:{name}",
        type=engine.DYNAMIC_TYPE,
        name=name,
        inputs={},
        dynamic_provider=base64.b64encode(text).decode(),
    )


def test_deleting_a_dynamic_resource_needs_its_pickled_provider_to_import() -> None:
    # The 0.2.0 state holds ImageDigest/ImagePush resources: their delete runs the pickled
    # provider, by module and class, with the next release's code (sdk dynamic.py, dill).
    pickled = {
        engine.pickled_class(r["inputs"]["__provider"])
        for release in json.loads(FIXTURES["0.2.0"].read_text()).values()
        for r in release["registrations"]
        if r["type"] == engine.DYNAMIC_TYPE
    }
    assert ("acpw.oci.provider", "ImageDigestProvider") in pickled
    cluster = Cluster(gateways={})
    for module, name in sorted(pickled):  # what an upgrade from 0.2.0 deletes
        cluster.apply(Step("delete", _dynamic(module, name)))
    with pytest.raises(StepFailed, match="No module named 'acpw_gone'"):
        cluster.apply(Step("delete", _dynamic("acpw_gone", "ImageDigestProvider")))
