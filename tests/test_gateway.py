"""Gateway pod changes, installers and the rollout hash."""

from __future__ import annotations

from typing import Any

import pytest

from acpw.config import AcpwConfig, load_config
from acpw.gateway import (
    ROLLOUT_HASH_ANNOTATION,
    deployment_patch,
    gateway_pod_changes,
    istio_operator,
    istio_operator_gateway,
    rollout_check_job,
    rollout_check_role_rules,
    rollout_hash,
)
from tests.matrix import matrix_config
from tools.render import render_stack

IMAGE = "ghcr.io/x/volume:1@sha256:" + "aa" * 32


def config_for(version: str, **raw: Any) -> AcpwConfig:
    return load_config(
        {"istioVersion": version, **raw}, project="acpw", stack="t", aws_region="ap-northeast-1"
    )


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
    changes = gateway_pod_changes(config_for(version), receiver_image=IMAGE, rollout_hash_value="h")
    assert env_names(changes) == [
        "ACPW_AWS_ACCESS_KEY_ID",
        "ACPW_AWS_SECRET_ACCESS_KEY",
        delivery_env,
    ]
    for env in changes.proxy_env[:2]:
        assert env["valueFrom"]["secretKeyRef"] == {
            "name": "acpw-aws-credentials",
            "key": env["name"],
        }
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
        assert {
            "name": "acpw-bootstrap",
            "configMap": {"name": "acpw-bootstrap"},
        } in changes.volumes
        assert {
            "name": "acpw-bootstrap",
            "mountPath": "/etc/istio/custom-bootstrap",
            "readOnly": True,
        } in changes.proxy_volume_mounts
    assert changes.pod_annotations == {ROLLOUT_HASH_ANNOTATION: "h"}


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
    changes = gateway_pod_changes(
        config, receiver_image=IMAGE, rollout_hash_value="h", pull_secret="pull"
    )
    body = deployment_patch(config.gateways[0], changes)
    assert body["metadata"] == {
        "name": "gw",
        "namespace": "ns",
        "annotations": {"pulumi.com/patchForce": "true"},
    }
    assert body["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    assert body["spec"]["progressDeadlineSeconds"] > 0
    pod = body["spec"]["template"]
    assert pod["metadata"]["annotations"] == {ROLLOUT_HASH_ANNOTATION: "h"}
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
    changes = gateway_pod_changes(config, receiver_image=IMAGE, rollout_hash_value="h")
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
    assert entry["k8s"]["strategy"] == {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    operator = istio_operator([entry])
    assert operator["spec"]["profile"] == "empty"
    assert operator["spec"]["components"]["ingressGateways"] == [entry]


BASE = {"receiver_image": IMAGE, "sender_url": "oci://r/s:1", "sender_sha256": "bb" * 32}


def hash_of(version: str = "1.30", base: dict[str, Any] | None = None, **raw: Any) -> str:
    return rollout_hash(config_for(version, **raw), **(base or BASE))


@pytest.mark.parametrize(
    "change",
    [
        {"cloudwatch": {"namespace": "Other"}},
        {"cloudwatch": {"metricName": "Other"}},
        {"cloudwatch": {"requestTimeoutMs": 1000}},
        {"iam": {"keyGeneration": 2}},
        {"receiverVmId": "other"},
    ],
)
def test_rollout_hash_changes_with_what_the_bootstrap_reads(change: dict[str, Any]) -> None:
    assert hash_of(**change) != hash_of()


@pytest.mark.parametrize("field", ["receiver_image", "sender_url", "sender_sha256"])
def test_rollout_hash_changes_with_the_images(field: str) -> None:
    assert hash_of(base={**BASE, field: BASE[field] + "0"}) != hash_of()


@pytest.mark.parametrize(
    "change",
    [
        {"matchHosts": ["a.example.com"]},
        {"failStrategy": "closed"},
        {"iam": {"tags": {"team": "x"}}},
        {"iam": {"path": "/other/"}},
        {"images": {"pullPolicy": "Always"}},
    ],
)
def test_rollout_hash_ignores_what_the_bootstrap_does_not_read(change: dict[str, Any]) -> None:
    assert hash_of(**change) == hash_of()


def _annotations(render: Any) -> list[str]:
    found = []
    for obj in render.kubernetes:
        if obj["kind"] == "Deployment":
            found.append(
                obj["spec"]["template"]["metadata"]["annotations"][ROLLOUT_HASH_ANNOTATION]
            )
        if obj["kind"] == "IstioOperator":
            for gw in obj["spec"]["components"]["ingressGateways"]:
                found.append(gw["k8s"]["podAnnotations"][ROLLOUT_HASH_ANNOTATION])
    return found


def test_key_rotation_rolls_every_gateway_through_the_program() -> None:
    before = _annotations(render_stack("m", config=matrix_config("1.20")))
    after = _annotations(render_stack("m", config=matrix_config("1.20", iam={"keyGeneration": 2})))
    tagged = _annotations(render_stack("m", config=matrix_config("1.20", iam={"tags": {"a": "b"}})))
    assert len(before) == 2
    assert all(b != a for b, a in zip(before, after, strict=True))
    assert tagged == before


class TestRolloutCheck:
    """Patch resources are not awaited by pulumi-kubernetes; a Job per patched gateway is."""

    def test_job_waits_for_the_rollout_and_fails_once(self) -> None:
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
        job = rollout_check_job(config.gateways[0], "0123456789abcdef", labels={"a": "b"})
        assert job["metadata"]["name"] == "acpw-rollout-check-gw-0123456789"
        assert job["spec"]["backoffLimit"] == 0
        [container] = job["spec"]["template"]["spec"]["containers"]
        assert container["command"][:4] == ["kubectl", "rollout", "status", "deployment/gw"]
        assert "--namespace=ns" in container["command"]
        assert job["spec"]["template"]["metadata"]["annotations"] == {
            "sidecar.istio.io/inject": "false"
        }
        assert job["spec"]["template"]["spec"]["serviceAccountName"] == "acpw-rollout-check"

    def test_role_is_read_only_on_the_gateways(self) -> None:
        [rule] = rollout_check_role_rules(["b", "a"])
        assert rule == {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "resourceNames": ["a", "b"],
            "verbs": ["get", "list", "watch"],
        }

    def test_the_program_checks_every_patched_gateway_after_its_patch(self) -> None:
        render = render_stack("m", config=matrix_config("1.30"))
        by_urn = {r.urn: r for r in render.registrations}
        jobs = [
            r
            for r in render.of_type("kubernetes:batch/v1:Job")
            if r.inputs["metadata"]["name"].startswith("acpw-rollout-check")
        ]
        patches = render.of_type("kubernetes:apps/v1:DeploymentPatch")
        assert len(jobs) == len(patches) == 1  # the matrix has one deploymentPatch gateway
        [job], [patch] = jobs, patches
        assert patch.urn in job.dependencies
        needed = {by_urn[d].type for d in job.dependencies}
        assert {
            "kubernetes:rbac.authorization.k8s.io/v1:Role",
            "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
            "kubernetes:core/v1:ServiceAccount",
        } <= needed
        hash_value = patch.inputs["spec"]["template"]["metadata"]["annotations"][
            ROLLOUT_HASH_ANNOTATION
        ]
        assert job.inputs["metadata"]["name"].endswith(hash_value[:10])

    def test_a_new_rollout_gets_a_new_job(self) -> None:
        def job_names(**overrides: Any) -> list[str]:
            render = render_stack("m", config=matrix_config("1.30", **overrides))
            return [
                r.inputs["metadata"]["name"]
                for r in render.of_type("kubernetes:batch/v1:Job")
                if r.inputs["metadata"]["name"].startswith("acpw-rollout-check")
            ]

        assert job_names() != job_names(iam={"keyGeneration": 2})
        assert job_names() == job_names(iam={"tags": {"x": "y"}})
