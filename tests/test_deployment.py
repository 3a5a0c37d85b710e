"""The resource graph of the whole program, under the mock engine, for both stacks and the matrix."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from acpw.contract import CREDENTIALS_SECRET, RECEIVER_WASM_PATH, ROLLOUT_LABEL
from acpw.istio_versions import IstioFeatures, IstioVersion
from tests.matrix import MATRIX_VERSIONS, PINNED_SENDER_DIGEST, matrix_config
from tools.mock_engine import is_secret
from tools.render import Render, render_stack

STACK_URN_PREFIX = "urn:pulumi:"
COMPONENT = "acpw:index:AcpwDeployment"


def render_version(version: str, **overrides: Any) -> Render:
    return render_stack("matrix", config=matrix_config(version, **overrides))


def objects(render: Render, kind: str) -> list[dict[str, Any]]:
    return [o for o in render.kubernetes if o["kind"] == kind]


def receiver_extension(render: Render, namespace: str) -> dict[str, Any]:
    """The receiver's WasmService config, from whichever delivery the version uses."""
    for obj in render.kubernetes:
        if obj["metadata"].get("namespace") != namespace:
            continue
        if obj["kind"] == "EnvoyFilter":
            bootstrap = obj["spec"]["configPatches"][0]["patch"]["value"]
        elif obj["kind"] == "ConfigMap":
            bootstrap = json.loads(obj["data"]["custom_bootstrap.json"])
        else:
            continue
        [extension] = bootstrap["bootstrap_extensions"]
        return extension["typed_config"]["config"]
    raise AssertionError(f"no receiver bootstrap in namespace {namespace}")


# Two gateways in two namespaces (one istioOperator, one deploymentPatch) on every version.
# The deploymentPatch gateway has two patches: its pod changes and its strategy (retained).
COMMON_KINDS = {
    "Secret": 2,
    "ServiceEntry": 2,
    "DestinationRule": 2,
    "WasmPlugin": 2,
    "Deployment": 2,
}
BOOTSTRAP_PATCH = {"EnvoyFilter": 2, "IstioOperator": 1}
OVERRIDE_WITH_OPERATOR = {"ConfigMap": 2, "IstioOperator": 1}
# istioctl installs the 1.24+ gateway: a metadata-only patch records the kept generations.
OVERRIDE_ONLY = {"ConfigMap": 2, "Deployment": 3}


def expected_kinds(version: str) -> dict[str, int]:
    """From the version's features (acpw/istio_versions.py), so that the matrix can grow."""
    features = IstioFeatures(IstioVersion.parse(version))
    if features.receiver_delivery == "envoyFilterBootstrapPatch":
        return COMMON_KINDS | BOOTSTRAP_PATCH
    return COMMON_KINDS | (
        OVERRIDE_WITH_OPERATOR if features.in_cluster_operator else OVERRIDE_ONLY
    )


EXPECTED_KINDS = {version: expected_kinds(version) for version in MATRIX_VERSIONS}


@pytest.mark.parametrize("version", MATRIX_VERSIONS)
def test_kinds_and_counts(version: str) -> None:
    render = render_version(version)
    counts = Counter(o["kind"] for o in render.kubernetes)
    expected = {k: v for k, v in EXPECTED_KINDS[version].items()}
    image_kinds = {"Secret"}  # pull secrets and refresher objects come from the images component
    ours = {k: v for k, v in counts.items() if k not in image_kinds and k in expected}
    assert ours == {k: v for k, v in expected.items() if k not in image_kinds}
    credentials = [
        o
        for o in objects(render, "Secret")
        if o["metadata"]["name"].startswith(f"{CREDENTIALS_SECRET}-g1-")
    ]
    assert len(credentials) == expected["Secret"]
    assert ("EnvoyFilter" in counts) == (version in {"1.13", "1.14", "1.19", "1.20"})


@pytest.mark.parametrize("version", MATRIX_VERSIONS)
def test_sender_points_at_the_receiver_vm(version: str) -> None:
    render = render_version(version, receiverVmId="my-receiver")
    for plugin in objects(render, "WasmPlugin"):
        namespace = plugin["metadata"]["namespace"]
        receiver = receiver_extension(render, namespace)
        assert plugin["spec"]["pluginConfig"]["receiver_vm_id"] == "my-receiver"
        assert receiver["vm_config"]["vm_id"] == "my-receiver"
        assert receiver["name"] == "my-receiver"


@pytest.mark.parametrize("version", MATRIX_VERSIONS)
def test_receiver_calls_the_cluster_the_service_entry_creates(version: str) -> None:
    render = render_version(version)
    for entry in objects(render, "ServiceEntry"):
        namespace = entry["metadata"]["namespace"]
        [host] = entry["spec"]["hosts"]
        [port] = entry["spec"]["ports"]
        cluster = f"outbound|{port['number']}||{host}"
        receiver = receiver_extension(render, namespace)
        configuration = json.loads(receiver["configuration"]["value"])
        assert (
            configuration["cloud_watch_cluster_name"]
            == cluster
            == ("outbound|443||monitoring.ap-northeast-1.amazonaws.com")
        )
        assert configuration["cloud_watch_region"] == "ap-northeast-1"
        assert receiver["vm_config"]["code"]["local"]["filename"] == RECEIVER_WASM_PATH
        assert receiver["vm_config"]["environment_variables"]["host_env_keys"] == [
            "ACPW_AWS_ACCESS_KEY_ID",
            "ACPW_AWS_SECRET_ACCESS_KEY",
        ]
        assert receiver["vm_config"]["runtime"] == "envoy.wasm.runtime.v8"
        assert "aws_access_key_id" not in configuration


@pytest.mark.parametrize("version", MATRIX_VERSIONS)
def test_every_child_is_parented_to_the_component(version: str) -> None:
    render = render_version(version)
    by_urn = {r.urn: r for r in render.registrations}
    [top] = [r for r in render.registrations if r.type == COMPONENT]
    for registration in render.registrations:
        if registration is top:
            continue
        chain = registration
        while chain.parent in by_urn and chain.parent != top.urn:
            chain = by_urn[chain.parent]
        assert chain.parent == top.urn, (
            f"{registration.type} {registration.name} is outside {COMPONENT}"
        )


@pytest.mark.parametrize("version", MATRIX_VERSIONS)
def test_component_types_follow_the_acpw_token_scheme(version: str) -> None:
    render = render_version(version)
    components = {r.type for r in render.registrations if not r.custom}
    assert {
        "acpw:index:AcpwDeployment",
        "acpw:credentials:Credentials",
        "acpw:images:WasmImages",
        "acpw:istio:IstioResources",
        "acpw:gateway:GatewaySettings",
    } <= components
    assert all(t.startswith("acpw:") for t in components)


@pytest.mark.parametrize("version", MATRIX_VERSIONS)
def test_gateways_roll_only_after_what_the_bootstrap_reads(version: str) -> None:
    render = render_version(version)
    by_urn = {r.urn: r for r in render.registrations}
    patches = render.of_type("kubernetes:apps/v1:DeploymentPatch")
    # Only a patch of the pod template rolls pods; the strategy patch changes none.
    rollers = [p for p in patches if "template" in p.inputs.get("spec", {})] + render.of_type(
        "kubernetes:install.istio.io/v1alpha1:IstioOperator"
    )
    assert rollers
    receiver_kind = "EnvoyFilter" if version in {"1.13", "1.14", "1.19", "1.20"} else "ConfigMap"
    for roller in rollers:
        needed = {
            (by_urn[d].type.rsplit(":", 1)[1], by_urn[d].inputs["metadata"]["name"])
            for d in roller.dependencies
            if by_urn[d].type.startswith("kubernetes:")
        }
        assert any(
            kind == "Secret" and name.startswith(f"{CREDENTIALS_SECRET}-g1-")
            for kind, name in needed
        ), roller.name
        assert any(kind == receiver_kind for kind, _ in needed), roller.name
        assert any(by_urn[d].type == "aws:iam/accessKey:AccessKey" for d in roller.dependencies)


def test_outputs_of_the_dev_stack() -> None:
    render = render_stack("dev")
    outputs = render.outputs
    assert outputs["userArn"].endswith(":user/acpw/acpw-dev")
    generation = outputs["generation"]
    assert len(generation) == 12
    [secret_name] = outputs["secretNames"].values()
    assert outputs["secretNames"] == {"istio-system": secret_name}
    assert secret_name.startswith(f"{CREDENTIALS_SECRET}-g1-")
    gateway = outputs["gateways"]["istio-system/istio-ingressgateway"]
    assert gateway["receiverDelivery"] == "envoyFilterBootstrapPatch"
    assert gateway["installer"] == "istioOperator"
    assert (
        f"EnvoyFilter/istio-system/acpw-receiver-istio-ingressgateway-{generation}"
        in gateway["istioObjects"]
    )
    assert outputs["cloudwatchConsoleUrl"].startswith(
        "https://ap-northeast-1.console.aws.amazon.com/cloudwatch/home?region=ap-northeast-1"
    )
    assert "namespace=~'AWSCloudWatchProxyWasm" in outputs["cloudwatchConsoleUrl"]
    assert outputs["istioOperatorYaml"].count("kind: IstioOperator") == 1


def test_outputs_of_the_prod_stack() -> None:
    render = render_stack("prod")
    outputs = render.outputs
    assert set(outputs["gateways"]) == {
        "gateway-public/public-gateway",
        "partner/partner-gateway",
    }
    assert outputs["gateways"]["gateway-public/public-gateway"]["installer"] == "deploymentPatch"
    # A Gateway API gateway on Istio 1.30 (issue 16): its sender targets the Gateway.
    assert outputs["gateways"]["partner/partner-gateway"]["installer"] == "gatewayApi"
    assert any(
        name.startswith("WasmPlugin/partner/acpw-sender-partner-gateway-vm")
        for name in outputs["gateways"]["partner/partner-gateway"]["istioObjects"]
    )
    for gateway in outputs["gateways"].values():
        assert gateway["receiverDelivery"] == "bootstrapOverride"
        assert not any(name.startswith("EnvoyFilter/") for name in gateway["istioObjects"])
    assert "istioOperatorYaml" not in outputs
    assert "namespace=~'Example%2FGateways" in outputs["cloudwatchConsoleUrl"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_output_holds_a_secret_in_plain_text(stack: str) -> None:
    render = render_stack(stack)
    text = json.dumps(render.outputs)
    assert "[unknown: secret access key]" not in text
    assert "[unknown: access key id]" not in text


def test_pinned_sender_digest_reaches_the_wasm_plugin() -> None:
    render = render_version("1.30")
    for plugin in objects(render, "WasmPlugin"):
        assert plugin["spec"]["sha256"] == PINNED_SENDER_DIGEST.removeprefix("sha256:")


def test_secret_inputs_stay_secret_on_the_wire() -> None:
    render = render_stack("dev")
    [secret] = [
        r
        for r in render.of_type("kubernetes:core/v1:Secret")
        if r.inputs["metadata"]["name"].startswith(CREDENTIALS_SECRET)
    ]
    assert is_secret(secret.inputs["stringData"])


@pytest.mark.parametrize("version", ["1.14", "1.30"])
def test_a_sender_digest_change_is_a_new_generation_beside_the_old_one(version: str) -> None:
    """What `pulumi preview` shows for a new sender digest: the image resource and the gateway
    rollouts change; the new generation's WasmPlugins, receiver objects and rollout checks are
    created; nothing about the key changes. (What is deleted when: tests/transitions.)"""

    def inputs_by_urn(digest: str) -> dict[str, tuple[str, dict[str, Any]]]:
        config = matrix_config(version)
        config["acpw:images"] = {**config["acpw:images"], "senderDigest": "sha256:" + digest * 64}
        render = render_stack("matrix", config=config)
        return {r.urn: (r.type, r.plain_inputs()) for r in render.registrations}

    before, after = inputs_by_urn("1"), inputs_by_urn("2")
    changed = sorted(
        before[urn][0] for urn in before.keys() & after.keys() if before[urn] != after[urn]
    )
    created = sorted({after[urn][0] for urn in after.keys() - before.keys()})
    removed = sorted({before[urn][0] for urn in before.keys() - after.keys()})
    assert sorted({t for t in changed if not t.startswith("acpw:")}) == sorted(
        {
            "kubernetes:apps/v1:DeploymentPatch",
            *(["kubernetes:install.istio.io/v1alpha1:IstioOperator"] if version == "1.14" else []),
        }
    ), changed
    receiver = ["kubernetes:networking.istio.io/v1alpha3:EnvoyFilter"] if version == "1.14" else []
    generation_kinds = sorted(
        {
            "kubernetes:extensions.istio.io/v1alpha1:WasmPlugin",
            # A rollout-check Job only for the in-cluster operator (1.14); patches await.
            *(["kubernetes:batch/v1:Job"] if version == "1.14" else []),
            *receiver,
        }
    )
    assert created == removed == generation_kinds
    # The bootstrap ConfigMap (1.21+) is named by its content, which the sender does not change.
    assert not any("Secret" in t or "AccessKey" in t or "ConfigMap" in t for t in created)


@pytest.mark.parametrize("version", MATRIX_VERSIONS)
def test_generation_scoped_objects_select_only_their_generation(version: str) -> None:
    render = render_version(version)
    generation = render.outputs["generation"]
    for plugin in objects(render, "WasmPlugin"):
        assert plugin["spec"]["selector"]["matchLabels"][ROLLOUT_LABEL] == generation
        assert plugin["metadata"]["name"].endswith(f"-{generation}")
    for patch in objects(render, "EnvoyFilter"):
        assert patch["spec"]["workloadSelector"]["labels"][ROLLOUT_LABEL] == generation
    for configmap in objects(render, "ConfigMap"):
        assert configmap["immutable"] is True
    for secret in objects(render, "Secret"):
        if secret["metadata"]["name"].startswith(CREDENTIALS_SECRET):
            assert secret["immutable"] is True


def test_the_live_read_goes_through_the_components_versioned_kubernetes_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A typed Deployment.get (SDK version set) under the component, with its provider; a
    bare CustomResource get went to an unversioned default provider of its own."""
    import pulumi
    import pulumi_kubernetes as k8s

    import tools.mock_engine as engine
    from acpw.config import load_config
    from acpw.live import read_live_gateways

    reads: list[Any] = []
    original = engine.RecordingMonitor.ReadResource

    def record(self: Any, request: Any) -> Any:
        reads.append(request)
        return original(self, request)

    monkeypatch.setattr(engine.RecordingMonitor, "ReadResource", record, raising=False)
    engine.install("p", "s", {})
    try:
        provider = k8s.Provider("cluster")
        parent = pulumi.ComponentResource(
            "acpw:test:Parent", "parent", None, pulumi.ResourceOptions(providers=[provider])
        )
        config = load_config(
            {"istioVersion": "1.30"}, project="p", stack="s", aws_region="ap-northeast-1"
        )
        live = read_live_gateways(parent, "n", config.gateways, provider)
        [read] = reads
        assert read.type == "kubernetes:apps/v1:Deployment"
        assert read.version == k8s._utilities.get_version()
        assert "pulumi:providers:kubernetes::cluster::" in read.provider
        assert read.parent.endswith("::parent")
        # fresh_gateway's live state, read back in API shape (camelCase fields).
        assert live["istio-system/istio-ingressgateway"].replicas >= 1
    finally:
        engine.shutdown()


def test_the_refreshers_first_run_job_is_replaced_when_unready() -> None:
    render = render_stack("matrix", config=matrix_config("1.30"))
    [job] = [
        r
        for r in render.of_type("kubernetes:batch/v1:Job")
        if "-refresher-initial-" in r.inputs["metadata"]["name"]
    ]
    assert job.inputs["metadata"]["annotations"]["pulumi.com/replaceUnready"] == "true"
