"""installer gatewayApi: the overlay merged into Istio's own generated Deployment, the Gateway
patch, the WasmPlugin target and the refusals."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from acpw.config.errors import ConfigError
from acpw.contract import (
    BOOTSTRAP_OVERRIDE_ENV,
    BOOTSTRAP_OVERRIDE_PATH,
    DEFAULT_NAMES,
    INIT_CONTAINER,
    KEY_ENV_NAMES,
    PROXY_CONTAINER,
    RECEIVER_WASM_DIR,
    ROLLOUT_LABEL,
)
from acpw.gateway import gateway_pod_changes
from acpw.gateway_api import (
    BOOTSTRAP_HASH_ANNOTATION,
    OVERLAY_KEY,
    bootstrap_hash,
    deployment_overlay,
    deployment_overlay_off,
    generated_deployment_name,
    overlay_configmap,
    parameters_ref_patch,
    validate_gateway_api_entries,
    wasm_plugin_target,
)
from acpw.generations import bootstrap_configmap_name
from acpw.istio_resources import bootstrap_file
from acpw.istio_versions import (
    GATEWAY_API_FIRST,
    GATEWAY_API_OVERLAY_KEYS,
    GATEWAY_API_POD_LABEL,
    IstioVersion,
)
from tests.gateway_api_merge import merge, merge_deployment, schema_of
from tests.matrix import matrix_config
from tests.test_gateway import config_for, generation
from tools.mock_engine import Registration
from tools.render import Render, render_stack

GOLDENS = Path(__file__).parent / "data" / "istio-gateway-api"
# Unmodified istio/istio goldens (../shared/istio-gateway-api/README.md): file -> git blob id.
# simple.yaml: pilot/pkg/config/kube/gateway/testdata/deployment/ (gatewaycommon/ from 1.30).
GOLDEN_BLOBS = {
    "1.26.8-simple.yaml": "28a5c58f260bfa092d19fef6cdad9b8ca12842b0",
    "1.26.8-customizations.yaml": "d643f1a3eda861be31a9536aa36777457dd8ee0a",
    "1.28.10-simple.yaml": "e3038dc9a09d07480d2330a7fe13e831658531ac",
    "1.28.10-customizations.yaml": "1e8912c62ca43d9085cddea414c8fbea9e1373d0",
    "1.30.3-simple.yaml": "23d5a8d911df64a656ecb604417777308956bc60",
    "1.30.3-customizations.yaml": "b370fcfea013ae60e92d6091a214a12cfdd5bc8a",
}
VERSIONS = ("1.26.8", "1.28.10", "1.30.3")


@pytest.mark.parametrize("name", sorted(GOLDEN_BLOBS))
def test_goldens_are_the_pinned_istio_files(name: str) -> None:
    blob = subprocess.run(
        ["git", "hash-object", str(GOLDENS / name)], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert blob == GOLDEN_BLOBS[name]


def istio_deployment(name: str) -> dict[str, Any]:
    docs = list(yaml.safe_load_all((GOLDENS / name).read_text()))
    (deployment,) = [d for d in docs if d and d.get("kind") == "Deployment"]
    return dict(deployment)


def changes_for(version: str) -> Any:
    config = config_for(version)
    return gateway_pod_changes(config, generation(config))


def by_name(items: list[dict[str, Any]], key: str = "name") -> dict[str, dict[str, Any]]:
    return {item[key]: item for item in items}


@pytest.mark.parametrize("golden", ["simple", "customizations"])
@pytest.mark.parametrize("version", VERSIONS)
def test_overlay_merged_into_istios_deployment_gives_the_receiver_what_it_needs(
    version: str, golden: str
) -> None:
    changes = changes_for(version)
    cm = overlay_configmap("default", "default", changes, bootstrap_sha256="ab" * 32)
    assert set(cm["data"]) <= set(GATEWAY_API_OVERLAY_KEYS)
    original = istio_deployment(f"{version}-{golden}.yaml")
    merged = merge_deployment(copy.deepcopy(original), yaml.safe_load(cm["data"][OVERLAY_KEY]))

    # istiod refuses an overlay that changes the object's identity ("illegal metadata change").
    assert merged["metadata"] == original["metadata"]
    pod = merged["spec"]["template"]
    old_pod = original["spec"]["template"]
    # Istio's own labels (the gateway-name label the Service and WasmPlugin rely on) stay.
    assert (
        pod["metadata"]["labels"][GATEWAY_API_POD_LABEL]
        == (old_pod["metadata"]["labels"][GATEWAY_API_POD_LABEL])
    )
    assert pod["metadata"]["labels"][ROLLOUT_LABEL] == changes.pod_labels[ROLLOUT_LABEL]
    assert pod["metadata"]["annotations"][BOOTSTRAP_HASH_ANNOTATION] == "ab" * 32

    spec = pod["spec"]
    init = by_name(spec["initContainers"])
    assert init[INIT_CONTAINER] == changes.init_containers[0]
    volumes = by_name(spec["volumes"])
    assert set(by_name(old_pod["spec"]["volumes"])) < set(volumes)
    bootstrap = bootstrap_configmap_name(bootstrap_file(config_for(version)), DEFAULT_NAMES)
    assert volumes["acpw-bootstrap"]["configMap"]["name"] == bootstrap
    assert "emptyDir" in volumes[changes.init_containers[0]["volumeMounts"][0]["name"]]

    containers = by_name(spec["containers"])
    assert set(containers) == set(by_name(old_pod["spec"]["containers"])) == {PROXY_CONTAINER}
    proxy, old_proxy = (
        containers[PROXY_CONTAINER],
        by_name(old_pod["spec"]["containers"])[PROXY_CONTAINER],
    )
    # istiod's container is kept whole: image, args, probes, its own env and mounts.
    assert proxy["image"] == old_proxy["image"] and proxy["args"] == old_proxy["args"]
    env = by_name(proxy["env"])
    assert set(by_name(old_proxy["env"])) < set(env)
    for name in KEY_ENV_NAMES:
        assert env[name]["valueFrom"]["secretKeyRef"]["key"] == name
    assert env[BOOTSTRAP_OVERRIDE_ENV]["value"] == BOOTSTRAP_OVERRIDE_PATH
    mounts = by_name(proxy["volumeMounts"], "mountPath")
    assert set(by_name(old_proxy["volumeMounts"], "mountPath")) < set(mounts)
    assert mounts[RECEIVER_WASM_DIR]["readOnly"] is True
    assert BOOTSTRAP_OVERRIDE_PATH.startswith(
        next(p for p, m in mounts.items() if m["name"] == "acpw-bootstrap") + "/"
    )
    assert len(proxy["env"]) == len(old_proxy["env"]) + len(changes.proxy_env)


def test_the_merge_follows_the_schema_patch_meta() -> None:
    # Containers merge by name, mounts by mountPath, args (no patch strategy) are replaced.
    original = {
        "containers": [
            {"name": "a", "args": ["x"], "volumeMounts": [{"name": "v", "mountPath": "/p"}]},
            {"name": "b"},
        ]
    }
    patch = {
        "containers": [
            {"name": "a", "args": ["y"], "volumeMounts": [{"name": "w", "mountPath": "/p"}]}
        ]
    }
    merged = merge(original, patch, schema_of("io.k8s.api.core.v1.PodSpec"))
    assert merged == {
        "containers": [
            {"name": "a", "args": ["y"], "volumeMounts": [{"name": "w", "mountPath": "/p"}]},
            {"name": "b"},
        ]
    }


def test_a_bootstrap_only_change_changes_the_pod_template() -> None:
    changes = changes_for("1.30.3")
    one = deployment_overlay(changes, bootstrap_sha256=bootstrap_hash('{"a":1}'))
    two = deployment_overlay(changes, bootstrap_sha256=bootstrap_hash('{"a":2}'))
    assert one["spec"]["template"] != two["spec"]["template"]
    assert "metadata" not in one


def test_parameters_ref_patch_sets_only_the_reference() -> None:
    body = parameters_ref_patch("gw", "ingress", "gw-acpw")
    assert body["spec"] == {
        "infrastructure": {"parametersRef": {"group": "", "kind": "ConfigMap", "name": "gw-acpw"}}
    }
    assert (body["apiVersion"], body["kind"]) == ("gateway.networking.k8s.io/v1", "Gateway")
    assert body["metadata"]["name"] == "gw" and body["metadata"]["namespace"] == "ingress"


def test_generated_names() -> None:
    assert generated_deployment_name("default") == "default-istio"


@pytest.mark.parametrize(
    ("version", "field"),
    [
        ("1.20", "targetRef"),
        ("1.21.6", "targetRef"),
        ("1.22", "targetRefs"),
        ("1.30.3", "targetRefs"),
    ],
)
def test_wasm_plugin_target_per_release(version: str, field: str) -> None:
    stanza = wasm_plugin_target(IstioVersion.parse(version), "gw")
    ref = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}
    assert stanza == {field: [ref] if field == "targetRefs" else ref}
    assert "selector" not in stanza


def test_wasm_plugin_cannot_target_a_gateway_before_1_20() -> None:
    with pytest.raises(ValueError):
        wasm_plugin_target(IstioVersion.parse("1.19"), "gw")


def entry(**extra: Any) -> dict[str, Any]:
    return {"name": "gw", "namespace": "ingress", "installer": "gatewayApi", **extra}


V130 = IstioVersion.parse("1.30.3")


@pytest.mark.parametrize(
    ("entries", "version", "expected"),
    [
        ([entry(selector={"app": "x"})], V130, "acpw:gateways[0].selector: not allowed"),
        ([entry(name="Bad_Name")], V130, "acpw:gateways[0].name: 'Bad_Name' is not a Gateway name"),
        ([entry(name="a" * 58)], V130, "over 63 characters"),
        (
            [entry(), entry()],
            V130,
            "acpw:gateways[1]: Gateway ingress/gw is already acpw:gateways[0]",
        ),
        (
            [entry()],
            IstioVersion.parse("1.25.5"),
            "acpw:gateways[0].installer: gatewayApi needs Istio 1.26.0",
        ),
    ],
)
def test_bad_gateway_api_entries_are_refused(
    entries: list[dict[str, Any]], version: IstioVersion, expected: str
) -> None:
    with pytest.raises(ConfigError) as error:
        validate_gateway_api_entries(entries, version)
    assert expected in str(error.value)


def test_good_entries_pass_and_other_installers_are_left_alone() -> None:
    validate_gateway_api_entries(
        [entry(), entry(namespace="other"), {"name": "gw", "namespace": "ingress", "selector": {}}],
        IstioVersion.parse(f"1.{GATEWAY_API_FIRST[0]}.{GATEWAY_API_FIRST[1]}"),
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_rollout_never_lowers_capacity_and_off_removes_the_receiver(version: str) -> None:
    original = istio_deployment(f"{version}-simple.yaml")
    cm = overlay_configmap("default", "default", changes_for(version), max_surge=1)
    merged = merge_deployment(copy.deepcopy(original), yaml.safe_load(cm["data"][OVERLAY_KEY]))
    assert merged["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    # Off: istiod re-renders from its template plus the off overlay (SSA drops the rest).
    off = overlay_configmap("default", "default", changes_for(version), off=True)
    rendered = merge_deployment(copy.deepcopy(original), yaml.safe_load(off["data"][OVERLAY_KEY]))
    spec = rendered["spec"]["template"]["spec"]
    assert "initContainers" not in spec
    assert by_name(spec["volumes"]) == by_name(original["spec"]["template"]["spec"]["volumes"])
    assert rendered["spec"]["template"]["metadata"]["labels"][ROLLOUT_LABEL] == "off"
    assert rendered["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


# --- the graph: what the program registers for a gatewayApi gateway (mock engine) -----------

PARTNER = {"name": "partner-gateway", "namespace": "partner", "installer": "gatewayApi"}
GATEWAY_PATCH = "kubernetes:gateway.networking.k8s.io/v1:GatewayPatch"


def render_with_partner(version: str = "1.30", **partner: Any) -> Render:
    config = matrix_config(version)
    config["acpw:gateways"] = [*config["acpw:gateways"], {**PARTNER, **partner}]
    return render_stack("gwapi", config=config)


def in_partner(render: Render, kind: str) -> list[dict[str, Any]]:
    return [
        o
        for o in render.kubernetes
        if o["kind"] == kind and o["metadata"].get("namespace") == "partner"
    ]


def registration(render: Render, type_token: str, namespace: str = "partner") -> Registration:
    [found] = [
        r
        for r in render.of_type(type_token)
        if r.plain_inputs()["metadata"].get("namespace") == namespace
        and (type_token != "kubernetes:core/v1:ConfigMap" or "deployment" in r.inputs["data"])
    ]
    return found


def test_the_overlay_configmap_is_content_named_and_the_gateway_points_at_it() -> None:
    render = render_with_partner()
    overlay = registration(render, "kubernetes:core/v1:ConfigMap")
    name = overlay.inputs["metadata"]["name"]
    assert name.startswith("partner-gateway-acpw-") and len(name) <= 63
    assert overlay.inputs["immutable"] is True
    assert set(overlay.inputs["data"]) == {OVERLAY_KEY}
    patch = registration(render, GATEWAY_PATCH)
    assert patch.inputs["metadata"]["name"] == "partner-gateway"
    assert patch.inputs["metadata"]["annotations"] == {
        "pulumi.com/patchForce": "true",
        "pulumi.com/skipAwait": "true",
    }
    assert patch.inputs["spec"] == {
        "infrastructure": {"parametersRef": {"group": "", "kind": "ConfigMap", "name": name}}
    }
    # Only the parametersRef: the rest of the Gateway stays the user's.
    assert set(patch.inputs) == {"apiVersion", "kind", "metadata", "spec"}
    assert overlay.urn in patch.dependencies


def test_the_overlay_carries_what_the_receiver_needs_and_names_the_rendered_objects() -> None:
    render = render_with_partner()
    overlay = yaml.safe_load(
        registration(render, "kubernetes:core/v1:ConfigMap").inputs["data"][OVERLAY_KEY]
    )
    merged = merge_deployment(istio_deployment("1.30.3-simple.yaml"), overlay)
    pod = merged["spec"]["template"]["spec"]
    [proxy] = [c for c in pod["containers"] if c["name"] == PROXY_CONTAINER]
    env = by_name(proxy["env"])
    assert env[BOOTSTRAP_OVERRIDE_ENV]["value"] == BOOTSTRAP_OVERRIDE_PATH
    secrets = {o["metadata"]["name"] for o in in_partner(render, "Secret")}
    for name in KEY_ENV_NAMES:
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] in secrets
    bootstraps = {
        o["metadata"]["name"]
        for o in in_partner(render, "ConfigMap")
        if "custom_bootstrap.json" in o.get("data", {})
    }
    volumes = by_name(pod["volumes"])
    assert volumes["acpw-bootstrap"]["configMap"]["name"] in bootstraps
    assert [c["name"] for c in pod["initContainers"]] == [INIT_CONTAINER]
    assert RECEIVER_WASM_DIR in {m["mountPath"] for m in proxy["volumeMounts"]}
    assert merged["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert (
        merged["spec"]["template"]["metadata"]["labels"][ROLLOUT_LABEL]
        == (render.outputs["generation"])
    )
    # istiod's own labels survive the merge (the sender's targetRefs resolve through them).
    assert merged["spec"]["template"]["metadata"]["labels"][GATEWAY_API_POD_LABEL] == "default"


def test_a_job_waits_for_istiods_rollout_of_the_generated_deployment() -> None:
    render = render_with_partner()
    [job] = in_partner(render, "Job")
    spec = job["spec"]["template"]["spec"]
    [wait] = spec["initContainers"]
    assert "deployment/partner-gateway-istio" in wait["command"]
    assert (
        f"--for=jsonpath={{.spec.template.metadata.labels.{ROLLOUT_LABEL}}}="
        f"{render.outputs['generation']}"
    ) in wait["command"]
    [status] = spec["containers"]
    assert status["command"][:4] == [
        "kubectl",
        "rollout",
        "status",
        "deployment/partner-gateway-istio",
    ]
    [role] = [
        o for o in in_partner(render, "Role") if o["metadata"]["name"] == "acpw-rollout-check"
    ]
    assert role["rules"][0]["resourceNames"] == ["partner-gateway-istio"]
    patch = registration(render, GATEWAY_PATCH)
    [job_registration] = [
        r
        for r in render.of_type("kubernetes:batch/v1:Job")
        if r.inputs["metadata"]["namespace"] == "partner"
    ]
    assert patch.urn in job_registration.dependencies


def test_the_strategy_of_the_generated_deployment_is_a_retained_patch() -> None:
    render = render_with_partner()
    [strategy] = [
        r
        for r in render.of_type("kubernetes:apps/v1:DeploymentPatch")
        if r.inputs["metadata"]["name"] == "partner-gateway-istio"
    ]
    assert strategy.inputs["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert strategy.retain_on_delete
    assert "template" not in strategy.inputs["spec"]
    overlay = registration(render, "kubernetes:core/v1:ConfigMap")
    assert strategy.urn in overlay.dependencies
    # Nothing of ours server-side-applies the pod template of istiod's Deployment.
    assert not [
        r
        for r in render.of_type("kubernetes:apps/v1:DeploymentPatch")
        if r.inputs["metadata"]["name"] == "partner-gateway-istio"
        and "template" in r.inputs.get("spec", {})
    ]


@pytest.mark.parametrize("version", ["1.26", "1.30"])
def test_the_sender_targets_the_gateway_and_the_endpoint_is_visible_there(version: str) -> None:
    render = render_with_partner(version)
    [plugin] = in_partner(render, "WasmPlugin")
    assert plugin["spec"]["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "partner-gateway"}
    ]
    assert "selector" not in plugin["spec"]
    # Named by the Gateway and the receiver's vm_id, not the generation (targetRefs cannot
    # tell generations apart): one sender per pod and receiver.
    assert (
        plugin["metadata"]["name"]
        == "acpw-sender-partner-gateway-vm"
        + (hashlib.sha256(b"aws-cloudwatch-proxy-wasm-receiver").hexdigest()[:8])
    )
    for kind in ("ServiceEntry", "DestinationRule"):
        [obj] = in_partner(render, kind)
        assert obj["spec"]["exportTo"] == ["."]  # the Gateway's own namespace: its pods see it


def test_the_heartbeat_goes_through_istios_generated_service() -> None:
    render = render_with_partner()
    [cronjob] = in_partner(render, "CronJob")
    text = json.dumps(cronjob)
    assert "http://partner-gateway-istio.partner.svc.cluster.local" in text


def test_a_gateway_turned_off_rolls_to_the_off_overlay_and_keeps_it_on_delete() -> None:
    render = render_with_partner(enabled=False)
    overlay = registration(render, "kubernetes:core/v1:ConfigMap")
    assert yaml.safe_load(overlay.inputs["data"][OVERLAY_KEY]) == deployment_overlay_off("25%")
    assert overlay.retain_on_delete
    patch = registration(render, GATEWAY_PATCH)
    assert patch.retain_on_delete
    assert (
        patch.inputs["spec"]["infrastructure"]["parametersRef"]["name"]
        == (overlay.inputs["metadata"]["name"])
    )
    [job] = in_partner(render, "Job")
    assert any(
        arg.endswith(f"{ROLLOUT_LABEL}}}=off")
        for arg in job["spec"]["template"]["spec"]["initContainers"][0]["command"]
    )
    # The modules' objects are gone from the namespace (no enabled gateway there).
    assert not in_partner(render, "WasmPlugin")


def test_an_enabled_overlay_and_gateway_patch_are_not_retained() -> None:
    """Removed at once, the patch relinquishes the parametersRef (istiod renders without the
    modules, under the retained strategy) and then its ConfigMap is deleted."""
    render = render_with_partner()
    assert not registration(render, "kubernetes:core/v1:ConfigMap").retain_on_delete
    assert not registration(render, GATEWAY_PATCH).retain_on_delete


def test_a_new_generation_is_a_new_overlay_configmap() -> None:
    before = registration(render_with_partner(), "kubernetes:core/v1:ConfigMap")
    after = registration(render_with_partner(maxSurge=2), "kubernetes:core/v1:ConfigMap")
    assert before.name == after.name  # the same resource, replaced (its name is its content)
    assert before.inputs["metadata"]["name"] != after.inputs["metadata"]["name"]


def test_revoke_previous_key_reads_istiods_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``iam.revokePreviousKey`` reads each gateway's live Deployment: for a Gateway API gateway
    that is istiod's ``<gateway>-istio``, not the Gateway's name."""
    import tools.mock_engine as engine

    reads: list[Any] = []
    original = engine.RecordingMonitor.ReadResource

    def record(self: Any, request: Any) -> Any:
        reads.append(request.id)
        return original(self, request)

    monkeypatch.setattr(engine.RecordingMonitor, "ReadResource", record, raising=False)
    config = matrix_config("1.30", iam={"keyGeneration": 2, "revokePreviousKey": True})
    config["acpw:gateways"] = [*config["acpw:gateways"], PARTNER]
    render_stack("gwapi", config=config)
    assert "partner/partner-gateway-istio" in reads
    assert "partner/partner-gateway" not in reads
