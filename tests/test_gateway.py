"""Gateway pod changes, installers and the rollout hash."""

from __future__ import annotations

from typing import Any

import pytest

from acpw.config import AcpwConfig, load_config
from acpw.contract import ROLLOUT_LABEL, ROLLOUT_SPEC_ANNOTATION, SENDER_ANNOTATION
from acpw.gateway import (
    deployment_patch,
    gateway_pod_changes,
    istio_operator,
    istio_operator_gateway,
    strategy_patch,
)
from acpw.generations import (
    Generation,
    RolloutSpec,
    bootstrap_configmap_name,
    credentials_secret_name,
)
from acpw.istio_resources import bootstrap_file
from acpw.rollout_check import job_name, rollout_check_job, rollout_check_role_rules
from tests.matrix import matrix_config
from tools.render import render_stack

IMAGE = "ghcr.io/x/volume:1@sha256:" + "aa" * 32


def config_for(version: str, **raw: Any) -> AcpwConfig:
    return load_config(
        {"istioVersion": version, **raw}, project="acpw", stack="t", aws_region="ap-northeast-1"
    )


def generation(config: AcpwConfig) -> Generation:
    return Generation(RolloutSpec.from_config(config), "oci://r/s:1", None, IMAGE)


def env_names(changes: Any) -> list[str]:
    return [e["name"] for e in changes.proxy_env]


@pytest.mark.parametrize(
    ("version", "delivery_env"),
    [
        ("1.13", "BOOTSTRAP_XDS_AGENT"),
        ("1.20", "BOOTSTRAP_XDS_AGENT"),
        ("1.21", "ISTIO_BOOTSTRAP_OVERRIDE"),
        ("1.30", "ISTIO_BOOTSTRAP_OVERRIDE"),
    ],
)
def test_pod_changes_per_version(version: str, delivery_env: str) -> None:
    config = config_for(version)
    pod = generation(config)
    changes = gateway_pod_changes(config, pod)
    assert env_names(changes) == [
        "ACPW_AWS_ACCESS_KEY_ID",
        "ACPW_AWS_SECRET_ACCESS_KEY",
        delivery_env,
    ]
    secret = credentials_secret_name(pod.spec.key, config.names)
    assert secret.startswith("acpw-aws-credentials-g1-")
    for env in changes.proxy_env[:2]:
        assert env["valueFrom"]["secretKeyRef"] == {"name": secret, "key": env["name"]}
    [init] = changes.init_containers
    assert init["image"] == IMAGE
    assert init["command"] == ["cp", "./receiver.wasm", "/aws-cloudwatch-proxy-wasm/"]
    assert init["volumeMounts"] == [
        {"name": "acpw-receiver-wasm", "mountPath": "/aws-cloudwatch-proxy-wasm"}
    ]
    assert changes.proxy_volume_mounts[0] == {
        "name": "acpw-receiver-wasm",
        "mountPath": "/aws-cloudwatch-proxy-wasm",
        "readOnly": True,
    }
    assert {"name": "acpw-receiver-wasm", "emptyDir": {}} in changes.volumes
    if delivery_env == "BOOTSTRAP_XDS_AGENT":
        assert changes.proxy_env[2]["value"] == "true"
        assert len(changes.volumes) == 1
    else:
        assert changes.proxy_env[2]["value"] == "/etc/istio/custom-bootstrap/custom_bootstrap.json"
        bootstrap = bootstrap_configmap_name(bootstrap_file(config), config.names)
        assert bootstrap.startswith("acpw-bootstrap-")
        assert {"name": "acpw-bootstrap", "configMap": {"name": bootstrap}} in changes.volumes
        assert {
            "name": "acpw-bootstrap",
            "mountPath": "/etc/istio/custom-bootstrap",
            "readOnly": True,
        } in changes.proxy_volume_mounts
    assert changes.pod_labels == {ROLLOUT_LABEL: pod.id}
    assert changes.pod_annotations == {
        ROLLOUT_SPEC_ANNOTATION: pod.spec.to_json(),
        SENDER_ANNOTATION: '{"sha256":null,"url":"oci://r/s:1"}',
    }


def test_deployment_patch_never_lowers_capacity() -> None:
    config = config_for(
        "1.30",
        gateways=[
            {
                "name": "gw",
                "namespace": "ns",
                "selector": {"app": "gw"},
                "installer": "deploymentPatch",
            }
        ],
    )
    changes = gateway_pod_changes(config, generation(config), pull_secret="pull")
    body = deployment_patch(config.gateways[0], changes)
    assert body["metadata"] == {
        "name": "gw",
        "namespace": "ns",
        "annotations": {"pulumi.com/patchForce": "true"},
    }
    # The strategy is the strategy patch's alone: a relinquish of this one never drops it.
    assert set(body["spec"]) == {"template"}
    strategy = strategy_patch(config.gateways[0])
    assert strategy["metadata"] == {
        "name": "gw",
        "namespace": "ns",
        "annotations": {"pulumi.com/patchForce": "true", "pulumi.com/skipAwait": "true"},
    }
    # maxUnavailable stays 0; the surge is a percentage (configurable), not one pod at a time.
    assert strategy["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
    }
    assert strategy["spec"]["progressDeadlineSeconds"] > 0
    assert "template" not in strategy["spec"]
    pod = body["spec"]["template"]
    assert pod["metadata"]["annotations"] == changes.pod_annotations
    assert pod["metadata"]["labels"] == changes.pod_labels
    assert pod["spec"]["containers"] == [
        {
            "name": "istio-proxy",
            "env": changes.proxy_env,
            "volumeMounts": changes.proxy_volume_mounts,
        }
    ]
    assert pod["spec"]["imagePullSecrets"] == [{"name": "pull"}]


def test_istio_operator_uses_overlays_not_k8s_env_or_volumes() -> None:
    config = config_for("1.13")
    changes = gateway_pod_changes(config, generation(config))
    entry = istio_operator_gateway(config.gateways[0], changes)
    assert set(entry["k8s"]) == {"strategy", "podAnnotations", "overlays"}
    [overlay] = entry["k8s"]["overlays"]
    assert (overlay["apiVersion"], overlay["kind"], overlay["name"]) == (
        "apps/v1",
        "Deployment",
        "istio-ingressgateway",
    )
    paths = [p["path"] for p in overlay["patches"]]
    assert paths.count("spec.template.spec.initContainers.[1000]") == 1
    assert paths.count("spec.template.spec.containers.[name:istio-proxy].env.[1000]") == 3
    assert paths.count("spec.template.spec.containers.[name:istio-proxy].volumeMounts.[1000]") == 1
    assert paths.count("spec.template.spec.volumes.[1000]") == 1
    # The generation label through an overlay: `label` would change the immutable selector.
    assert paths.count(f"spec.template.metadata.labels.{ROLLOUT_LABEL}") == 1
    assert entry["label"] == dict(config.gateways[0].selector)
    assert entry["k8s"]["strategy"] == {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}}
    operator = istio_operator([entry])
    assert operator["spec"]["profile"] == "empty"
    assert operator["spec"]["components"]["ingressGateways"] == [entry]


def generation_of(version: str = "1.30", **raw: Any) -> str:
    return RolloutSpec.from_config(config_for(version, **raw)).id


@pytest.mark.parametrize(
    "change",
    [
        {"cloudwatch": {"namespace": "Other"}},
        {"cloudwatch": {"metricName": "Other"}},
        {"cloudwatch": {"requestTimeoutMs": 1000}},
        {"iam": {"keyGeneration": 2}},
        {"iam": {"userName": "other-user"}},
        {"receiverVmId": "other"},
        {"matchHosts": ["a.example.com"]},
        {"failStrategy": "closed"},
        {"images": {"pullPolicy": "Always"}},
        {"images": {"senderDigest": "sha256:" + "ab" * 32}},
        {"images": {"receiverVolumeDigest": "sha256:" + "cd" * 32}},
        {"images": {"receiver_volume": "ghcr.io/x/volume:2"}},
    ],
)
def test_generation_covers_everything_a_pod_runs_with(change: dict[str, Any]) -> None:
    if "receiver_volume" in change.get("images", {}):
        change = {"images": {"receiverVolume": change["images"]["receiver_volume"]}}
    assert generation_of(**change) != generation_of()


def test_generation_follows_the_receiver_delivery() -> None:
    assert generation_of("1.20") != generation_of("1.21")


@pytest.mark.parametrize(
    "change",
    [
        {"iam": {"tags": {"team": "x"}}},
        {"iam": {"path": "/other/"}},
        {"images": {"ecrKeepImages": 3}},
    ],
)
def test_generation_ignores_what_no_pod_reads(change: dict[str, Any]) -> None:
    assert generation_of(**change) == generation_of()


def test_generation_spec_round_trips_through_the_pod_annotation() -> None:
    spec = RolloutSpec.from_config(config_for("1.30", matchHosts=["a.example.com"]))
    assert RolloutSpec.from_json(spec.to_json()) == spec
    assert RolloutSpec.from_json(spec.to_json()).id == spec.id


def _labels(render: Any) -> list[str]:
    found = []
    for obj in render.kubernetes:
        if obj["kind"] == "Deployment" and "template" in obj.get("spec", {}):
            found.append(obj["spec"]["template"]["metadata"]["labels"][ROLLOUT_LABEL])
        if obj["kind"] == "IstioOperator":
            for gw in obj["spec"]["components"]["ingressGateways"]:
                [overlay] = gw["k8s"]["overlays"]
                found += [
                    p["value"]
                    for p in overlay["patches"]
                    if p["path"] == f"spec.template.metadata.labels.{ROLLOUT_LABEL}"
                ]
    return found


def test_key_rotation_rolls_every_gateway_through_the_program() -> None:
    before = _labels(render_stack("m", config=matrix_config("1.20")))
    after = _labels(render_stack("m", config=matrix_config("1.20", iam={"keyGeneration": 2})))
    renamed = _labels(render_stack("m", config=matrix_config("1.20", iam={"userName": "u2"})))
    tagged = _labels(render_stack("m", config=matrix_config("1.20", iam={"tags": {"a": "b"}})))
    assert len(before) == 2
    assert all(b != a for b, a in zip(before, after, strict=True))
    assert all(b != a for b, a in zip(before, renamed, strict=True))
    assert tagged == before


PATCHED = {
    "name": "gw",
    "namespace": "ns",
    "selector": {"app": "gw"},
    "installer": "deploymentPatch",
}
GATEWAY_API = {"name": "partner-gateway", "namespace": "partner", "installer": "gatewayApi"}


class TestRolloutCheck:
    """Rollout-check Jobs, for the in-cluster operator only (it applies asynchronously)."""

    def test_job_waits_for_the_rollout_by_progress_and_is_replaced_when_unready(self) -> None:
        config = config_for("1.30", gateways=[PATCHED])
        job = rollout_check_job(
            config.gateways[0],
            "n",
            "0123456789ab",
            wait_for_template=False,
            image=config.images.kubectl,
        )
        assert job["metadata"]["annotations"] == {"pulumi.com/replaceUnready": "true"}
        assert job["spec"]["backoffLimit"] == 0
        [container] = job["spec"]["template"]["spec"]["containers"]
        assert container["command"] == [
            "kubectl",
            "rollout",
            "status",
            "deployment/gw",
            "--namespace=ns",
        ]
        # No total timeout: the Deployment's progress deadline ends a rollout that stalls.
        assert not any(arg.startswith("--timeout") for arg in container["command"])
        assert "initContainers" not in job["spec"]["template"]["spec"]
        assert job["spec"]["template"]["metadata"]["annotations"] == {
            "sidecar.istio.io/inject": "false"
        }
        assert job["spec"]["template"]["spec"]["serviceAccountName"] == "acpw-rollout-check"

    def test_operator_job_first_waits_for_the_template_to_carry_the_generation(self) -> None:
        config = config_for("1.20")
        job = rollout_check_job(
            config.gateways[0],
            "n",
            "0123456789ab",
            wait_for_template=True,
            image=config.images.kubectl,
        )
        [wait] = job["spec"]["template"]["spec"]["initContainers"]
        assert wait["command"][:3] == ["kubectl", "wait", "deployment/istio-ingressgateway"]
        assert (
            f"--for=jsonpath={{.spec.template.metadata.labels.{ROLLOUT_LABEL}}}=0123456789ab"
            in wait["command"]
        )

    def test_job_names_are_unique_per_gateway_and_change(self) -> None:
        config = config_for(
            "1.30",
            gateways=[
                {**PATCHED, "name": "a" * 60, "selector": {"app": "a"}},
                {**PATCHED, "name": "a" * 60 + "b", "selector": {"app": "b"}},
                {**PATCHED, "name": "a" * 60, "namespace": "other", "selector": {"app": "a"}},
            ],
        )
        names = {job_name(g, {"generation": "x"}) for g in config.gateways}
        assert len(names) == 3
        assert all(len(n) <= 63 for n in names)
        gateway = config.gateways[0]
        assert job_name(gateway, {"generation": "x"}) != job_name(gateway, {"generation": "y"})

    def test_role_is_read_only_on_the_gateways(self) -> None:
        [rule] = rollout_check_role_rules(["b", "a"])
        assert rule == {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "resourceNames": ["a", "b"],
            "verbs": ["get", "list", "watch"],
        }

    @pytest.mark.parametrize("version", ["1.20", "1.30"])
    def test_jobs_only_where_nothing_else_waits(self, version: str) -> None:
        """A DeploymentPatch is awaited by the provider like a Deployment: no Job for it. Only
        the in-cluster operator (1.20) applies asynchronously, so only its gateway gets one."""
        render = render_stack("m", config=matrix_config(version))
        by_urn = {r.urn: r for r in render.registrations}
        jobs = [
            r
            for r in render.of_type("kubernetes:batch/v1:Job")
            if r.inputs["metadata"]["name"].startswith("acpw-rollout-")
        ]
        operators = render.of_type("kubernetes:install.istio.io/v1alpha1:IstioOperator")
        assert len(jobs) == len(operators) == (1 if version == "1.20" else 0)
        for job in jobs:
            rollers = [by_urn[d] for d in job.dependencies if by_urn[d] in operators]
            assert len(rollers) == 1
            assert job.inputs["spec"]["template"]["spec"]["containers"][0]["command"][3] == (
                "deployment/istio-ingressgateway"
            )
            assert job.inputs["metadata"]["annotations"]["pulumi.com/replaceUnready"] == "true"
        accounts = render.of_type("kubernetes:core/v1:ServiceAccount")
        checkers = [a for a in accounts if a.inputs["metadata"]["name"] == "acpw-rollout-check"]
        # RBAC only in namespaces with a Job: none for the patched gateway's namespace "edge".
        assert [a.inputs["metadata"]["namespace"] for a in checkers] == (
            ["istio-system"] if version == "1.20" else []
        )

    def test_a_new_rollout_gets_a_new_job(self) -> None:
        def job_names(**overrides: Any) -> list[str]:
            render = render_stack("m", config=matrix_config("1.20", **overrides))
            return [
                r.inputs["metadata"]["name"]
                for r in render.of_type("kubernetes:batch/v1:Job")
                if r.inputs["metadata"]["name"].startswith("acpw-rollout-")
            ]

        assert job_names() != job_names(iam={"keyGeneration": 2})
        assert job_names() != job_names(images={"pullPolicy": "Always"})
        assert job_names() == job_names(iam={"tags": {"x": "y"}})


class TestPatchAwaits:
    """The patch is the awaiter: explicit timeouts, a record that never waits, a removal that
    relinquishes nothing (provider facts: acpw/installers.py, acpw/gateway.py)."""

    @staticmethod
    def options(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        """Per resource name: the registration's customTimeouts and retainOnDelete."""
        import tools.mock_engine as engine

        seen: dict[str, Any] = {}
        original = engine.RecordingMonitor.RegisterResource

        def record(self: Any, request: Any) -> Any:
            seen[request.name] = {
                "create": request.customTimeouts.create,
                "update": request.customTimeouts.update,
                "retain": bool(request.retainOnDelete),
            }
            return original(self, request)

        monkeypatch.setattr(engine.RecordingMonitor, "RegisterResource", record)
        return seen

    def test_the_gateway_patch_has_a_long_backstop_and_a_progress_deadline(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        seen = self.options(monkeypatch)
        render = render_stack("m", config=matrix_config("1.30"))
        [patch] = _pod_patches(render)
        assert patch.inputs["metadata"]["name"] == "edge-gateway"
        assert "pulumi.com/skipAwait" not in patch.inputs["metadata"]["annotations"]
        assert seen[patch.name] == {"create": "21600s", "update": "21600s", "retain": False}
        # The deadline that ends a stuck rollout is the strategy patch's, applied before it.
        [strategy] = _strategy_patches(render)
        assert strategy.inputs["metadata"]["name"] == "edge-gateway"
        assert strategy.inputs["spec"]["progressDeadlineSeconds"] == 600
        assert "template" not in strategy.inputs["spec"]
        assert strategy.inputs["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
        assert seen[strategy.name]["retain"] is True
        assert strategy.urn in patch.dependencies

    def test_the_generations_record_never_waits(self) -> None:
        render = render_stack("m", config=matrix_config("1.30"))
        [record] = [
            p
            for p in render.of_type("kubernetes:apps/v1:DeploymentPatch")
            if "spec" not in p.inputs
        ]
        assert record.inputs["metadata"]["name"] == "istio-ingressgateway"
        assert record.inputs["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"

    def test_a_gateway_turned_off_keeps_its_patch_on_delete(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Step 1 of removal (enabled: false) marks the patch retainOnDelete, so step 2 (the
        entry deleted) does not relinquish maxUnavailable: 0 and roll under the API defaults."""
        seen = self.options(monkeypatch)
        config = matrix_config("1.30")
        config["acpw:gateways"][1]["enabled"] = False
        render = render_stack("m", config=config)
        [patch] = _pod_patches(render)
        assert seen[patch.name]["retain"] is True
        [strategy] = _strategy_patches(render)
        assert strategy.inputs["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert seen[strategy.name]["retain"] is True


def _pod_patches(render: Any) -> list[Any]:
    return [
        p
        for p in render.of_type("kubernetes:apps/v1:DeploymentPatch")
        if "template" in p.inputs.get("spec", {})
    ]


def _strategy_patches(render: Any) -> list[Any]:
    return [
        p
        for p in render.of_type("kubernetes:apps/v1:DeploymentPatch")
        if "strategy" in p.inputs.get("spec", {})
    ]


def test_every_installer_has_an_entry_and_nothing_else_passes() -> None:
    from acpw.config import ConfigError
    from acpw.installers import INSTALLERS, Awaiter, installer_of

    assert set(INSTALLERS) == {"istioOperator", "deploymentPatch", "gatewayApi"}
    config = config_for("1.20", gateways=[PATCHED])
    assert installer_of(config, config.gateways[0]).awaiter is Awaiter.PATCH
    assert installer_of(config_for("1.20"), config_for("1.20").gateways[0]).awaiter is Awaiter.JOB
    assert installer_of(config_for("1.30"), config_for("1.30").gateways[0]).awaiter is (
        Awaiter.NOBODY
    )
    gateway_api = config_for("1.30", gateways=[GATEWAY_API])
    assert installer_of(gateway_api, gateway_api.gateways[0]).awaiter is Awaiter.JOB
    unknown = config.gateways[0].model_copy(update={"installer": "helm"})
    with pytest.raises(ConfigError, match="allowed: deploymentPatch, gatewayApi, istioOperator"):
        installer_of(config, unknown)
