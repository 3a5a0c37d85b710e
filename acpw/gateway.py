"""Gateway settings: what each gateway pod needs to run the receiver, and how it gets there.

Per gateway: an init container copying ``receiver.wasm`` from the volume image into an
``emptyDir``, its read-only mount in ``istio-proxy``, the two key env vars from the Secret,
``BOOTSTRAP_XDS_AGENT=true`` (1.12 - 1.20) or the bootstrap override file (1.21+), a pod
annotation hashing everything the bootstrap reads (so a change rolls the gateway), and a
rollout that never lowers serving capacity: a receiver that cannot start stops Envoy even
when fail-open, so a bad change must stall the rollout while the old pods keep serving.

``installer: istioOperator`` renders an ``IstioOperator`` with ``k8s.overlays`` (created in the
cluster while the in-cluster operator exists, up to 1.23, and exported for ``istioctl install -f``);
``installer: deploymentPatch`` server-side-applies the same changes to the existing Deployment.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from acpw.config import AcpwConfig, GatewayConfig
from acpw.contract import (
    BOOTSTRAP_CONFIGMAP,
    BOOTSTRAP_MOUNT_DIR,
    BOOTSTRAP_OVERRIDE_ENV,
    BOOTSTRAP_OVERRIDE_PATH,
    BOOTSTRAP_VOLUME,
    BOOTSTRAP_XDS_AGENT_ENV,
    CREDENTIALS_SECRET,
    INIT_CONTAINER,
    ISTIO_OPERATOR_NAME,
    ISTIO_OPERATOR_NAMESPACE,
    KEY_ENV_NAMES,
    KUBECTL_IMAGE,
    PROXY_CONTAINER,
    RECEIVER_WASM_DIR,
    WASM_VOLUME,
    labels,
)
from acpw.istio_resources import receiver_bootstrap

ROLLOUT_HASH_ANNOTATION = "aws-cloudwatch-proxy-wasm/bootstrap-hash"
PROGRESS_DEADLINE_SECONDS = 600
APPEND = "[1000]"
"""Istio overlay path step that appends to a list (an index past its end)."""


def rollout_hash(
    config: AcpwConfig, *, receiver_image: str, sender_url: str, sender_sha256: str | None
) -> str:
    """Hash of everything the gateway's bootstrap reads but the pod template does not show.

    Receiver configuration, key generation (the Secret's content) and the module images: when
    (and only when) one of them changes, the annotation changes and the gateway rolls.
    """
    material = {
        "receiverBootstrap": receiver_bootstrap(config),
        "keyGeneration": config.iam.key_generation,
        "receiverImage": receiver_image,
        "senderUrl": sender_url,
        "senderSha256": sender_sha256,
    }
    digest = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
    return digest[:32]


@dataclass(frozen=True)
class GatewayPodChanges:
    """The additions to one gateway's pod template, in Kubernetes field shape."""

    init_containers: list[dict[str, Any]]
    volumes: list[dict[str, Any]]
    proxy_env: list[dict[str, Any]]
    proxy_volume_mounts: list[dict[str, Any]]
    pod_annotations: dict[str, str]
    image_pull_secrets: list[dict[str, str]] = field(default_factory=list)


def rolling_update_strategy() -> dict[str, Any]:
    # Never take a serving pod away before its replacement is Ready.
    return {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}


def gateway_pod_changes(
    config: AcpwConfig,
    *,
    receiver_image: str,
    rollout_hash_value: str,
    pull_secret: str | None = None,
) -> GatewayPodChanges:
    init_container = {
        "name": INIT_CONTAINER,
        "image": receiver_image,
        "imagePullPolicy": config.images.pull_policy,
        # The volume image keeps receiver.wasm in its working directory.
        "command": ["cp", "./receiver.wasm", f"{RECEIVER_WASM_DIR}/"],
        "volumeMounts": [{"name": WASM_VOLUME, "mountPath": RECEIVER_WASM_DIR}],
        "resources": {
            "requests": {"cpu": "10m", "memory": "16Mi"},
            "limits": {"cpu": "100m", "memory": "64Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    volumes: list[dict[str, Any]] = [{"name": WASM_VOLUME, "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [
        {"name": WASM_VOLUME, "mountPath": RECEIVER_WASM_DIR, "readOnly": True}
    ]
    env: list[dict[str, Any]] = [
        {
            "name": env_name,
            "valueFrom": {"secretKeyRef": {"name": CREDENTIALS_SECRET, "key": env_name}},
        }
        for env_name in KEY_ENV_NAMES
    ]
    if config.features.receiver_delivery == "envoyFilterBootstrapPatch":
        # Istio applies BOOTSTRAP patches only when the agent starts with this env var.
        env.append({"name": BOOTSTRAP_XDS_AGENT_ENV, "value": "true"})
    else:
        volumes.append({"name": BOOTSTRAP_VOLUME, "configMap": {"name": BOOTSTRAP_CONFIGMAP}})
        mounts.append(
            {"name": BOOTSTRAP_VOLUME, "mountPath": BOOTSTRAP_MOUNT_DIR, "readOnly": True}
        )
        env.append({"name": BOOTSTRAP_OVERRIDE_ENV, "value": BOOTSTRAP_OVERRIDE_PATH})
    return GatewayPodChanges(
        init_containers=[init_container],
        volumes=volumes,
        proxy_env=env,
        proxy_volume_mounts=mounts,
        pod_annotations={ROLLOUT_HASH_ANNOTATION: rollout_hash_value},
        image_pull_secrets=[{"name": pull_secret}] if pull_secret else [],
    )


def deployment_patch(gateway: GatewayConfig, changes: GatewayPodChanges) -> dict[str, Any]:
    """Server-side-apply body for an existing gateway Deployment (lists merge by name)."""
    pod_spec: dict[str, Any] = {
        "initContainers": changes.init_containers,
        "volumes": changes.volumes,
        "containers": [
            {
                "name": PROXY_CONTAINER,
                "env": changes.proxy_env,
                "volumeMounts": changes.proxy_volume_mounts,
            }
        ],
    }
    if changes.image_pull_secrets:
        pod_spec["imagePullSecrets"] = changes.image_pull_secrets
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": deployment_patch_metadata(gateway),
        "spec": {
            "strategy": rolling_update_strategy(),
            "progressDeadlineSeconds": PROGRESS_DEADLINE_SECONDS,
            "template": {
                "metadata": {"annotations": changes.pod_annotations},
                "spec": pod_spec,
            },
        },
    }


ROLLOUT_CHECK = "acpw-rollout-check"
ROLLOUT_TIMEOUT_SECONDS = PROGRESS_DEADLINE_SECONDS


def rollout_check_job_name(gateway: GatewayConfig, rollout_hash_value: str) -> str:
    # A new name per hash: each change gets a fresh Job, which Pulumi awaits.
    return f"{ROLLOUT_CHECK}-{gateway.name}"[:52] + f"-{rollout_hash_value[:10]}"


def rollout_check_job(
    gateway: GatewayConfig, rollout_hash_value: str, *, labels: dict[str, str]
) -> dict[str, Any]:
    """A Job that succeeds only when the gateway's rollout completes.

    Patch resources get no await logic from pulumi-kubernetes, but Jobs do: ``pulumi up`` waits
    for this Job and fails with it when new pods never become Ready (a receiver that cannot
    start), while ``maxUnavailable: 0`` keeps the old pods serving.
    """
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": rollout_check_job_name(gateway, rollout_hash_value),
            "namespace": gateway.namespace,
            "labels": labels,
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": ROLLOUT_TIMEOUT_SECONDS + 120,
            "template": {
                "metadata": {
                    "labels": labels,
                    # Never inject a sidecar: the Job must be able to finish.
                    "annotations": {"sidecar.istio.io/inject": "false"},
                },
                "spec": {
                    "serviceAccountName": ROLLOUT_CHECK,
                    "restartPolicy": "Never",
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                    "containers": [
                        {
                            "name": "rollout-status",
                            "image": KUBECTL_IMAGE,
                            "command": [
                                "kubectl",
                                "rollout",
                                "status",
                                f"deployment/{gateway.name}",
                                f"--namespace={gateway.namespace}",
                                f"--timeout={ROLLOUT_TIMEOUT_SECONDS}s",
                            ],
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "32Mi"},
                                "limits": {"cpu": "100m", "memory": "64Mi"},
                            },
                            # kubectl keeps a discovery cache under $HOME.
                            "env": [{"name": "HOME", "value": "/tmp"}],
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True,
                                "runAsUser": 65532,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


def rollout_check_role_rules(gateway_names: list[str]) -> list[dict[str, Any]]:
    """Read-only access to exactly the gateway Deployments (get, and watch by name)."""
    return [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "resourceNames": sorted(gateway_names),
            "verbs": ["get", "list", "watch"],
        }
    ]


def istio_operator_gateway(gateway: GatewayConfig, changes: GatewayPodChanges) -> dict[str, Any]:
    """One ``components.ingressGateways[]`` entry using ``k8s.overlays``.

    ``k8s.env`` / ``k8s.volumes`` are not used: they are ignored or broken for gateways.
    """
    proxy = f"spec.template.spec.containers.[name:{PROXY_CONTAINER}]"
    patches: list[dict[str, Any]] = [
        {"path": "spec.progressDeadlineSeconds", "value": PROGRESS_DEADLINE_SECONDS},
    ]
    # Append (not set) so that init containers the gateway already has are kept.
    patches += [
        {"path": f"spec.template.spec.initContainers.{APPEND}", "value": c}
        for c in changes.init_containers
    ]
    patches += [
        {"path": f"spec.template.spec.volumes.{APPEND}", "value": v} for v in changes.volumes
    ]
    patches += [
        {"path": f"{proxy}.volumeMounts.{APPEND}", "value": m} for m in changes.proxy_volume_mounts
    ]
    patches += [{"path": f"{proxy}.env.{APPEND}", "value": e} for e in changes.proxy_env]
    if changes.image_pull_secrets:
        patches.append(
            {"path": "spec.template.spec.imagePullSecrets", "value": changes.image_pull_secrets}
        )
    return {
        "name": gateway.name,
        "namespace": gateway.namespace,
        "enabled": True,
        "label": dict(gateway.selector),
        "k8s": {
            "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "podAnnotations": dict(changes.pod_annotations),
            "overlays": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": gateway.name,
                    "patches": patches,
                }
            ],
        },
    }


def istio_operator(gateway_entries: list[dict[str, Any]]) -> dict[str, Any]:
    """An IstioOperator that installs only these gateways (``profile: empty``)."""
    return {
        "apiVersion": "install.istio.io/v1alpha1",
        "kind": "IstioOperator",
        "metadata": {"name": ISTIO_OPERATOR_NAME, "namespace": ISTIO_OPERATOR_NAMESPACE},
        "spec": {"profile": "empty", "components": {"ingressGateways": gateway_entries}},
    }


def istio_operator_yaml(operator: dict[str, Any]) -> str:
    header = (
        "# IstioOperator settings of the ACPW gateways. Merge each ingressGateways entry's k8s\n"
        "# settings into the same gateway of the IstioOperator you install, then run\n"
        "#   istioctl install -f <that file>\n"
    )
    return header + yaml.safe_dump(operator, sort_keys=True)


@dataclass(frozen=True)
class GatewaySettingsArgs:
    """Inputs of :class:`GatewaySettings`."""

    config: AcpwConfig
    """The validated stack configuration."""
    receiver_volume_image: pulumi.Input[str]
    """The init container's image (by digest where known)."""
    sender_url: pulumi.Input[str]
    """The sender's image URL: part of the rollout hash."""
    sender_sha256: pulumi.Input[str | None]
    """The sender's manifest digest: part of the rollout hash."""
    pull_secret_name: str | None = None
    """Pull Secret for the init container image, when the registry is private."""
    rollout_after: list[pulumi.Resource] = field(default_factory=list)
    """What the new pods read (Secrets, bootstrap objects, images): applied before any gateway rolls."""


class GatewaySettings(pulumi.ComponentResource):
    """Applies the receiver's pod changes to every gateway, through its installer."""

    delivery: dict[str, str]
    """Per gateway (``namespace/name``): how the receiver reaches Envoy and who applies the pod changes."""
    istio_operator_yaml: pulumi.Output[str] | None
    """The IstioOperator for ``istioctl install -f``, when any gateway uses ``installer: istioOperator``."""

    def __init__(
        self, name: str, args: GatewaySettingsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("acpw:gateway:GatewaySettings", name, None, opts)
        config = args.config
        changes = pulumi.Output.all(
            args.receiver_volume_image, args.sender_url, args.sender_sha256
        ).apply(
            lambda values: gateway_pod_changes(
                config,
                receiver_image=values[0],
                rollout_hash_value=rollout_hash(
                    config, receiver_image=values[0], sender_url=values[1], sender_sha256=values[2]
                ),
                pull_secret=args.pull_secret_name,
            )
        )
        self.delivery = {}
        operator_entries: list[pulumi.Output[dict[str, Any]]] = []
        checkers = self._create_rollout_checkers(config)
        for gateway in config.gateways:
            key = f"{gateway.namespace}/{gateway.name}"
            self.delivery[key] = f"{config.features.receiver_delivery}+{gateway.installer}"
            if gateway.installer == "deploymentPatch":
                patch = self._create_deployment_patch(gateway, changes, args.rollout_after)
                self._create_rollout_check(gateway, changes, [patch, *checkers[gateway.namespace]])
            else:
                operator_entries.append(
                    changes.apply(functools.partial(istio_operator_gateway, gateway))
                )

        self.istio_operator_yaml = None
        if operator_entries:
            operator = pulumi.Output.all(*operator_entries).apply(
                lambda entries: istio_operator(list(entries))
            )
            self.istio_operator_yaml = operator.apply(istio_operator_yaml)
            if config.features.in_cluster_operator:
                k8s.apiextensions.CustomResource(
                    f"istiooperator-{ISTIO_OPERATOR_NAMESPACE}-{ISTIO_OPERATOR_NAME}",
                    api_version="install.istio.io/v1alpha1",
                    kind="IstioOperator",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=ISTIO_OPERATOR_NAME, namespace=ISTIO_OPERATOR_NAMESPACE
                    ),
                    spec=operator.apply(lambda o: o["spec"]),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=args.rollout_after),
                )
        self.register_outputs(
            {"delivery": self.delivery, "istioOperatorYaml": self.istio_operator_yaml}
        )

    def _create_rollout_checkers(self, config: AcpwConfig) -> dict[str, list[pulumi.Resource]]:
        """ServiceAccount + Role + RoleBinding per namespace with patched gateways."""
        names: dict[str, list[str]] = {}
        for gateway in config.gateways:
            if gateway.installer == "deploymentPatch":
                names.setdefault(gateway.namespace, []).append(gateway.name)
        created: dict[str, list[pulumi.Resource]] = {}
        for namespace, gateway_names in names.items():
            meta = k8s.meta.v1.ObjectMetaArgs(
                name=ROLLOUT_CHECK, namespace=namespace, labels=_ROLLOUT_CHECK_LABELS
            )
            account = k8s.core.v1.ServiceAccount(
                f"{ROLLOUT_CHECK}-{namespace}",
                metadata=meta,
                opts=pulumi.ResourceOptions(parent=self),
            )
            role = k8s.rbac.v1.Role(
                f"{ROLLOUT_CHECK}-{namespace}",
                metadata=meta,
                rules=rollout_check_role_rules(gateway_names),
                opts=pulumi.ResourceOptions(parent=self),
            )
            binding = k8s.rbac.v1.RoleBinding(
                f"{ROLLOUT_CHECK}-{namespace}",
                metadata=meta,
                role_ref={
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": ROLLOUT_CHECK,
                },
                subjects=[
                    {"kind": "ServiceAccount", "name": ROLLOUT_CHECK, "namespace": namespace}
                ],
                opts=pulumi.ResourceOptions(parent=self),
            )
            created[namespace] = [account, role, binding]
        return created

    def _create_rollout_check(
        self,
        gateway: GatewayConfig,
        changes: pulumi.Output[GatewayPodChanges],
        after: list[pulumi.Resource],
    ) -> k8s.batch.v1.Job:
        job = changes.apply(
            lambda c: rollout_check_job(
                gateway, c.pod_annotations[ROLLOUT_HASH_ANNOTATION], labels=_ROLLOUT_CHECK_LABELS
            )
        )
        return k8s.batch.v1.Job(
            f"{ROLLOUT_CHECK}-{gateway.namespace}-{gateway.name}",
            metadata=job.apply(lambda j: j["metadata"]),
            spec=job.apply(lambda j: j["spec"]),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=after,
                custom_timeouts=pulumi.CustomTimeouts(create="15m", update="15m"),
            ),
        )

    def _create_deployment_patch(
        self,
        gateway: GatewayConfig,
        changes: pulumi.Output[GatewayPodChanges],
        rollout_after: list[pulumi.Resource],
    ) -> k8s.apps.v1.DeploymentPatch:
        body = changes.apply(lambda c: deployment_patch(gateway, c))
        meta = deployment_patch_metadata(gateway)
        return k8s.apps.v1.DeploymentPatch(
            f"deployment-{gateway.namespace}-{gateway.name}",
            metadata=k8s.meta.v1.ObjectMetaPatchArgs(**meta),
            spec=body.apply(lambda b: b["spec"]),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=rollout_after,
                custom_timeouts=pulumi.CustomTimeouts(create="15m", update="15m"),
            ),
        )


_ROLLOUT_CHECK_LABELS = labels(ROLLOUT_CHECK)


def deployment_patch_metadata(gateway: GatewayConfig) -> dict[str, Any]:
    # patchForce: take over fields another manager (e.g. Helm) set, such as the strategy.
    return {
        "name": gateway.name,
        "namespace": gateway.namespace,
        "annotations": {"pulumi.com/patchForce": "true"},
    }
