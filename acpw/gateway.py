"""Gateway settings: what each gateway pod needs to run the receiver, and how it gets there.

Per gateway: an init container copying ``receiver.wasm`` from the volume image into an
``emptyDir``, its read-only mount in ``istio-proxy``, the two key env vars from the generation's
Secret, ``BOOTSTRAP_XDS_AGENT=true`` (1.12 - 1.20) or the generation's bootstrap override file
(1.21+), the pod label ``acpw-rollout`` (the generation id, which selects the generation's
WasmPlugin and EnvoyFilter) and annotations describing the generation, and a rollout that never
lowers serving capacity: a receiver that cannot start stops Envoy even when fail-open, so a bad
change must stall the rollout while the old pods keep serving.

``installer: istioOperator`` renders an ``IstioOperator`` with ``k8s.overlays`` (created in the
cluster while the in-cluster operator exists, up to 1.23, and exported for ``istioctl install -f``);
``installer: deploymentPatch`` server-side-applies the same changes to the existing Deployment;
``installer: gatewayApi`` puts them in an overlay ConfigMap that the Gateway's
``spec.infrastructure.parametersRef`` names, and istiod merges it into ``<gateway>-istio``
(acpw/gateway_api.py).
Who awaits each installer's rollout, and how each turns off: acpw/installers.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from acpw.config import AcpwConfig, GatewayConfig
from acpw.contract import (
    BOOTSTRAP_MOUNT_DIR,
    BOOTSTRAP_OVERRIDE_ENV,
    BOOTSTRAP_OVERRIDE_PATH,
    BOOTSTRAP_VOLUME,
    BOOTSTRAP_XDS_AGENT_ENV,
    DEFAULT_NAMES,
    GENERATIONS_ANNOTATION,
    INIT_CONTAINER,
    ISTIO_OPERATOR_NAMESPACE,
    OFF,
    PROGRESS_DEADLINE_SECONDS,
    PROXY_CONTAINER,
    RECEIVER_WASM_DIR,
    ROLLOUT_LABEL,
    ROLLOUT_SPEC_ANNOTATION,
    SENDER_ANNOTATION,
    TOOL_SECURITY,
    WASM_VOLUME,
    ObjectNames,
)
from acpw.gateway_api import overlay_configmap, overlay_configmap_name, parameters_ref_patch
from acpw.generations import (
    Generation,
    bootstrap_configmap_name,
    credentials_secret_name,
    short_hash,
)
from acpw.installers import (
    DEPLOYMENT_PATCH,
    GATEWAY_API,
    ISTIO_OPERATOR,
    Awaiter,
    Installer,
    gateways_awaited_by,
    installer_of,
)
from acpw.istio_resources import bootstrap_file
from acpw.receiver import proxy_credentials_env
from acpw.receiver_module import batching_module_sha256
from acpw.rollout_check import (
    BACKSTOP_SECONDS,
    job_name,
    job_timeout,
    rollout_check_job,
    rollout_check_rbac,
)

SKIP_AWAIT = "pulumi.com/skipAwait"
"""pulumi-kubernetes skips its awaiter for a resource whose inputs carry it as "true"
(provider/pkg/metadata/overrides.go, ``ReadyCondition``)."""
PATCH_TIMEOUT = f"{BACKSTOP_SECONDS}s"
"""``customTimeouts`` of a gateway's DeploymentPatch (create and update): the provider waits for
the rollout (await/deployment.go) and fails only at this timeout, 10 minutes by default. A stuck
rollout shows ``[ProgressDeadlineExceeded]`` warnings after ``progressDeadlineSeconds`` without
progress; the backstop is far above any rollout that keeps progressing."""

APPEND = "[1000]"
"""Istio overlay path step that appends to a list (an index past its end)."""


@dataclass(frozen=True)
class GatewayPodChanges:
    """The additions to one gateway's pod template, in Kubernetes field shape."""

    init_containers: list[dict[str, Any]]
    volumes: list[dict[str, Any]]
    proxy_env: list[dict[str, Any]]
    proxy_volume_mounts: list[dict[str, Any]]
    pod_labels: dict[str, str]
    pod_annotations: dict[str, Any]
    image_pull_secrets: list[dict[str, str]] = field(default_factory=list)


def rolling_update_strategy(gateway: GatewayConfig) -> dict[str, Any]:
    # Never take a serving pod away before its replacement is Ready; surge as configured.
    return {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": gateway.max_surge},
    }


def gateway_pod_changes(
    config: AcpwConfig, generation: Generation, pull_secret: str | None = None
) -> GatewayPodChanges:
    """What a pod of ``generation`` needs: the receiver module, its key or role env, the
    bootstrap, and the generation's label and annotations (``config`` is that generation's).

    The objects it mounts are named by generation or content, as the other components create
    them: the key Secret, the bootstrap ConfigMap (1.21+), the batching module's ConfigMap.
    """
    init_container = {
        "name": INIT_CONTAINER,
        "image": generation.receiver_image,
        "imagePullPolicy": config.images.pull_policy,
        # The volume image keeps receiver.wasm in its working directory.
        "command": ["cp", "./receiver.wasm", f"{RECEIVER_WASM_DIR}/"],
        "volumeMounts": [{"name": WASM_VOLUME, "mountPath": RECEIVER_WASM_DIR}],
        "resources": {
            "requests": {"cpu": "10m", "memory": "16Mi"},
            "limits": {"cpu": "100m", "memory": "64Mi"},
        },
        # Pod Security "restricted" on the container itself (the pod-level settings belong to
        # the gateway installation). A fixed non-root UID, not the gateway's or the image's:
        # the emptyDir is world-writable (0777) and the volume image's receiver.wasm is
        # world-readable (checked when it is copied or built, acpw/oci/formats.py), so cp needs
        # no particular user; istio-proxy (UID 1337) reads the 0644 copy.
        "securityContext": {**TOOL_SECURITY, "seccompProfile": {"type": "RuntimeDefault"}},
    }
    init_containers = [init_container]
    volumes: list[dict[str, Any]] = [{"name": WASM_VOLUME, "emptyDir": {}}]
    if config.receiver.module == "batching":
        # The batching receiver: the module's ConfigMap is the volume (key receiver.wasm),
        # world-readable (0444) for istio-proxy's UID; nothing to copy, no image to pull.
        module = config.names.receiver_module(batching_module_sha256())
        init_containers = []
        volumes = [{"name": WASM_VOLUME, "configMap": {"name": module, "defaultMode": 0o444}}]
    mounts: list[dict[str, Any]] = [
        {"name": WASM_VOLUME, "mountPath": RECEIVER_WASM_DIR, "readOnly": True}
    ]
    # Who gets which credentials depends on cloudwatch.signing / iam.credentials (acpw/receiver.py).
    env = proxy_credentials_env(config, credentials_secret_name(generation.spec.key, config.names))
    if config.features.receiver_delivery == "envoyFilterBootstrapPatch":
        # Istio applies BOOTSTRAP patches only when the agent starts with this env var.
        env.append({"name": BOOTSTRAP_XDS_AGENT_ENV, "value": "true"})
    else:
        bootstrap = bootstrap_configmap_name(bootstrap_file(config), config.names)
        volumes.append({"name": BOOTSTRAP_VOLUME, "configMap": {"name": bootstrap}})
        mounts.append(
            {"name": BOOTSTRAP_VOLUME, "mountPath": BOOTSTRAP_MOUNT_DIR, "readOnly": True}
        )
        env.append({"name": BOOTSTRAP_OVERRIDE_ENV, "value": BOOTSTRAP_OVERRIDE_PATH})
    return GatewayPodChanges(
        init_containers=init_containers,
        volumes=volumes,
        proxy_env=env,
        proxy_volume_mounts=mounts,
        pod_labels={ROLLOUT_LABEL: generation.id},
        pod_annotations={
            ROLLOUT_SPEC_ANNOTATION: generation.spec.to_json(),
            SENDER_ANNOTATION: generation.sender(),
        },
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
    return _patch_body(
        gateway,
        {
            "metadata": {"labels": changes.pod_labels, "annotations": changes.pod_annotations},
            "spec": pod_spec,
        },
    )


def _patch_body(gateway: GatewayConfig, template: dict[str, Any]) -> dict[str, Any]:
    # No strategy here: that is the strategy patch's (strategy_patch), so that deleting this
    # patch, which relinquishes every field it alone owns, never takes the strategy with it.
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": deployment_patch_metadata(gateway),
        "spec": {"template": template},
    }


def strategy_patch(gateway: GatewayConfig) -> dict[str, Any]:
    """The rollout settings of a ``deploymentPatch`` gateway, a patch of their own.

    Its own field manager owns ``maxUnavailable: 0`` and the surge, and the patch is retained on
    delete: whatever later removes the pod-changes patch (removing the entry at once,
    ``pulumi destroy``), the relinquish that follows (provider/pkg/ssa/actions.go,
    ``Relinquish``) rolls the pods back under this strategy, never under the API defaults (25%
    unavailable). It changes no pod template, so it waits for no rollout (``skipAwait``): the
    pod-changes patch, applied after it, is the one awaited.
    """
    metadata = deployment_patch_metadata(gateway)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            **metadata,
            "annotations": {**metadata["annotations"], SKIP_AWAIT: "true"},
        },
        "spec": {
            "strategy": rolling_update_strategy(gateway),
            "progressDeadlineSeconds": PROGRESS_DEADLINE_SECONDS,
        },
    }


def deployment_patch_off(gateway: GatewayConfig) -> dict[str, Any]:
    """The patch of a gateway taken off ACPW: server-side apply gives up every field the
    previous patch set but this one does not (init container, env, mounts, volumes), so the
    gateway rolls, safely and awaited, to pods without the modules."""
    return _patch_body(gateway, {"metadata": {"labels": {ROLLOUT_LABEL: OFF}}})


def deployment_patch_metadata(gateway: GatewayConfig) -> dict[str, Any]:
    # patchForce: take over fields another manager (e.g. Helm) set, such as the strategy.
    return {
        "name": gateway.name,
        "namespace": gateway.namespace,
        "annotations": {"pulumi.com/patchForce": "true"},
    }


def istio_operator_gateway(gateway: GatewayConfig, changes: GatewayPodChanges) -> dict[str, Any]:
    """One ``components.ingressGateways[]`` entry using ``k8s.overlays``.

    ``k8s.env`` / ``k8s.volumes`` are not used: they are ignored or broken for gateways. The pod
    label goes through an overlay too: the entry's ``label`` would change the Deployment's
    selector, which is immutable.
    """
    proxy = f"spec.template.spec.containers.[name:{PROXY_CONTAINER}]"
    patches: list[dict[str, Any]] = [
        {"path": "spec.progressDeadlineSeconds", "value": PROGRESS_DEADLINE_SECONDS},
    ]
    patches += [
        {"path": f"spec.template.metadata.labels.{key}", "value": value}
        for key, value in changes.pod_labels.items()
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
            "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": gateway.max_surge}},
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


def istio_operator_gateway_off(gateway: GatewayConfig) -> dict[str, Any]:
    """The IstioOperator entry of a gateway taken off ACPW: only the rollout settings."""
    entry = istio_operator_gateway(
        gateway,
        GatewayPodChanges(
            init_containers=[],
            volumes=[],
            proxy_env=[],
            proxy_volume_mounts=[],
            pod_labels={ROLLOUT_LABEL: OFF},
            pod_annotations={},
        ),
    )
    del entry["k8s"]["podAnnotations"]
    return entry


def istio_operator(
    gateway_entries: list[dict[str, Any]], names: ObjectNames = DEFAULT_NAMES
) -> dict[str, Any]:
    """An IstioOperator that installs only these gateways (``profile: empty``)."""
    return {
        "apiVersion": "install.istio.io/v1alpha1",
        "kind": "IstioOperator",
        "metadata": {
            "name": names.istio_operator,
            "namespace": ISTIO_OPERATOR_NAMESPACE,
            "labels": names.labels("gateway-settings"),
        },
        "spec": {"profile": "empty", "components": {"ingressGateways": gateway_entries}},
    }


_SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
"""libyaml's safe dumper where PyYAML was built with it (ten times faster for many gateways)."""


def istio_operator_yaml(operator: dict[str, Any]) -> str:
    header = (
        "# IstioOperator settings of the ACPW gateways. Merge each ingressGateways entry's k8s\n"
        "# settings into the same gateway of the IstioOperator you install, then run\n"
        "#   istioctl install -f <that file>\n"
    )
    return header + yaml.dump(operator, Dumper=_SAFE_DUMPER, sort_keys=True)


def generations_patch(gateway: GatewayConfig, record: pulumi.Input[str]) -> dict[str, Any]:
    """Metadata-only patch recording on the Deployment what this update keeps (no rollout)."""
    return {
        "name": gateway.name,
        "namespace": gateway.namespace,
        "annotations": {
            GENERATIONS_ANNOTATION: record,
            "pulumi.com/patchForce": "true",
            # A metadata-only change rolls nothing: never wait on a rollout someone else runs.
            SKIP_AWAIT: "true",
        },
    }


def content_named_overlay(gateway: str, data: dict[str, str]) -> str:
    """``<gateway>-acpw-<hash>``: the overlay ConfigMap named by its content (at most 63)."""
    digest = short_hash(data, 10)
    prefix = overlay_configmap_name(gateway)[: 63 - len(digest) - 1].rstrip("-")
    return f"{prefix}-{digest}"


@dataclass(frozen=True)
class GatewaySettingsArgs:
    """Inputs of :class:`GatewaySettings`."""

    config: AcpwConfig
    """The validated stack configuration."""
    generation: Generation
    """The desired generation: what every gateway pod is rolled to."""
    pull_secret: str | None = None
    """Image pull Secret of the gateway namespaces, for a private registry."""
    records: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Per gateway (``namespace/name``) the program cannot roll itself: what this update keeps."""
    rollout_after: list[pulumi.Resource] = field(default_factory=list)
    """What the new pods read (Secrets, bootstrap objects, images): applied before any gateway rolls."""
    kubectl_image: pulumi.Input[str] | None = None
    """The rollout-check Jobs' kubectl image (the ECR copy with ``copyToolImages``); default:
    ``acpw:images.kubectl``."""


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
        self._name = name
        config = args.config
        self._names = config.names
        self._kubectl_image: pulumi.Input[str] = (
            config.images.kubectl if args.kubectl_image is None else args.kubectl_image
        )
        # A private copy is pulled with the pull secret the gateway pods use.
        self._tool_pull_secret = args.pull_secret if config.images.copy_tool_images else None
        self._config = config
        self._generation = args.generation
        self._pull_secret = args.pull_secret
        self._rollout_after = args.rollout_after
        changes = gateway_pod_changes(config, args.generation, args.pull_secret)
        in_cluster = config.features.in_cluster_operator
        self.delivery = {}
        self._operator_entries: list[dict[str, Any]] = []
        self._operator_awaited: list[GatewayConfig] = []
        """Gateways whose in-cluster IstioOperator entry a Job waits for (after the operator)."""
        # Rollout-check Jobs only where nothing else waits (acpw/installers.py).
        job_awaited = gateways_awaited_by(config, Awaiter.JOB)
        self._checkers = self._create_rollout_checkers(job_awaited)
        # One builder per entry of the installers table.
        builders: dict[str, Callable[[GatewayConfig, Installer, GatewayPodChanges], None]] = {
            ISTIO_OPERATOR.name: self._istio_operator_gateway,
            DEPLOYMENT_PATCH.name: self._deployment_patch_gateway,
            GATEWAY_API.name: self._gateway_api_gateway,
        }
        operator: k8s.apiextensions.CustomResource | None = None
        for gateway in config.gateways:
            key = gateway.key
            installer = installer_of(config, gateway)
            self.delivery[key] = (
                f"{config.features.receiver_delivery}+{gateway.installer}"
                if gateway.enabled
                else f"off+{gateway.installer}"
            )
            builders[installer.name](gateway, installer, changes)
            if key in args.records:
                self._create_generations_record(gateway, args.records[key])
        operator_entries = self._operator_entries

        self.istio_operator_yaml = None
        if operator_entries:
            document = istio_operator(operator_entries, config.names)
            self.istio_operator_yaml = pulumi.Output.from_input(document).apply(istio_operator_yaml)
            if in_cluster:
                operator_name = config.names.istio_operator
                resource_name = f"istiooperator-{ISTIO_OPERATOR_NAMESPACE}-{operator_name}"
                operator = k8s.apiextensions.CustomResource(
                    f"{name}-{resource_name}",
                    api_version="install.istio.io/v1alpha1",
                    kind="IstioOperator",
                    metadata=k8s.meta.v1.ObjectMetaArgs(**document["metadata"]),
                    spec=document["spec"],
                    opts=pulumi.ResourceOptions(
                        parent=self,
                        depends_on=args.rollout_after,
                        aliases=[pulumi.Alias(name=resource_name)],
                    ),
                )
                for gateway in self._operator_awaited:
                    self._create_rollout_check(
                        gateway,
                        args.generation,
                        [operator, *self._checkers[gateway.namespace]],
                        True,
                    )
        self.register_outputs(
            {"delivery": self.delivery, "istioOperatorYaml": self.istio_operator_yaml}
        )

    def _istio_operator_gateway(
        self, gateway: GatewayConfig, installer: Installer, changes: GatewayPodChanges
    ) -> None:
        """An ``ingressGateways`` entry of the one IstioOperator (registered after the loop);
        with the in-cluster operator a Job waits for it (the table entry's awaiter)."""
        if installer.awaiter is Awaiter.JOB:
            self._operator_awaited.append(gateway)
        self._operator_entries.append(
            istio_operator_gateway(gateway, changes)
            if gateway.enabled
            else istio_operator_gateway_off(gateway)
        )

    def _deployment_patch_gateway(
        self, gateway: GatewayConfig, installer: Installer, changes: GatewayPodChanges
    ) -> None:
        """The strategy patch, then the pod-changes patch, which awaits the rollout."""
        body = (
            deployment_patch(gateway, changes) if gateway.enabled else deployment_patch_off(gateway)
        )
        strategy = self._create_strategy_patch(gateway)
        self._create_deployment_patch(gateway, body, [*self._rollout_after, strategy])

    def _gateway_api_gateway(
        self, gateway: GatewayConfig, installer: Installer, changes: GatewayPodChanges
    ) -> None:
        """Strategy patch of ``<gateway>-istio``, overlay ConfigMap, the Gateway's
        ``parametersRef`` patch, and the Job that waits for istiod's rollout.

        - The overlay ConfigMap is named by its content and immutable, as the bootstrap
          ConfigMap is: a change is a new ConfigMap beside the old one, and the patch then points
          the Gateway at it. A fixed name would make the provider replace it
          delete-before-replace on every data change (../shared/PULUMI-ENGINE.md), leaving the
          Gateway naming a missing ConfigMap, which fails istiod's render. The old ConfigMap is
          deleted only at the end of a successful update, after the Job saw the rollout.
        - The parametersRef reaches the user's Gateway through a ``GatewayPatch``
          (``kubernetes.apiextensions.CustomResourcePatch``, server-side apply of only that
          field, ``patchForce``). The manual alternative, without the patch resource:
          ``kubectl patch gateway <name> -n <ns> --type=merge -p
          '{"spec":{"infrastructure":{"parametersRef":{"group":"","kind":"ConfigMap","name":"<cm>"}}}}'``.
        - Removal: deleting the patch relinquishes the parametersRef (before its ConfigMap goes,
          which it depends on); istiod re-renders without the modules, and the retained strategy
          patch keeps ``maxUnavailable: 0`` (istiod's template sets no strategy). Turned off, the
          overlay and the patch are retained on delete: removing the entry restarts nothing.
        """
        config = self._config
        deployment = installer.deployment(gateway)
        strategy = self._create_strategy_patch(gateway, deployment)
        generation = self._generation

        def document(images: list[Any]) -> dict[str, Any]:
            resolved_generation = replace(
                generation,
                sender_url=images[0],
                sender_sha256=images[1],
                receiver_image=images[2],
            )
            resolved = gateway_pod_changes(config, resolved_generation, self._pull_secret)
            cm = overlay_configmap(
                gateway.name,
                gateway.namespace,
                resolved,
                max_surge=gateway.max_surge,
                off=not gateway.enabled,
            )
            cm["metadata"]["name"] = content_named_overlay(gateway.name, cm["data"])
            return cm

        cm = pulumi.Output.all(
            generation.sender_url, generation.sender_sha256, generation.receiver_image
        ).apply(document)
        resource_name = f"overlay-{gateway.namespace}-{gateway.name}"
        overlay = k8s.core.v1.ConfigMap(
            f"{self._name}-{resource_name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=cm.apply(lambda c: c["metadata"]["name"]),
                namespace=gateway.namespace,
                labels=config.names.labels("gateway-settings"),
            ),
            immutable=True,
            data=cm.apply(lambda c: c["data"]),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*self._rollout_after, strategy],
                retain_on_delete=not gateway.enabled,
            ),
        )
        body = parameters_ref_patch(gateway.name, gateway.namespace, "[overlay]")
        spec = {
            "infrastructure": {
                "parametersRef": {
                    **body["spec"]["infrastructure"]["parametersRef"],
                    "name": overlay.metadata.name,
                }
            }
        }
        patch = k8s.apiextensions.CustomResourcePatch(
            f"{self._name}-gateway-{gateway.namespace}-{gateway.name}",
            api_version=body["apiVersion"],
            kind=body["kind"],
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=gateway.name,
                namespace=gateway.namespace,
                # Nothing of the Gateway to wait for: the Job waits for istiod's rollout.
                annotations={**body["metadata"]["annotations"], SKIP_AWAIT: "true"},
            ),
            spec=spec,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[overlay], retain_on_delete=not gateway.enabled
            ),
        )
        self._create_rollout_check(
            gateway,
            generation,
            [patch, *self._checkers[gateway.namespace]],
            True,
            deployment_name=deployment,
        )

    def _create_rollout_checkers(
        self, gateways: list[GatewayConfig]
    ) -> dict[str, list[pulumi.Resource]]:
        """ServiceAccount + Role + RoleBinding per namespace with awaited gateways."""
        names: dict[str, list[str]] = {}
        for gateway in gateways:
            deployment = installer_of(self._config, gateway).deployment(gateway)
            names.setdefault(gateway.namespace, []).append(deployment)
        created: dict[str, list[pulumi.Resource]] = {}
        for namespace, gateway_names in names.items():
            rbac = rollout_check_rbac(namespace, gateway_names, self._names)
            meta = k8s.meta.v1.ObjectMetaArgs(**rbac["metadata"])
            resource_name = f"{rbac['metadata']['name']}-{namespace}"
            opts = pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name=resource_name)])
            account = k8s.core.v1.ServiceAccount(
                f"{self._name}-{resource_name}", metadata=meta, opts=opts
            )
            role = k8s.rbac.v1.Role(
                f"{self._name}-{resource_name}",
                metadata=meta,
                rules=rbac["rules"],
                opts=opts,
            )
            binding = k8s.rbac.v1.RoleBinding(
                f"{self._name}-{resource_name}",
                metadata=meta,
                role_ref=rbac["role_ref"],
                subjects=rbac["subjects"],
                opts=opts,
            )
            created[namespace] = [account, role, binding]
        return created

    def _create_rollout_check(
        self,
        gateway: GatewayConfig,
        generation: Generation,
        after: list[pulumi.Resource],
        wait_for_template: bool,
        deployment_name: str | None = None,
    ) -> k8s.batch.v1.Job:
        generation_id = generation.id if gateway.enabled else OFF
        if gateway.enabled:
            # The name covers the whole pod-template change, including image digests only the
            # registry decides (an unpinned tag that moved): then it is known at deploy time.
            # The kubectl image is part of the Job's (immutable) template: a new one, a new Job.
            name: pulumi.Input[str] = pulumi.Output.all(
                generation.sender(), generation.receiver_image, self._kubectl_image
            ).apply(
                lambda images: job_name(
                    gateway,
                    {
                        "generation": generation_id,
                        "images": list(images[:2]),
                        "kubectl": images[2],
                    },
                    self._names,
                )
            )
        else:
            name = pulumi.Output.from_input(self._kubectl_image).apply(
                lambda kubectl: job_name(
                    gateway, {"generation": OFF, "kubectl": kubectl}, self._names
                )
            )
        job = rollout_check_job(
            gateway,
            "[name]",
            generation_id,
            wait_for_template=wait_for_template,
            image=self._kubectl_image,
            pull_secret=self._tool_pull_secret,
            names=self._names,
            deployment_name=deployment_name,
        )
        metadata = {**job["metadata"], "name": name}
        return k8s.batch.v1.Job(
            f"{self._name}-rollout-{gateway.namespace}-{gateway.name}-{generation_id}",
            metadata=metadata,
            spec=job["spec"],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=after,
                custom_timeouts=pulumi.CustomTimeouts(create=job_timeout(), update=job_timeout()),
            ),
        )

    def _create_deployment_patch(
        self,
        gateway: GatewayConfig,
        body: dict[str, Any],
        rollout_after: list[pulumi.Resource],
    ) -> k8s.apps.v1.DeploymentPatch:
        """The patch is the rollout's awaiter (acpw/installers.py): ``pulumi up`` fails at it when
        the new pods never become Ready, and a plain retry re-applies and re-awaits it (a
        resource that failed to initialise gets an update step on the next run).

        Deleting it relinquishes what it alone set (provider/pkg/ssa/actions.go,
        ``Relinquish``): the pods roll back without the modules, under the strategy patch's
        strategy. Turned off (``enabled: false``) it is also retained on delete: its pods already
        run without the modules, and removing the entry then restarts nothing."""
        resource_name = f"deployment-{gateway.namespace}-{gateway.name}"
        return k8s.apps.v1.DeploymentPatch(
            f"{self._name}-{resource_name}",
            metadata=k8s.meta.v1.ObjectMetaPatchArgs(**body["metadata"]),
            spec=body["spec"],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=rollout_after,
                aliases=[pulumi.Alias(name=resource_name)],
                custom_timeouts=pulumi.CustomTimeouts(create=PATCH_TIMEOUT, update=PATCH_TIMEOUT),
                retain_on_delete=not gateway.enabled,
            ),
        )

    def _create_strategy_patch(
        self, gateway: GatewayConfig, deployment: str | None = None
    ) -> k8s.apps.v1.DeploymentPatch:
        body = strategy_patch(gateway)
        if deployment is not None:
            body["metadata"]["name"] = deployment
        return k8s.apps.v1.DeploymentPatch(
            f"{self._name}-strategy-{gateway.namespace}-{gateway.name}",
            metadata=k8s.meta.v1.ObjectMetaPatchArgs(**body["metadata"]),
            spec=body["spec"],
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )

    def _create_generations_record(
        self, gateway: GatewayConfig, record: pulumi.Input[str]
    ) -> k8s.apps.v1.DeploymentPatch:
        metadata = generations_patch(gateway, record)
        return k8s.apps.v1.DeploymentPatch(
            f"{self._name}-generations-{gateway.namespace}-{gateway.name}",
            metadata=k8s.meta.v1.ObjectMetaPatchArgs(**metadata),
            opts=pulumi.ResourceOptions(parent=self),
        )
