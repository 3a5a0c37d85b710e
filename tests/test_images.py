"""WasmImages under the mock engine: digests, the ECR pull-through cache, the refresher and its RBAC."""

from __future__ import annotations

import json
from typing import Any

import pytest

from acpw.contract import PULL_SECRET_NAME
from acpw.images import cached_repository, stack_prefix
from acpw.refresher import (
    ECR_READ_ACTIONS,
    IRSA_ANNOTATION,
    PULL_THROUGH_ACTIONS,
    REFRESH_SCHEDULE,
    REFRESHER_AWS_SECRET,
    REFRESHER_NAME,
    TOKEN_MOUNT,
    TOKEN_VOLUME,
    registry_region,
)
from tools.mock_engine import DYNAMIC_TYPE, REGISTRY_IMAGE_INVOKE, is_secret
from tools.render import Render, render_stack

PIN = "sha256:" + "ab" * 32
VOLUME_PIN = "sha256:" + "cd" * 32
GHCR_CREDENTIAL = (
    "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:ecr-pullthroughcache/ghcr-AbCdEf"
)
HUB_CREDENTIAL = (
    "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:ecr-pullthroughcache/hub-AbCdEf"
)
PRIVATE = "unknown-aws-account-id.dkr.ecr.ap-northeast-1.amazonaws.com"
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


def ecr_images(images: dict[str, Any]) -> dict[str, Any]:
    """Registry ecr with the ghcr.io credential the default images need."""
    if images.get("registry") == "ecr":
        images = {"ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL}, **images}
    return images


def render(
    version: str = "1.30", gateways: list[dict[str, Any]] | None = None, **images: Any
) -> Render:
    config: dict[str, Any] = {
        "aws:region": "ap-northeast-1",
        "acpw:istioVersion": version,
        "acpw:gateways": GATEWAYS if gateways is None else gateways,
        "acpw:images": ecr_images(images),
    }
    return render_stack("images-test", config=config)


def of_kind(result: Render, kind: str) -> list[dict[str, Any]]:
    return [o for o in result.kubernetes if o["kind"] == kind]


def wasm_plugins(result: Render) -> list[dict[str, Any]]:
    return of_kind(result, "WasmPlugin")


@pytest.mark.parametrize(
    "images",
    [
        {},
        {"senderDigest": PIN, "receiverVolumeDigest": VOLUME_PIN},
        {"registry": "ecr"},
        {"registry": "ecr", "senderDigest": PIN},
        {
            "registry": "ecr",
            "copyToolImages": True,
            "ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL, "docker.io": HUB_CREDENTIAL},
        },
    ],
    ids=["ghcr", "ghcr-pinned", "ecr", "ecr-pinned", "ecr-tools"],
)
def test_no_dynamic_provider_in_the_graph(images: dict[str, Any]) -> None:
    """Every registered resource is served by a real provider plugin (docs/ARCHITECTURE.md)."""
    result = render(**images)
    types = {r.type for r in result.registrations}
    assert DYNAMIC_TYPE not in types
    assert not [t for t in types if t.startswith("pulumi-python:")]
    assert result.images["dynamicResources"] == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_dynamic_provider_in_the_committed_stacks(stack: str) -> None:
    result = render_stack(stack)
    assert DYNAMIC_TYPE not in {r.type for r in result.registrations}


def test_ghcr_tags_are_read_from_the_registry_by_the_docker_provider() -> None:
    result = render("1.13")
    assert result.registry_reads == [
        "ghcr.io/hatappi/aws-cloudwatch-proxy-wasm/oci-sender:v0.1.0",
        "ghcr.io/hatappi/aws-cloudwatch-proxy-wasm:v0.1.0",
    ]
    assert not result.of_type("aws:ecr/pullThroughCacheRule:PullThroughCacheRule")
    assert not [c for c in of_kind(result, "CronJob") if c["metadata"]["name"] == REFRESHER_NAME]
    for plugin in wasm_plugins(result):
        assert plugin["spec"]["url"] == (
            "oci://ghcr.io/hatappi/aws-cloudwatch-proxy-wasm/oci-sender:v0.1.0"
        )
        assert plugin["spec"]["sha256"] == (
            "[unknown: manifest digest of ghcr.io/hatappi/aws-cloudwatch-proxy-wasm/oci-sender:v0.1.0]"
        )
        assert "imagePullSecret" not in plugin["spec"]
    assert "ghcr.io/hatappi/aws-cloudwatch-proxy-wasm:v0.1.0@[unknown: manifest digest of" in (
        json.dumps(result.kubernetes)
    )


def test_pinned_digests_need_no_registry_read() -> None:
    """Pinned, nothing calls the docker provider: no Docker daemon is needed to deploy."""
    result = render("1.20", senderDigest=PIN, receiverVolumeDigest=VOLUME_PIN)
    assert result.registry_reads == []
    for plugin in wasm_plugins(result):
        assert plugin["spec"]["sha256"] == PIN.removeprefix("sha256:")
    assert f"ghcr.io/hatappi/aws-cloudwatch-proxy-wasm:v0.1.0@{VOLUME_PIN}" in json.dumps(
        of_kind(result, "Deployment")
    )


def test_a_digest_in_the_reference_is_a_pin() -> None:
    result = render(sender=f"oci://ghcr.io/me/sender@{PIN}", receiverVolumeDigest=VOLUME_PIN)
    assert result.registry_reads == []
    for plugin in wasm_plugins(result):
        assert plugin["spec"]["sha256"] == PIN.removeprefix("sha256:")


def test_ecr_pull_through_rule_and_template() -> None:
    result = render(registry="ecr", ecrKeepImages=7, senderDigest=PIN)
    [rule] = result.of_type("aws:ecr/pullThroughCacheRule:PullThroughCacheRule")
    assert rule.inputs == {
        "ecrRepositoryPrefix": "acpw-images-test/ghcr",
        "upstreamRegistryUrl": "ghcr.io",
        "credentialArn": GHCR_CREDENTIAL,
    }
    [template] = result.of_type("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate")
    assert template.inputs["prefix"] == rule.inputs["ecrRepositoryPrefix"]
    assert template.inputs["appliedFors"] == ["PULL_THROUGH_CACHE"]
    # Mutable: the cache follows its upstream only while tags are mutable; pods pull by digest.
    assert template.inputs["imageTagMutability"] == "MUTABLE"
    assert template.inputs["encryptionConfigurations"] == [{"encryptionType": "AES256"}]
    assert "customRoleArn" not in template.inputs and "resourceTags" not in template.inputs
    [lifecycle] = json.loads(template.inputs["lifecyclePolicy"])["rules"]
    assert lifecycle["selection"] == {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": 7,
    }
    # No repository of its own, no copy: ECR creates the cached repositories on first pull.
    assert not result.of_type("aws:ecr/repository:Repository")


def test_ecr_with_a_kms_key_takes_a_creation_role() -> None:
    key = "arn:aws:kms:ap-northeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    role = "arn:aws:iam::123456789012:role/ecr-template"
    result = render(registry="ecr", ecrKmsKeyArn=key, ecrCreationRoleArn=role, senderDigest=PIN)
    [template] = result.of_type("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate")
    assert template.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key}]
    assert template.inputs["customRoleArn"] == role
    assert template.inputs["resourceTags"]["pulumi:stack"] == "images-test"


def test_ecr_images_point_at_the_cache_by_digest() -> None:
    result = render(registry="ecr", senderDigest=PIN, receiverVolumeDigest=VOLUME_PIN)
    assert result.registry_reads == []
    cache = f"{PRIVATE}/acpw-images-test/ghcr/hatappi/aws-cloudwatch-proxy-wasm"
    for plugin in wasm_plugins(result):
        assert plugin["spec"]["sha256"] == PIN.removeprefix("sha256:")
        assert plugin["spec"]["url"] == f"oci://{cache}/oci-sender@{PIN}"
        assert plugin["spec"]["imagePullSecret"] == PULL_SECRET_NAME
    images = json.dumps(of_kind(result, "Deployment"))
    assert f"{cache}@{VOLUME_PIN}" in images
    assert json.dumps({"name": PULL_SECRET_NAME}) in images


def test_ecr_unpinned_reads_the_upstream_digest() -> None:
    result = render(registry="ecr")
    assert result.registry_reads == [
        "ghcr.io/hatappi/aws-cloudwatch-proxy-wasm/oci-sender:v0.1.0",
        "ghcr.io/hatappi/aws-cloudwatch-proxy-wasm:v0.1.0",
    ]
    for plugin in wasm_plugins(result):
        assert plugin["spec"]["sha256"].startswith("[unknown: manifest digest of ghcr.io/")


def test_cache_prefix_fits_ecr_limits() -> None:
    prefix = stack_prefix("a-very-long-project-name", "production-eu-west-1", "docker-hub")
    assert len(prefix) <= 30 and prefix.endswith("/docker-hub")
    assert stack_prefix("Acpw", "Dev_1", "ghcr") == "acpw-dev-1/ghcr"
    assert cached_repository("p/docker-hub", "docker.io/amazon/aws-cli:2@" + PIN) == (
        "p/docker-hub/amazon/aws-cli"
    )
    assert cached_repository("p/docker-hub", "busybox:1") == "p/docker-hub/library/busybox"


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
    # Reading, plus what the first pull through the cache takes (creating the repository and
    # importing the image); nothing that pushes or deletes.
    assert read["Action"] == [*ECR_READ_ACTIONS, *PULL_THROUGH_ACTIONS]
    assert "ecr:BatchImportUpstreamImage" in read["Action"]
    assert all(action.startswith("ecr:") and "Put" not in action for action in read["Action"])
    assert read["Resource"] == [
        "arn:aws:ecr:ap-northeast-1:unknown-aws-account-id:repository/acpw-images-test/ghcr/*"
    ]
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
        "acpw:images": ecr_images({"registry": "ecr"}),
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
    copied = render(
        registry="ecr",
        refresherNamespace="acpw-system",
        copyToolImages=True,
        ecrUpstreamCredentials={"ghcr.io": GHCR_CREDENTIAL, "docker.io": HUB_CREDENTIAL},
    )
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


def test_copy_tool_images_runs_them_from_the_cache() -> None:
    kubectl = "registry.k8s.io/kubectl:v1.33.0@" + PIN
    aws_cli = "public.ecr.aws/aws-cli/aws-cli@" + VOLUME_PIN
    result = render(
        **WITH_JOB, registry="ecr", copyToolImages=True, kubectl=kubectl, awsCli=aws_cli
    )
    rules = {
        r.inputs["upstreamRegistryUrl"]: r
        for r in result.of_type("aws:ecr/pullThroughCacheRule:PullThroughCacheRule")
    }
    assert sorted(rules) == ["ghcr.io", "public.ecr.aws", "registry.k8s.io"]
    # Anonymous upstreams take no credential.
    assert "credentialArn" not in rules["registry.k8s.io"].inputs
    [cron] = refresher_objects(result, "CronJob")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": PULL_SECRET_NAME}]
    assert pod["initContainers"][0]["image"] == (
        f"{PRIVATE}/acpw-images-test/ecr-public/aws-cli/aws-cli@{VOLUME_PIN}"
    )
    kubectl_cached = f"{PRIVATE}/acpw-images-test/k8s/kubectl@{PIN}"
    assert {c["image"] for c in pod["containers"]} == {kubectl_cached}
    rollout_jobs = [
        j for j in of_kind(result, "Job") if j["metadata"]["name"].startswith("acpw-rollout-")
    ]
    assert rollout_jobs
    for job in rollout_jobs:
        spec = job["spec"]["template"]["spec"]
        assert spec["imagePullSecrets"] == [{"name": PULL_SECRET_NAME}]
        assert {c["image"] for c in spec["containers"]} == {kubectl_cached}
    # The pull secret's token may pull the tool images through the cache too.
    [policy] = [
        p
        for p in result.of_type("aws:iam/userPolicy:UserPolicy")
        if p.inputs["name"] == "acpw-ecr-pull"
    ]
    resources = json.loads(policy.inputs["policy"])["Statement"][1]["Resource"]
    assert len(resources) == 3 and any(r.endswith("/k8s/*") for r in resources)


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


def test_the_registry_read_goes_to_the_docker_provider() -> None:
    from tools import mock_engine

    render("1.30")
    monitor = mock_engine.pulumi_sdk.current_monitor()
    tokens = [token for token, _ in monitor.mocks.invokes]
    assert tokens.count(REGISTRY_IMAGE_INVOKE) == 2


def test_children_are_parented_to_the_component() -> None:
    result = render(registry="ecr")
    [component] = [r for r in result.registrations if r.type == "acpw:images:WasmImages"]
    mine = [r for r in result.registrations if r.name.startswith(component.name + "-")]
    assert len(mine) > 12
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
