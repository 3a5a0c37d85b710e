"""A model of the cluster and AWS that the steps of an update act on, with gateway rollouts.

What it models (../shared/PULUMI-ENGINE.md, "Kubernetes"):
- a Deployment rolls when its pod template changes; with ``maxUnavailable: 0`` old pods serve
  until new ones are Ready, and ``maxSurge`` new pods start at a time;
- a container reads env from ``secretKeyRef`` when it starts (restarts included); a pod mounts
  its ConfigMap when it starts; a missing Secret or ConfigMap keeps the pod from starting;
- Istio reads the bootstrap only when the proxy starts: the override file, or on <= 1.20 the
  BOOTSTRAP EnvoyFilters selecting the pod; WasmPlugins reach running proxies at once (xDS);
- a receiver that cannot start keeps Envoy from starting (../shared/MODULE.md);
- istiod's deployment controller (``installer: gatewayApi``): it renders ``<gateway>-istio``
  from its template, then strategic-merges the ``deployment`` key of the ConfigMap the
  Gateway's ``spec.infrastructure.parametersRef`` names, whenever the Gateway or that ConfigMap
  changes; a missing ConfigMap fails the render and leaves the Deployment as it is
  (acpw.istio_versions.GATEWAY_API_FACTS). Its pods carry
  ``gateway.networking.k8s.io/gateway-name``, which is how a WasmPlugin's ``targetRefs`` to the
  Gateway reach them;
- IAM: deleting a user with ``force_destroy`` deletes its keys; an inactive key cannot sign.

What the provider does to the cluster (tests/transitions/engine.py holds the rules, each with its
source in pulumi-kubernetes): awaiters and their timeouts (a ``DeploymentPatch`` waits for the
rollout like a Deployment), Jobs that complete or fail, the relinquish when a patch is deleted,
and the API server refusing an in-place update of an immutable ConfigMap or Secret.

Time: a new pod becomes Ready one tick after it is created (``pod_start_seconds``); an awaiter
with a timeout of T seconds waits at most T / pod_start_seconds ticks.

The invariant, checked after every step for every pod that serves: (a) its key exists and is
active; (b) if it restarted now it would start, with the receiver configuration it has; (c)
exactly one sender (WasmPlugin) selects it, pointing at its receiver's ``vm_id`` (a
Gateway API gateway's senders attach to every pod of the Gateway: exactly one of them may point
at the pod's receiver, the others find no queue in it and enqueue nothing); and each gateway
keeps at least its replica count of ready pods.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from tests.transitions.engine import (
    DYNAMIC_TYPE,
    SKIP_AWAIT,
    Resource,
    Step,
    await_timeout,
    pickled_class,
)

ACCESS_KEY_ENV = "ACPW_AWS_ACCESS_KEY_ID"
ENVOY_KEY_ENV = "AWS_ACCESS_KEY_ID"
"""With Envoy signing, Envoy reads the key Secret through this (the receiver gets placeholders)."""
ROLLOUT_SPEC = "aws-cloudwatch-proxy-wasm/rollout"
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
RECEIVER_INIT = "acpw-receiver-wasm"
BOOTSTRAP_VOLUME = "acpw-bootstrap"
APPEND = ".[1000]"
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
ISTIOD = "istiod"
"""The field manager of istiod's own apply of a generated Deployment."""
API_DEFAULT_STRATEGY = ("25%", "25%")
"""A Deployment's rollingUpdate maxSurge / maxUnavailable when nobody sets them (apps/v1)."""


class StepFailed(Exception):
    """A step the engine would report as failed (``pulumi up`` stops there).

    ``partial``: the object was written but did not become ready (the provider's partial
    error); the engine records the resource with init errors."""

    def __init__(self, message: str, *, partial: bool = False) -> None:
        super().__init__(message)
        self.partial = partial


@dataclass(frozen=True)
class Template:
    """What of a gateway's pod template matters to ACPW."""

    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    secret: str | None = None
    configmap: str | None = None
    delivery: str | None = None
    """``override`` (1.21+), ``envoyfilter`` (<= 1.20) or None (no ACPW)."""
    init_image: str | None = None
    credentials: str = "accessKey"
    """``iam.credentials`` of the generation (its spec annotation): keyless pods get a role."""
    fingerprint: str = ""
    """Everything else of the template we set (pull policy, mounts...): any change rolls pods."""

    @property
    def acpw(self) -> bool:
        return self.delivery is not None


@dataclass(frozen=True)
class Started:
    """What a pod loaded when it started."""

    key: str | None
    """Physical IAM key id in its env, or ``role:<mode>`` (keyless; None: no ACPW)."""
    receiver: str | None
    """The receiver's configuration (vm config and receiver JSON), None without receiver."""
    vm_id: str | None


@dataclass
class Pod:
    name: str
    template: Template
    ready: bool
    started: Started | None
    failure: str = ""
    pending: bool = False
    """Created, not Ready yet (it becomes Ready at the next tick if it started)."""


@dataclass
class Gateway:
    namespace: str
    name: str
    selector: dict[str, str]
    replicas: int = 3
    max_surge: int | str = API_DEFAULT_STRATEGY[0]
    max_unavailable: int | str = API_DEFAULT_STRATEGY[1]
    """The installer's strategy before ACPW (here the API defaults), until a patch or the
    IstioOperator entry sets one."""
    pod_start_seconds: int = 30
    template: Template = field(default_factory=Template)
    pods: list[Pod] = field(default_factory=list)
    record: str | None = None
    """The Deployment's generations annotation (metadata, not template)."""
    generation: int = 1
    rolling: bool = False
    service_account: str = ""
    """The ServiceAccount its pods run as (the installer's default)."""
    gateway_api: str | None = None
    """``installer: gatewayApi``: the name of the Gateway istiod renders this Deployment
    (``<gateway>-istio``) for."""
    strategy_managers: set[str] = field(default_factory=set)
    """The patches (URNs: each has its own field manager) whose applies set the strategy. Only
    when the last of them gives it up does it fall to the API defaults (server-side apply
    removes a field when no manager owns it any more)."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def surge(self) -> int:
        # Kubernetes: maxSurge percentages round up, maxUnavailable ones down; not both 0.
        if isinstance(self.max_surge, str):
            surge = math.ceil(self.replicas * int(self.max_surge.rstrip("%")) / 100)
        else:
            surge = int(self.max_surge)
        return surge if surge or self.unavailable() else 1

    def unavailable(self) -> int:
        if isinstance(self.max_unavailable, str):
            return math.floor(self.replicas * int(self.max_unavailable.rstrip("%")) / 100)
        return int(self.max_unavailable)


@dataclass
class Key:
    user: str
    active: bool = True


@dataclass
class Cluster:
    gateways: dict[str, Gateway]
    objects: dict[tuple[str, str, str], Mapping[str, Any]] = field(default_factory=dict)
    keys: dict[str, Key] = field(default_factory=dict)
    key_of_resource: dict[str, str] = field(default_factory=dict)
    secret_key: dict[tuple[str, str], str] = field(default_factory=dict)
    replaced_keys: dict[str, str] = field(default_factory=dict)
    """URN of an AccessKey replaced create-before-delete -> the original physical key."""
    broken_images: set[str] = field(default_factory=set)
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    """IAM role name -> its trust policy."""
    associations: dict[str, tuple[str, str]] = field(default_factory=dict)
    """EKS Pod Identity association URN -> (namespace, ServiceAccount)."""
    jobs: dict[tuple[str, str], str] = field(default_factory=dict)
    """Live Jobs (namespace, name) -> ``complete`` or ``failed``."""
    job_failures: dict[str, int] = field(default_factory=dict)
    """Job name prefix -> how many more runs of such a Job fail (e.g. a new IAM key that has
    not propagated yet)."""
    awaited: list[str] = field(default_factory=list)
    """Per awaiter that ran: ``<step> waited <seconds>s`` (what a step blocked on)."""
    log: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    parameters_refs: dict[tuple[str, str], str] = field(default_factory=dict)
    """(namespace, Gateway) -> the ConfigMap its ``spec.infrastructure.parametersRef`` names."""
    _counter: int = 0

    # --- setup ---------------------------------------------------------------------------------

    @classmethod
    def with_gateways(
        cls, gateways: list[Mapping[str, Any]], replicas: int = 3, pod_start_seconds: int = 30
    ) -> Cluster:
        cluster = cls(gateways={})
        for g in gateways:
            if g.get("installer") == "gatewayApi":
                # The user's Gateway; istiod owns <gateway>-istio (no strategy of its own).
                gateway = Gateway(
                    g["namespace"],
                    f"{g['name']}-istio",
                    {GATEWAY_NAME_LABEL: g["name"]},
                    replicas,
                    pod_start_seconds=pod_start_seconds,
                    service_account=g.get("serviceAccount") or f"{g['name']}-istio",
                    gateway_api=g["name"],
                )
                cluster.gateways[gateway.key] = gateway
                for _ in range(replicas):
                    pod = cluster._new_pod(gateway, gateway.template)
                    pod.pending, pod.ready = False, pod.started is not None
                    gateway.pods.append(pod)
                continue
            gateway = Gateway(
                g["namespace"],
                g["name"],
                dict(g["selector"]),
                replicas,
                pod_start_seconds=pod_start_seconds,
                service_account=g.get("serviceAccount")
                or (
                    f"{g['name']}-service-account"
                    if g.get("installer", "istioOperator") == "istioOperator"
                    else g["name"]
                ),
            )
            cluster.gateways[gateway.key] = gateway
            for _ in range(replicas):
                pod = cluster._new_pod(gateway, gateway.template)
                pod.pending, pod.ready = False, pod.started is not None
                gateway.pods.append(pod)
        return cluster

    def _next(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    # --- steps ---------------------------------------------------------------------------------

    def apply(self, step: Step) -> None:
        resource = step.resource
        self.log.append(step.describe())
        if step.op in ("delete", "delete-original") and resource.retain_on_delete:
            # step.go DeleteStep.Apply: the old state's retainOnDelete makes the delete a no-op
            # (no provider Delete: for a Patch, no relinquish).
            return
        if step.op == "delete-original" and resource.urn in self.replaced_keys:
            self.keys.pop(self.replaced_keys.pop(resource.urn), None)
        elif step.op in ("delete", "delete-original"):
            self._delete(resource)
        else:
            self._refuse_immutable(resource, step)
            self._upsert(resource, step)
            self._await(resource, step)

    def _refuse_immutable(self, resource: Resource, step: Step) -> None:
        """The API server refuses an update of an immutable ConfigMap or Secret that unsets
        ``immutable`` or changes its data (core validation, ValidateConfigMapUpdate /
        ValidateSecretUpdate); the provider updates such objects in place (diff.go)."""
        identity = resource.k8s_identity
        if step.op != "update" or identity is None or identity[0] not in ("ConfigMap", "Secret"):
            return
        live = self.objects.get(identity)
        if not live or live.get("immutable") is not True:
            return
        fields = ("data", "binaryData", "stringData", "type")
        if resource.inputs.get("immutable") is not True or any(
            live.get(f) != resource.inputs.get(f) for f in fields
        ):
            raise StepFailed(
                f"{identity[0]} {identity[2]}: field is immutable when `immutable` is set"
            )

    def _await(self, resource: Resource, step: Step) -> None:
        """The provider's awaiter after a create or update (await.go Creation/Update)."""
        identity = resource.k8s_identity
        if identity is None:
            return
        timeout = await_timeout(resource, "create" if step.op != "update" else "update")
        skip = resource.annotations.get(SKIP_AWAIT) == "true"
        if resource.type == "kubernetes:apps/v1:DeploymentPatch" and not skip:
            # The apply returns the Deployment: the Deployment awaiter runs (awaiters.go,
            # deployment.go): the current ReplicaSet available, within the timeout. It does not
            # fail early on ProgressDeadlineExceeded (only logged): a stuck rollout fails at
            # the timeout.
            gateway = self.gateways[f"{identity[1]}/{identity[2]}"]
            waited, done = self.roll_for(gateway, timeout)
            self.awaited.append(f"{step.describe()} waited {waited}s")
            if not done:
                raise StepFailed(
                    f"rollout of {gateway.key} did not complete within {timeout}s "
                    f"(DeploymentPatch awaiter): {self._stuck(gateway)}",
                    partial=True,
                )
        elif resource.type == "kubernetes:batch/v1:Job" and not skip:
            key = identity[1:]
            if self.jobs.get(key) == "failed":
                # job.go: a Failed condition fails the awaiter at once.
                raise StepFailed(f"Job {identity[2]} failed", partial=True)
            if self.jobs.get(key) != "complete":
                raise StepFailed(f"Job {identity[2]} did not complete", partial=True)

    def _delete(self, resource: Resource) -> None:
        identity = resource.k8s_identity
        if resource.type == "kubernetes:apps/v1:DeploymentPatch" and identity:
            # ssa/actions.go Relinquish: an empty apply under the patch's field manager. Every
            # field only it owned goes: the template loses its additions, and the strategy it
            # took over with patchForce falls to the API defaults (not to the earlier owner's).
            # The delete awaits nothing.
            gateway = self.gateways[f"{identity[1]}/{identity[2]}"]
            spec = resource.inputs.get("spec") or {}
            self._give_up_strategy(gateway, resource.urn)
            if spec.get("template"):
                self._set_template(gateway, Template())
            if not spec:
                gateway.record = None
            return
        if identity and identity[0] == "Gateway" and resource.type.endswith("Patch"):
            # Relinquish: the parametersRef only this patch set goes; istiod re-renders.
            self.parameters_refs.pop(identity[1:], None)
            self._istiod_render(identity[1], identity[2])
            return
        if resource.type == DYNAMIC_TYPE:
            # The engine deletes it by running the pickled provider with the consumer's (here:
            # the next release's) code: its module and class must still import.
            module, name = pickled_class(resource.dynamic_provider)
            try:
                provider = getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError) as error:
                raise StepFailed(f"delete of {resource.name}: {error}") from error
            if not callable(getattr(provider, "delete", None)):
                raise StepFailed(f"delete of {resource.name}: {module}.{name} has no delete")
        elif resource.type == "aws:iam/accessKey:AccessKey":
            self.keys.pop(self.key_of_resource.pop(resource.urn, ""), None)
        elif resource.type == "aws:iam/role:Role":
            self.roles.pop(str(resource.inputs.get("name")), None)
        elif resource.type == "aws:eks/podIdentityAssociation:PodIdentityAssociation":
            self.associations.pop(resource.urn, None)
        elif resource.type == "kubernetes:core/v1:ServiceAccountPatch" and identity:
            # Relinquish: the annotation only the patch set goes.
            self.objects.pop(identity, None)
        elif resource.type == "aws:iam/user:User":
            user = resource.inputs.get("name")
            for key_id, key in list(self.keys.items()):
                if key.user == user:  # force_destroy deletes the user's keys
                    del self.keys[key_id]
        elif identity and not resource.type.endswith("Patch"):
            self.objects.pop(identity, None)
            if identity[0] == "ConfigMap":
                self._configmap_changed(identity[1], identity[2])
            self.jobs.pop(identity[1:], None) if identity[0] == "Job" else None
            self.secret_key.pop(identity[1:], None) if identity[0] == "Secret" else None

    @staticmethod
    def _give_up_strategy(gateway: Gateway, manager: str) -> None:
        """``manager`` no longer owns the strategy; the last owner gone, the API defaults
        apply, not the value the installer had set (its manager lost it to patchForce)."""
        if manager in gateway.strategy_managers:
            gateway.strategy_managers.discard(manager)
            if not gateway.strategy_managers:
                gateway.max_surge, gateway.max_unavailable = API_DEFAULT_STRATEGY

    def _upsert(self, resource: Resource, step: Step) -> None:
        inputs = resource.inputs
        if resource.type == "aws:iam/accessKey:AccessKey":
            if step.op == "update" and resource.urn in self.key_of_resource:
                key_id = self.key_of_resource[resource.urn]
            elif step.op == "update" and step.old is not None:
                key_id = self.key_of_resource.pop(step.old.urn)
                self.key_of_resource[resource.urn] = key_id
            else:
                if step.op == "replace-create" and resource.urn in self.key_of_resource:
                    self.replaced_keys[resource.urn] = self.key_of_resource[resource.urn]
                key_id = self._next("AKIA")
                self.key_of_resource[resource.urn] = key_id
            self.keys.setdefault(key_id, Key(str(inputs.get("user"))))
            self.keys[key_id].user = str(inputs.get("user"))
            self.keys[key_id].active = inputs.get("status", "Active") == "Active"
            return
        if resource.type == "aws:iam/role:Role":
            if step.old is not None and step.old.inputs.get("name") != inputs.get("name"):
                self.roles.pop(str(step.old.inputs.get("name")), None)
            policy = inputs.get("assumeRolePolicy") or inputs.get("assume_role_policy") or "{}"
            self.roles[str(inputs.get("name"))] = json.loads(str(policy))
            return
        if resource.type == "aws:eks/podIdentityAssociation:PodIdentityAssociation":
            account = inputs.get("serviceAccount") or inputs.get("service_account")
            self.associations[resource.urn] = (str(inputs.get("namespace")), str(account))
            return
        if resource.type == "aws:iam/user:User" and step.old is not None:
            old_name, new_name = step.old.inputs.get("name"), inputs.get("name")
            for key in self.keys.values():  # UpdateUser keeps the user's keys
                if key.user == old_name:
                    key.user = str(new_name)
            return
        identity = resource.k8s_identity
        if identity is None:
            return
        kind, namespace, name = identity
        if kind == "Gateway" and resource.type.endswith("Patch"):
            ref = inputs["spec"]["infrastructure"]["parametersRef"]
            assert (ref["group"], ref["kind"]) == ("", "ConfigMap"), ref
            self.parameters_refs[(namespace, name)] = ref["name"]
            self._istiod_render(namespace, name)
            return
        if resource.type == "kubernetes:apps/v1:DeploymentPatch":
            gateway = self.gateways[f"{namespace}/{name}"]
            annotations = (inputs.get("metadata") or {}).get("annotations") or {}
            if "aws-cloudwatch-proxy-wasm/generations" in annotations:
                gateway.record = annotations["aws-cloudwatch-proxy-wasm/generations"]
            spec = inputs.get("spec") or {}
            if "strategy" in spec:
                strategy = spec["strategy"].get("rollingUpdate", {})
                gateway.max_surge = strategy.get("maxSurge", gateway.max_surge)
                gateway.max_unavailable = strategy.get("maxUnavailable", gateway.max_unavailable)
                gateway.strategy_managers.add(resource.urn)
            else:
                # An apply that no longer lists a field gives it up (server-side apply).
                self._give_up_strategy(gateway, resource.urn)
            if "template" in spec:
                self._set_template(gateway, template_from_patch(spec["template"]))
            return
        self.objects[identity] = inputs
        if kind == "ConfigMap":
            self._configmap_changed(namespace, name)
        if kind == "Secret":
            key_urn = next((d for d in resource.dependencies if d in self.key_of_resource), None)
            if key_urn:
                self.secret_key[(namespace, name)] = self.key_of_resource[key_urn]
        if kind == "IstioOperator":
            # The in-cluster operator applies the overlays to the gateways, asynchronously.
            for entry in inputs["spec"]["components"]["ingressGateways"]:
                self.apply_operator_entry(entry)
        if kind == "Job" and step.op != "update":
            # A new Job runs (an update cannot change its template: diff.go replaces).
            self._run_job(resource)

    def _run_job(self, resource: Resource) -> None:
        _, namespace, name = resource.k8s_identity or ("", "", "")
        target = _job_gateway(resource.inputs)
        if target is not None:
            # `kubectl rollout status` ends when the rollout completes, or fails when the
            # Deployment reports no progress (progressDeadlineSeconds); the Job's own limits are
            # far longer (acpw/rollout_check.py).
            gateway = self.gateways[target]
            timeout = await_timeout(resource, "create")
            waited, done = self.roll_for(gateway, timeout)
            self.awaited.append(f"Job {name} waited {waited}s")
            self.jobs[(namespace, name)] = "complete" if done else "failed"
            if not done:
                raise StepFailed(
                    f"rollout of {gateway.key} did not complete (Job {name}): "
                    f"{self._stuck(gateway)}",
                    partial=True,
                )
            return
        failing = next((p for p, n in self.job_failures.items() if name.startswith(p) and n), None)
        if failing is not None:
            self.job_failures[failing] -= 1
            self.jobs[(namespace, name)] = "failed"
        else:
            self.jobs[(namespace, name)] = "complete"

    def job_unready(self, resource: Resource) -> bool:
        """What the provider's Diff reads for ``replaceUnready``: the live Job not complete."""
        identity = resource.k8s_identity
        return bool(identity) and self.jobs.get(identity[1:]) != "complete"  # type: ignore[index]

    def _configmap_changed(self, namespace: str, name: str) -> None:
        """istiod re-renders every Gateway whose parametersRef names the ConfigMap."""
        for (ns, gateway), ref in list(self.parameters_refs.items()):
            if (ns, ref) == (namespace, name):
                self._istiod_render(ns, gateway)

    def _istiod_render(self, namespace: str, gateway_name: str) -> None:
        """istiod's deployment controller renders ``<gateway>-istio``: its template (no ACPW,
        no strategy), then the parametersRef ConfigMap's ``deployment`` overlay. A missing
        ConfigMap fails the render: the Deployment stays as it is. istiod server-side-applies
        the result, so what the overlay no longer sets is dropped (its own field manager)."""
        gateway = next(
            (
                g
                for g in self.gateways.values()
                if g.namespace == namespace and g.gateway_api == gateway_name
            ),
            None,
        )
        if gateway is None:
            return
        ref = self.parameters_refs.get((namespace, gateway_name))
        overlay: Mapping[str, Any] = {}
        if ref is not None:
            configmap = self.objects.get(("ConfigMap", namespace, ref))
            if configmap is None:
                self.log.append(f"istiod: {namespace}/{gateway_name}: ConfigMap {ref} missing")
                return
            overlay = yaml.safe_load(configmap["data"]["deployment"]) or {}
        spec = overlay.get("spec") or {}
        if "strategy" in spec:
            rolling = spec["strategy"].get("rollingUpdate", {})
            gateway.max_surge = rolling.get("maxSurge", gateway.max_surge)
            gateway.max_unavailable = rolling.get("maxUnavailable", gateway.max_unavailable)
            gateway.strategy_managers.add(ISTIOD)
        else:
            self._give_up_strategy(gateway, ISTIOD)
        self._set_template(gateway, template_from_patch(spec.get("template") or {}))

    def apply_operator_entry(self, entry: Mapping[str, Any]) -> None:
        gateway = self.gateways[f"{entry['namespace']}/{entry['name']}"]
        strategy = entry.get("k8s", {}).get("strategy", {}).get("rollingUpdate", {})
        gateway.max_surge = strategy.get("maxSurge", gateway.max_surge)
        gateway.max_unavailable = strategy.get("maxUnavailable", gateway.max_unavailable)
        self._set_template(gateway, template_from_operator_entry(entry))

    def istioctl_install(self, iop_yaml: str, *, complete: bool = True) -> None:
        """The user runs ``istioctl install -f`` with the exported IstioOperator."""
        import yaml

        document = yaml.safe_load(iop_yaml)
        for entry in document["spec"]["components"]["ingressGateways"]:
            self.apply_operator_entry(entry)
        if complete:
            for gateway in self.gateways.values():
                self.roll(gateway)
        self.check("after istioctl install")

    def _set_template(self, gateway: Gateway, template: Template) -> None:
        if template != gateway.template:
            gateway.template = template
            gateway.generation += 1
            gateway.rolling = True

    # --- pods ----------------------------------------------------------------------------------

    def _new_pod(self, gateway: Gateway, template: Template) -> Pod:
        started, failure = self.start(gateway, template)
        return Pod(self._next(f"{gateway.name}-"), template, False, started, failure, pending=True)

    def pod_labels(self, gateway: Gateway, template: Template) -> dict[str, str]:
        return {**gateway.selector, **dict(template.labels)}

    def start(self, gateway: Gateway, template: Template) -> tuple[Started | None, str]:
        """What a pod of ``template`` would load if it started now, or why it cannot start."""
        if not template.acpw:
            return Started(None, None, None), ""
        if template.init_image in self.broken_images:
            return None, f"receiver from {template.init_image} cannot start"
        if template.credentials != "accessKey":
            key: str | None = f"role:{template.credentials}"
            problem = self.role_problem(gateway, template.credentials, starting=True)
            if problem:
                return None, problem
        else:
            secret = (gateway.namespace, template.secret or "")
            if ("Secret", *secret) not in self.objects:
                return None, f"Secret {template.secret} missing"
            key = self.secret_key.get(secret)
        receiver = None
        if template.delivery == "override":
            configmap = self.objects.get(("ConfigMap", gateway.namespace, template.configmap or ""))
            if configmap is None:
                return None, f"ConfigMap {template.configmap} missing"
            receiver = _receiver_of(json.loads(next(iter(configmap["data"].values()))))
        else:
            labels = self.pod_labels(gateway, template)
            patches = [
                obj
                for (kind, ns, _), obj in sorted(self.objects.items())
                if kind == "EnvoyFilter"
                and ns == gateway.namespace
                and _selects(obj["spec"].get("workloadSelector", {}).get("labels"), labels)
            ]
            if len(patches) > 1:
                return None, "two BOOTSTRAP EnvoyFilters select the pod: two receivers"
            if patches:
                receiver = _receiver_of(patches[0]["spec"]["configPatches"][0]["patch"]["value"])
        vm_id = json.loads(receiver)["vm_id"] if receiver else None
        return Started(key, receiver, vm_id), ""

    def role_problem(self, gateway: Gateway, mode: str, *, starting: bool) -> str:
        """Why a ``mode`` pod of ``gateway`` cannot get (or keep getting) role credentials."""
        subject = f"system:serviceaccount:{gateway.namespace}:{gateway.service_account}"
        account = (gateway.namespace, gateway.service_account)
        for trust in self.roles.values():
            for statement in trust.get("Statement", []):
                principal = statement.get("Principal", {})
                if mode == "podIdentity" and principal.get("Service") == "pods.eks.amazonaws.com":
                    if account in self.associations.values():
                        return ""
                    return f"no Pod Identity association for {account}"
                if mode == "irsa" and "Federated" in principal:
                    subs: str | list[str] = next(
                        (
                            v
                            for k, v in statement["Condition"]["StringEquals"].items()
                            if k.endswith(":sub")
                        ),
                        [],
                    )
                    if subject not in ([subs] if isinstance(subs, str) else subs):
                        continue
                    sa = self.objects.get(("ServiceAccount", *account))
                    annotated = ((sa or {}).get("metadata") or {}).get("annotations") or {}
                    # The webhook reads the annotation when the pod is created only.
                    if starting and ROLE_ARN_ANNOTATION not in annotated:
                        return f"ServiceAccount {account} has no {ROLE_ARN_ANNOTATION}"
                    return ""
        return f"no IAM role trusts {mode} for {subject}"

    def roll(self, gateway: Gateway, max_ticks: int = 200) -> bool:
        """Run the gateway's rollout until it completes (True) or stops progressing (False)."""
        for _ in range(max_ticks):
            if not gateway.rolling:
                return True
            if not self.tick(gateway):
                return False
        return not gateway.rolling

    def roll_for(self, gateway: Gateway, seconds: int) -> tuple[int, bool]:
        """An awaiter waiting at most ``seconds`` for the rollout: (seconds waited, done)."""
        ticks = 0
        while gateway.rolling and ticks * gateway.pod_start_seconds < seconds:
            ticks += 1
            if not self.tick(gateway):
                # Stuck: the awaiter waits until its timeout (or the deadline of the check).
                return seconds, False
        return ticks * gateway.pod_start_seconds, not gateway.rolling

    def tick(self, gateway: Gateway) -> bool:
        """One step of a rolling update (``pod_start_seconds``); False when it cannot progress."""
        progressed = False
        for pod in gateway.pods:
            if pod.pending:
                pod.pending = False
                pod.ready = pod.started is not None
                progressed = progressed or pod.ready
            elif pod.started is None:
                # The kubelet retries a pod that could not start: once its cause is gone it
                # starts (Ready at the next tick).
                pod.started, pod.failure = self.start(gateway, pod.template)
                pod.pending = pod.started is not None
        if not gateway.rolling:
            return True
        current = [p for p in gateway.pods if p.template == gateway.template]
        old = [p for p in gateway.pods if p.template != gateway.template]
        if not old and len(current) >= gateway.replicas and all(p.ready for p in current):
            gateway.rolling = False
            return True
        # Old pods go while at least replicas - maxUnavailable pods stay ready.
        floor = gateway.replicas - gateway.unavailable()
        for pod in sorted(old, key=lambda p: p.ready):
            ready = sum(p.ready for p in gateway.pods)
            if not pod.ready or ready - 1 >= floor:
                gateway.pods.remove(pod)
                progressed = True
        current = [p for p in gateway.pods if p.template == gateway.template]
        limit = gateway.replicas + gateway.surge()
        while len(gateway.pods) < limit and len(current) < gateway.replicas:
            pod = self._new_pod(gateway, gateway.template)
            gateway.pods.append(pod)
            current.append(pod)
            progressed = True
        if len(current) >= gateway.replicas and len(gateway.pods) == len(current):
            if all(p.ready for p in current):
                gateway.rolling = False
                return True
            return progressed or any(p.pending for p in current)
        return progressed or any(p.pending for p in gateway.pods)

    def advance(self, only: set[str] | None = None) -> None:
        """Time passes: every rollout in progress (or those of ``only``) moves one tick."""
        for key, gateway in self.gateways.items():
            if only is None or key in only:
                self.tick(gateway)

    def _stuck(self, gateway: Gateway) -> str:
        failures = sorted({p.failure for p in gateway.pods if p.failure})
        if failures:
            return "; ".join(failures)
        updated = sum(p.ready and p.template == gateway.template for p in gateway.pods)
        return f"still progressing, {updated}/{gateway.replicas} pods updated and Ready"

    # --- the invariant -------------------------------------------------------------------------

    def check(self, when: str) -> list[str]:
        found = []
        for gateway in self.gateways.values():
            ready = [p for p in gateway.pods if p.ready]
            if len(ready) < gateway.replicas:
                found.append(
                    f"{gateway.key}: {len(ready)} ready pods, fewer than {gateway.replicas}"
                )
            for pod in ready:
                found += [
                    f"{gateway.key} pod {pod.name}: {v}" for v in self._pod_problems(gateway, pod)
                ]
        found = [f"{when}: {v}" for v in found]
        self.violations += found
        return found

    def _pod_problems(self, gateway: Gateway, pod: Pod) -> list[str]:
        if not pod.template.acpw or pod.started is None:
            return []
        problems = []
        key = self.keys.get(pod.started.key or "")
        if (pod.started.key or "").startswith("role:"):
            problem = self.role_problem(gateway, pod.template.credentials, starting=False)
            if problem:
                problems.append(f"loses its role credentials: {problem}")
        elif key is None:
            problems.append(f"signs with key {pod.started.key}, which was deleted")
        elif not key.active:
            problems.append(f"signs with key {pod.started.key}, which is inactive")
        restarted, failure = self.start(gateway, pod.template)
        if restarted is None:
            problems.append(f"would not start again: {failure}")
        elif restarted.receiver != pod.started.receiver:
            problems.append("would start again with another receiver configuration")
        if pod.started.receiver is None:
            problems.append("runs without a receiver")
        labels = self.pod_labels(gateway, pod.template)
        senders = [
            obj
            for (kind, ns, _), obj in sorted(self.objects.items())
            if kind == "WasmPlugin"
            and ns == gateway.namespace
            and _attaches(obj["spec"], gateway, labels)
        ]
        if gateway.gateway_api is not None:
            # Every sender of the Gateway runs in every pod of it: only those naming the pod's
            # receiver VM find its queue (../shared/MODULE.md: the lookup is per request).
            senders = [
                s
                for s in senders
                if s["spec"]["pluginConfig"]["receiver_vm_id"] == pod.started.vm_id
            ] or senders
        if len(senders) != 1:
            problems.append(f"{len(senders)} senders select it")
        elif senders[0]["spec"]["pluginConfig"]["receiver_vm_id"] != pod.started.vm_id:
            problems.append(
                f"its sender points at vm {senders[0]['spec']['pluginConfig']['receiver_vm_id']}, "
                f"its receiver is {pod.started.vm_id}"
            )
        return problems

    # --- what a read of the live Deployment returns --------------------------------------------

    def live(self) -> dict[str, dict[str, Any]]:
        out = {}
        for gateway in self.gateways.values():
            template = gateway.template
            current = [p for p in gateway.pods if p.template == template]
            pod_spec: dict[str, Any] = {}
            if template.init_image:
                pod_spec["initContainers"] = [{"name": RECEIVER_INIT, "image": template.init_image}]
            out[gateway.key] = {
                "metadata": {
                    "name": gateway.name,
                    "namespace": gateway.namespace,
                    "generation": gateway.generation,
                    "annotations": (
                        {"aws-cloudwatch-proxy-wasm/generations": gateway.record}
                        if gateway.record
                        else {}
                    ),
                },
                "spec": {
                    "replicas": gateway.replicas,
                    "template": {
                        "metadata": {
                            "labels": {**gateway.selector, **dict(template.labels)},
                            "annotations": dict(template.annotations),
                        },
                        "spec": pod_spec,
                    },
                },
                "status": {
                    "observedGeneration": gateway.generation,
                    "replicas": len(gateway.pods),
                    "updatedReplicas": len(current),
                    "availableReplicas": sum(p.ready for p in gateway.pods),
                },
            }
        return out


def _attaches(spec: Mapping[str, Any], gateway: Gateway, labels: Mapping[str, str]) -> bool:
    """Whether a WasmPlugin applies to a pod, as istiod resolves it: ``selector`` by the pod's
    labels; ``targetRefs`` / ``targetRef`` to a ``Gateway`` (same namespace) by the Gateway the
    pod belongs to, i.e. its ``gateway.networking.k8s.io/gateway-name`` label."""
    refs = list(spec.get("targetRefs") or ([spec["targetRef"]] if "targetRef" in spec else []))
    if refs:
        return any(
            ref.get("group") == "gateway.networking.k8s.io"
            and ref.get("kind") == "Gateway"
            and "namespace" not in ref
            and labels.get(GATEWAY_NAME_LABEL) == ref.get("name")
            for ref in refs
        )
    return _selects((spec.get("selector") or {}).get("matchLabels"), labels)


def _selects(selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in (selector or {}).items())


def _receiver_of(bootstrap: Mapping[str, Any]) -> str:
    [extension] = bootstrap["bootstrap_extensions"]
    config = extension["typed_config"]["config"]
    return json.dumps(
        {
            "vm_id": config["vm_config"]["vm_id"],
            "file": config["vm_config"]["code"]["local"]["filename"],
            "configuration": config["configuration"]["value"],
        },
        sort_keys=True,
    )


def _job_gateway(job: Mapping[str, Any]) -> str | None:
    """The gateway a rollout-check Job waits for, from its kubectl command."""
    for container in job.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
        command = container.get("command") or []
        if command[:3] == ["kubectl", "rollout", "status"]:
            name = command[3].removeprefix("deployment/")
            namespace = next(a for a in command if a.startswith("--namespace=")).split("=", 1)[1]
            return f"{namespace}/{name}"
    return None


def _template(
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    env: list[Mapping[str, Any]],
    volumes: list[Mapping[str, Any]],
    init: list[Mapping[str, Any]],
) -> Template:
    secret = next(
        (
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in env
            if e.get("name") in (ACCESS_KEY_ENV, ENVOY_KEY_ENV) and "valueFrom" in e
        ),
        None,
    )
    spec_text = annotations.get(ROLLOUT_SPEC)
    credentials = (
        str(json.loads(spec_text).get("credentials", "accessKey")) if spec_text else "accessKey"
    )
    names = {e.get("name") for e in env}
    delivery = (
        "override"
        if "ISTIO_BOOTSTRAP_OVERRIDE" in names
        else ("envoyfilter" if "BOOTSTRAP_XDS_AGENT" in names else None)
    )
    configmap = next(
        (v["configMap"]["name"] for v in volumes if v.get("name") == BOOTSTRAP_VOLUME), None
    )
    image = next((c["image"] for c in init if c.get("name") == RECEIVER_INIT), None)
    fingerprint = json.dumps([env, volumes, init], sort_keys=True) if delivery else ""
    return Template(
        fingerprint=fingerprint,
        labels=tuple(sorted(labels.items())),
        annotations=tuple(sorted((k, str(v)) for k, v in annotations.items())),
        secret=secret,
        configmap=configmap,
        delivery=delivery,
        init_image=image,
        credentials=credentials,
    )


def template_from_patch(template: Mapping[str, Any]) -> Template:
    meta = template.get("metadata") or {}
    spec = template.get("spec") or {}
    proxy: Mapping[str, Any] = next(
        (c for c in spec.get("containers", []) if c["name"] == "istio-proxy"), {}
    )
    return _template(
        meta.get("labels") or {},
        meta.get("annotations") or {},
        proxy.get("env") or [],
        spec.get("volumes") or [],
        spec.get("initContainers") or [],
    )


def template_from_operator_entry(entry: Mapping[str, Any]) -> Template:
    overlays = entry.get("k8s", {}).get("overlays") or [{"patches": []}]
    [overlay] = overlays
    patches = overlay["patches"]
    labels = {
        p["path"].rsplit(".", 1)[1]: p["value"]
        for p in patches
        if p["path"].startswith("spec.template.metadata.labels.")
    }
    env = [p["value"] for p in patches if p["path"].endswith(f".env{APPEND}")]
    volumes = [p["value"] for p in patches if p["path"] == f"spec.template.spec.volumes{APPEND}"]
    init = [
        p["value"] for p in patches if p["path"] == f"spec.template.spec.initContainers{APPEND}"
    ]
    return _template(labels, entry.get("k8s", {}).get("podAnnotations") or {}, env, volumes, init)
