"""WasmImages under the mock engine: ECR resources, copies/pushes, the refresher and its RBAC."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from acpw.contract import PULL_SECRET_NAME
from acpw.images import local_file_digest
from acpw.oci.provider import ROLE_TOOL
from acpw.refresher import (
    ECR_READ_ACTIONS,
    IRSA_ANNOTATION,
    REFRESH_SCHEDULE,
    REFRESHER_AWS_SECRET,
    REFRESHER_NAME,
    TOKEN_MOUNT,
    TOKEN_VOLUME,
    registry_region,
)
from tools.mock_engine import DYNAMIC_TYPE, Registration, is_secret
from tools.render import Render, render_stack

PIN = "sha256:" + "ab" * 32
VOLUME_PIN = "sha256:" + "cd" * 32
WASM = b"\0asm\x01\x00\x00\x00\x00\x05\x04acpw"
GATEWAYS = [
    {
        "name": "gw-a",
        "namespace": "edge-a",
        "selector": {"app": "gw-a"},
        "installer": "deploymentPatch",
    },
    {
        "name": "gw-b",
        "namespace": "edge-b",
        "selector": {"app": "gw-b"},
        "installer": "deploymentPatch",
    },
]


def render(
    version: str = "1.30", gateways: list[dict[str, Any]] | None = None, **images: Any
) -> Render:
    config: dict[str, Any] = {
        "aws:region": "ap-northeast-1",
        "acpw:istioVersion": version,
        "acpw:gateways": GATEWAYS if gateways is None else gateways,
        "acpw:images": images,
    }
    return render_stack("images-test", config=config)


def of_kind(result: Render, kind: str) -> list[dict[str, Any]]:
    return [o for o in result.kubernetes if o["kind"] == kind]


def dynamic(result: Render) -> dict[str, Registration]:
    return {r.name.rsplit("-images-", 1)[-1]: r for r in result.of_type(DYNAMIC_TYPE)}


def wasm_plugins(result: Render) -> list[dict[str, Any]]:
    return of_kind(result, "WasmPlugin")


def test_ecr_repositories_and_lifecycle() -> None:
    result = render(registry="ecr", ecrKeepImages=7, senderDigest=PIN)
    repos = result.of_type("aws:ecr/repository:Repository")
    assert sorted(r.inputs["name"] for r in repos) == [
        "acpw-images-test/receiver-volume",
        "acpw-images-test/sender",
    ]
    for repo in repos:
        assert repo.inputs["imageTagMutability"] == "IMMUTABLE"
        assert repo.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repo.inputs["encryptionConfigurations"] == [{"encryptionType": "AES256"}]
    policies = result.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    assert len(policies) == 2
    for policy in policies:
        [rule] = json.loads(policy.inputs["policy"])["rules"]
        assert rule["selection"] == {
            "tagStatus": "any",
            "countType": "imageCountMoreThan",
            "countNumber": 7,
        }
        assert rule["action"] == {"type": "expire"}


def test_ecr_repositories_with_a_kms_key() -> None:
    key = "arn:aws:kms:ap-northeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    result = render(registry="ecr", ecrKmsKeyArn=key, senderDigest=PIN)
    for repo in result.of_type("aws:ecr/repository:Repository"):
        assert repo.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key}]


def test_ecr_copy_is_pinned_and_reaches_wasm_plugin_and_init_container() -> None:
    result = render(registry="ecr", senderDigest=PIN, receiverVolumeDigest=VOLUME_PIN)
    pushes = dynamic(result)
    sender, volume = pushes["sender-push"], pushes["receiver-volume-push"]
    assert sender.inputs["kind"] == "copy"
    assert sender.inputs["source"].endswith(f"oci-sender:v0.1.0@{PIN}")
    assert sender.inputs["expected_digest"] == PIN
    assert sender.inputs["istio_version"] == "1.30"
    assert volume.inputs["expected_digest"] == VOLUME_PIN
    # The push token is a secret input (and a secret output of the resource).
    for push in (sender, volume):
        assert is_secret(push.inputs["target_credentials"])
    for plugin in wasm_plugins(result):
        assert plugin["spec"]["sha256"] == PIN.removeprefix("sha256:")
        assert plugin["spec"]["url"].startswith("oci://") and plugin["spec"]["url"].endswith(
            f"/acpw-images-test/sender@{PIN}"
        )
        assert plugin["spec"]["imagePullSecret"] == PULL_SECRET_NAME
    images = json.dumps(of_kind(result, "Deployment"))
    assert f"acpw-images-test/receiver-volume@{VOLUME_PIN}" in images
    assert json.dumps({"name": PULL_SECRET_NAME}) in images


def test_ecr_copy_without_pin_shows_unknown_digest() -> None:
    result = render(registry="ecr")
    sender = dynamic(result)["sender-push"]
    assert sender.inputs.get("expected_digest") is None
    for plugin in wasm_plugins(result):
        assert plugin["spec"]["sha256"].startswith("[unknown: manifest digest of ghcr.io/")


@pytest.mark.parametrize(("version", "wasm_format"), [("1.14", "compat"), ("1.30", "artifact")])
def test_local_sender_file_digest_known_before_push(
    tmp_path: Path, version: str, wasm_format: str
) -> None:
    path = tmp_path / "sender.wasm"
    path.write_bytes(WASM)
    result = render(version, registry="ecr", senderFile=str(path))
    sender = dynamic(result)["sender-push"]
    expected = local_file_digest(str(path), wasm_format)
    assert sender.inputs["kind"] == "wasmFile"
    assert sender.inputs["wasm_format"] == wasm_format
    assert sender.inputs["expected_digest"] == expected
    for plugin in wasm_plugins(result):
        assert plugin["spec"]["sha256"] == expected.removeprefix("sha256:")


def test_local_receiver_file_is_layered_on_the_volume_image(tmp_path: Path) -> None:
    path = tmp_path / "receiver.wasm"
    path.write_bytes(WASM)
    result = render(registry="ecr", receiverFile=str(path), receiverVolumeDigest=VOLUME_PIN)
    volume = dynamic(result)["receiver-volume-push"]
    assert volume.inputs["kind"] == "volumeFile"
    assert volume.inputs["base"].endswith(f"aws-cloudwatch-proxy-wasm:v0.1.0@{VOLUME_PIN}")
    assert len(volume.inputs["file_sha256"]) == 64


def test_local_file_that_is_not_wasm_fails_at_preview(tmp_path: Path) -> None:
    path = tmp_path / "sender.wasm"
    path.write_text("#!/bin/sh\necho not wasm\n")
    with pytest.raises(Exception, match=r"senderFile: .*not a WebAssembly module"):
        render(registry="ecr", senderFile=str(path))


def test_refresher_identity_is_least_privilege() -> None:
    result = render(registry="ecr")
    [policy] = [
        p
        for p in result.of_type("aws:iam/userPolicy:UserPolicy")
        if p.inputs["name"] == "acpw-ecr-pull"
    ]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    token, read = statements
    assert token["Action"] == "ecr:GetAuthorizationToken" and token["Resource"] == "*"
    assert read["Action"] == list(ECR_READ_ACTIONS)
    assert all(action.startswith("ecr:") and "Put" not in action for action in read["Action"])
    assert sorted(read["Resource"]) == sorted(
        r.inputs["name"].join(["arn:aws:ecr:ap-northeast-1:unknown-aws-account-id:repository/", ""])
        for r in result.of_type("aws:ecr/repository:Repository")
    )
    users = {u.inputs["name"] for u in result.of_type("aws:iam/user:User")}
    assert "acpw-images-test-ecr-refresh" in users  # its own user, not the receiver's
    [key] = [k for k in result.of_type("aws:iam/accessKey:AccessKey") if "refresher" in k.name]
    assert key.inputs["user"] == "acpw-images-test-ecr-refresh"


def refresher_objects(result: Render, kind: str) -> list[dict[str, Any]]:
    return [o for o in of_kind(result, kind) if o["metadata"]["name"].startswith(REFRESHER_NAME)]


def test_one_refresher_patches_the_pull_secret_in_every_gateway_namespace() -> None:
    result = render(registry="ecr")
    # One refresher, in the first gateway namespace; its key exists once.
    [cron] = refresher_objects(result, "CronJob")
    assert cron["metadata"]["namespace"] == "edge-a"
    [account] = refresher_objects(result, "ServiceAccount")
    assert account["metadata"]["namespace"] == "edge-a"
    assert account["automountServiceAccountToken"] is False
    [aws_secret] = [
        r
        for r in result.of_type("kubernetes:core/v1:Secret")
        if r.inputs["metadata"]["name"] == REFRESHER_AWS_SECRET
    ]
    assert aws_secret.inputs["metadata"]["namespace"] == "edge-a"
    for value in aws_secret.inputs["stringData"].values():
        assert is_secret(value) or is_secret(aws_secret.inputs["stringData"])
    # Per gateway namespace: get and patch on the one Secret name, bound to that account.
    for namespace in ("edge-a", "edge-b"):
        [role] = [
            r for r in refresher_objects(result, "Role") if r["metadata"]["namespace"] == namespace
        ]
        assert role["rules"] == [
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": [PULL_SECRET_NAME],
                "verbs": ["get", "patch"],
            }
        ]
        [binding] = [
            b
            for b in refresher_objects(result, "RoleBinding")
            if b["metadata"]["namespace"] == namespace
        ]
        assert binding["roleRef"]["name"] == REFRESHER_NAME
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": REFRESHER_NAME, "namespace": "edge-a"}
        ]
    assert cron["spec"]["schedule"] == REFRESH_SCHEDULE
    hours = REFRESH_SCHEDULE.split()[1]
    assert hours.startswith("*/") and int(hours[2:]) <= 6  # well before the 12 h expiry
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == REFRESHER_NAME
    [init] = pod["initContainers"]
    env = {e["name"]: e for e in init["env"]}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == REFRESHER_AWS_SECRET
    assert env["REGISTRY"]["value"].endswith(".dkr.ecr.ap-northeast-1.amazonaws.com")
    assert "set -x" not in init["command"][-1]
    patched = {}
    for container in pod["containers"]:
        command = container["command"]
        assert command[:4] == ["kubectl", "patch", "secret", PULL_SECRET_NAME]
        patched[command[command.index("--namespace") + 1]] = container
    assert sorted(patched) == ["edge-a", "edge-b"]
    [job] = refresher_objects(result, "Job")
    assert job["metadata"]["namespace"] == "edge-a"
    assert job["spec"] == cron["spec"]["jobTemplate"]["spec"]
    pull_secrets = [
        r
        for r in result.of_type("kubernetes:core/v1:Secret")
        if r.inputs["metadata"]["name"] == PULL_SECRET_NAME
    ]
    assert sorted(s.inputs["metadata"]["namespace"] for s in pull_secrets) == ["edge-a", "edge-b"]
    for secret in pull_secrets:
        assert secret.inputs["type"] == "kubernetes.io/dockerconfigjson"
        # Pulumi never writes a registry credential into it: the refresher Job fills it.
        assert json.loads(secret.plain_inputs()["stringData"][".dockerconfigjson"]) == {"auths": {}}


def test_only_the_kubectl_containers_get_a_service_account_token() -> None:
    result = render(registry="ecr")
    [cron] = refresher_objects(result, "CronJob")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    [token] = [v for v in pod["volumes"] if v["name"] == TOKEN_VOLUME]
    sources = token["projected"]["sources"]
    assert sources[0]["serviceAccountToken"]["path"] == "token"
    assert "audience" not in sources[0]["serviceAccountToken"]  # the API server's
    for container in pod["containers"]:
        assert {"name": TOKEN_VOLUME, "mountPath": TOKEN_MOUNT, "readOnly": True} in container[
            "volumeMounts"
        ]
    [init] = pod["initContainers"]
    assert TOKEN_VOLUME not in {m["name"] for m in init["volumeMounts"]}


def test_refresher_asks_for_the_token_in_the_registry_region() -> None:
    # The CloudWatch region differs from the AWS provider's (where the repositories live).
    config: dict[str, Any] = {
        "aws:region": "eu-west-1",
        "acpw:istioVersion": "1.30",
        "acpw:gateways": GATEWAYS,
        "acpw:cloudwatch": {"region": "ap-northeast-1"},
        "acpw:images": {"registry": "ecr"},
    }
    result = render_stack("images-test", config=config)
    [cron] = refresher_objects(result, "CronJob")
    [init] = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["initContainers"]
    env = {e["name"]: e.get("value") for e in init["env"]}
    assert env["AWS_REGION"] == "eu-west-1"
    assert env["REGISTRY"] == "unknown-aws-account-id.dkr.ecr.eu-west-1.amazonaws.com"


def test_registry_region_is_read_from_the_repository_url() -> None:
    assert registry_region("123456789012.dkr.ecr.us-east-2.amazonaws.com/a/b") == "us-east-2"
    assert registry_region("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/x") == "us-east-1"
    with pytest.raises(ValueError, match="not an ECR registry host"):
        registry_region("ghcr.io/hatappi/x")


def test_refresher_namespace_is_configurable() -> None:
    result = render(registry="ecr", refresherNamespace="acpw-system")
    [cron] = refresher_objects(result, "CronJob")
    assert cron["metadata"]["namespace"] == "acpw-system"
    for binding in refresher_objects(result, "RoleBinding"):
        assert binding["metadata"]["namespace"] in ("edge-a", "edge-b")
        assert binding["subjects"][0]["namespace"] == "acpw-system"
    pull_namespaces = {
        s["metadata"]["namespace"]
        for s in of_kind(result, "Secret")
        if s["metadata"]["name"] == PULL_SECRET_NAME
    }
    assert pull_namespaces == {"edge-a", "edge-b"}
    # Pulling its own tools from the private registry, it needs the pull secret at home too.
    copied = render(registry="ecr", refresherNamespace="acpw-system", copyToolImages=True)
    homes = {
        s["metadata"]["namespace"]
        for s in of_kind(copied, "Secret")
        if s["metadata"]["name"] == PULL_SECRET_NAME
    }
    assert homes == {"edge-a", "edge-b", "acpw-system"}
    [cron] = refresher_objects(copied, "CronJob")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    patched = {c["command"][c["command"].index("--namespace") + 1] for c in pod["containers"]}
    assert patched == homes
    roles = {r["metadata"]["namespace"] for r in refresher_objects(copied, "Role")}
    assert roles == homes


def test_refresher_role_arn_replaces_the_static_key() -> None:
    arn = "arn:aws:iam::123456789012:role/acpw/ecr-refresher"
    result = render(registry="ecr", refresherRoleArn=arn)
    users = {u.inputs["name"] for u in result.of_type("aws:iam/user:User")}
    assert "acpw-images-test-ecr-refresh" not in users
    assert not [k for k in result.of_type("aws:iam/accessKey:AccessKey") if "refresher" in k.name]
    assert not [
        s for s in of_kind(result, "Secret") if s["metadata"]["name"] == REFRESHER_AWS_SECRET
    ]
    [account] = refresher_objects(result, "ServiceAccount")
    assert account["metadata"]["annotations"] == {IRSA_ANNOTATION: arn}
    [cron] = refresher_objects(result, "CronJob")
    [init] = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["initContainers"]
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & {e["name"] for e in init["env"]}


OPERATOR_GATEWAY = {
    "name": "istio-ingressgateway",
    "namespace": "istio-system",
    "selector": {"app": "istio-ingressgateway"},
    "installer": "istioOperator",
}
"""On 1.20 the in-cluster operator applies it asynchronously: the one kind of gateway with a
rollout-check Job (a DeploymentPatch awaits its own rollout)."""
WITH_JOB: dict[str, Any] = {"version": "1.20", "gateways": [*GATEWAYS, OPERATOR_GATEWAY]}


def test_copy_tool_images_runs_them_from_the_private_registry() -> None:
    kubectl = "mirror.example.com/k8s/kubectl:v1.33.0@" + PIN
    aws_cli = "mirror.example.com/aws/aws-cli@" + VOLUME_PIN
    result = render(
        **WITH_JOB, registry="ecr", copyToolImages=True, kubectl=kubectl, awsCli=aws_cli
    )
    pushes = dynamic(result)
    for key, source, pin in (("kubectl-push", kubectl, PIN), ("aws-cli-push", aws_cli, VOLUME_PIN)):
        push = pushes[key]
        assert push.inputs["role"] == ROLE_TOOL and push.inputs["kind"] == "copy"
        assert push.inputs["source"] == source and push.inputs["expected_digest"] == pin
    repos = {r.inputs["name"] for r in result.of_type("aws:ecr/repository:Repository")}
    assert {"acpw-images-test/kubectl", "acpw-images-test/aws-cli"} <= repos
    private = "unknown-aws-account-id.dkr.ecr.ap-northeast-1.amazonaws.com/acpw-images-test"
    [cron] = refresher_objects(result, "CronJob")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": PULL_SECRET_NAME}]
    assert pod["initContainers"][0]["image"] == f"{private}/aws-cli@{VOLUME_PIN}"
    assert {c["image"] for c in pod["containers"]} == {f"{private}/kubectl@{PIN}"}
    rollout_jobs = [
        j for j in of_kind(result, "Job") if j["metadata"]["name"].startswith("acpw-rollout-")
    ]
    assert rollout_jobs
    for job in rollout_jobs:
        spec = job["spec"]["template"]["spec"]
        assert spec["imagePullSecrets"] == [{"name": PULL_SECRET_NAME}]
        assert {c["image"] for c in spec["containers"]} == {f"{private}/kubectl@{PIN}"}
    # The pull secret's token may read the copies too (the rollout-check Jobs pull with it).
    [policy] = [
        p
        for p in result.of_type("aws:iam/userPolicy:UserPolicy")
        if p.inputs["name"] == "acpw-ecr-pull"
    ]
    resources = json.loads(policy.inputs["policy"])["Statement"][1]["Resource"]
    assert len(resources) == 4 and any(r.endswith("/kubectl") for r in resources)


def test_tool_images_are_configurable_and_used_as_given() -> None:
    kubectl = "mirror.example.com/k8s/kubectl@" + PIN
    result = render(**WITH_JOB, kubectl=kubectl)
    jobs = [j for j in of_kind(result, "Job") if j["metadata"]["name"].startswith("acpw-rollout-")]
    assert jobs
    for job in jobs:
        spec = job["spec"]["template"]["spec"]
        assert {c["image"] for c in spec["containers"]} == {kubectl}
        assert "imagePullSecrets" not in spec


def test_no_registry_credential_in_outputs_or_render() -> None:
    result = render(registry="ecr")
    text = json.dumps([result.outputs, result.kubernetes, result.aws], default=str)
    assert "[unknown: registry password]" not in text
    assert "[unknown: registry token]" not in text
    for registration in result.of_type(DYNAMIC_TYPE):
        for key in ("target_credentials", "source_credentials", "credentials"):
            value = registration.inputs.get(key)
            assert value is None or is_secret(value)


def test_ghcr_resolves_digests_at_deploy_time_and_needs_no_secret() -> None:
    result = render("1.13")
    resolvers = dynamic(result)
    assert set(resolvers) == {"sender-digest", "receiver-volume-digest"}
    sender = resolvers["sender-digest"]
    assert sender.inputs["role"] == "sender" and sender.inputs["istio_version"] == "1.13"
    assert sender.inputs["source"] == "ghcr.io/hatappi/aws-cloudwatch-proxy-wasm/oci-sender:v0.1.0"
    assert sender.inputs.get("expected_digest") is None
    assert not result.of_type("aws:ecr/repository:Repository")
    assert not [c for c in of_kind(result, "CronJob") if c["metadata"]["name"] == REFRESHER_NAME]
    for plugin in wasm_plugins(result):
        assert plugin["spec"]["sha256"] == (
            "[unknown: manifest digest of ghcr.io/hatappi/aws-cloudwatch-proxy-wasm/oci-sender:v0.1.0]"
        )
        assert "imagePullSecret" not in plugin["spec"]
    assert "ghcr.io/hatappi/aws-cloudwatch-proxy-wasm:v0.1.0@[unknown: manifest digest of" in (
        json.dumps(result.outputs) + json.dumps(result.kubernetes)
    )


def test_ghcr_pinned_digest_is_verified_not_trusted_blindly() -> None:
    result = render("1.20", senderDigest=PIN)
    sender = dynamic(result)["sender-digest"]
    assert sender.inputs["expected_digest"] == PIN
    assert sender.inputs["source"].endswith(f":v0.1.0@{PIN}")
    for plugin in wasm_plugins(result):
        assert plugin["spec"]["sha256"] == PIN.removeprefix("sha256:")


def test_children_are_parented_to_the_component() -> None:
    result = render(registry="ecr")
    [component] = [r for r in result.registrations if r.type == "acpw:images:WasmImages"]
    mine = [r for r in result.registrations if r.name.startswith(component.name + "-")]
    assert len(mine) > 15
    assert {r.parent for r in mine} == {component.urn}


def test_the_one_refresher_takes_over_the_first_namespace_objects_of_earlier_releases() -> None:
    """Earlier releases named them per namespace; the first gateway namespace's become these."""
    result = render(registry="ecr")
    expected = {
        "acpw-images-refresher-sa": "acpw-images-refresher-sa-edge-a",
        "acpw-images-refresher-aws": "acpw-images-refresher-aws-edge-a",
        "acpw-images-refresher": "acpw-images-refresher-edge-a",
        "acpw-images-refresher-initial-g1": "acpw-images-refresher-initial-edge-a-g1",
    }
    by_name = {r.name: r for r in result.registrations}
    for name, old in expected.items():
        registration = by_name[name]
        [alias] = registration.aliases
        assert alias == registration.urn.rsplit("::", 1)[0] + "::" + old
    # Per-namespace objects keep their names: no alias needed.
    assert not by_name["acpw-images-refresher-role-edge-b"].aliases
    assert not by_name["acpw-images-pull-edge-b"].aliases
