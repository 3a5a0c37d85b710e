"""Generations: what a gateway pod runs with, and which generations an update must keep.

A *generation* is everything that changes what a gateway pod runs with: the IAM user and key
generation, the module images, the receiver configuration, the sender configuration, the
delivery (Istio version), the pull policy. Its id (a hash of :class:`RolloutSpec`) names or
selects every object a pod reads: the credentials Secret (by key), the bootstrap ConfigMap (by
content), the WasmPlugin and the EnvoyFilter (selected through the pod label ``acpw-rollout``).
Objects of a generation are immutable: a change makes a new generation beside the old one, so a
pod of the old generation that restarts still finds what it started with.

An old generation is removed only once no pod runs it:
- where Pulumi performs and awaits the rollout (``deploymentPatch``; the in-cluster
  IstioOperator up to 1.23, awaited by a Job), old generations are simply no longer registered:
  Pulumi deletes removed resources at the end of the update, after the awaited rollout, and not
  at all when the update fails (../shared/PULUMI-ENGINE.md);
- where it cannot (``istioOperator`` from 1.24: the user runs ``istioctl install``), the program
  reads the live gateway Deployment and keeps every generation its pods may still run, recorded
  on the Deployment (annotation ``aws-cloudwatch-proxy-wasm/generations``), until the live
  rollout shows only the new generation.

Everything here is pure: config and live objects in, plans out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from acpw.config import AcpwConfig
from acpw.contract import (
    DEFAULT_INSTANCE,
    DEFAULT_NAMES,
    GENERATIONS_ANNOTATION,
    INIT_CONTAINER,
    LEGACY_HASH_ANNOTATION,
    OFF,
    ROLLOUT_LABEL,
    ROLLOUT_SPEC_ANNOTATION,
    SENDER_ANNOTATION,
    ObjectNames,
)
from acpw.istio_versions import IstioVersion
from acpw.receiver_module import batching_module_sha256

if TYPE_CHECKING:
    from pulumi import Input

GENERATION_ID_LENGTH = 12
IAM_KEYS_PER_USER = 2
"""IAM allows at most two access keys per user."""


def short_hash(material: Any, length: int = GENERATION_ID_LENGTH) -> str:
    text = material if isinstance(material, str) else json.dumps(material, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@dataclass(frozen=True, order=True)
class KeyIdentity:
    """One IAM access key: the user and the key generation (``acpw:iam.keyGeneration``)."""

    user_name: str
    generation: int

    @property
    def suffix(self) -> str:
        """Names the key's Secret: the generation to read, and the user in a short hash."""
        return f"g{self.generation}-{short_hash(self.user_name, 6)}"

    def describe(self) -> str:
        return f"key generation {self.generation} of IAM user {self.user_name}"


@dataclass(frozen=True)
class RolloutSpec:
    """Everything from config that changes what a gateway pod runs with (known at preview)."""

    istio_version: str
    user_name: str
    key_generation: int
    region: str
    metric_namespace: str
    metric_name: str
    request_timeout_ms: int
    receiver_vm_id: str
    match_hosts: tuple[str, ...]
    fail_strategy: str
    sender: str
    sender_digest: str | None
    receiver_volume: str
    receiver_volume_digest: str | None
    registry: str
    pull_policy: str
    modules_honour_region: bool
    sender_file_sha256: str | None = None
    receiver_file_sha256: str | None = None
    instance: str = DEFAULT_INSTANCE
    """The object-name prefix: a new one names every object anew, so it is a new generation."""
    signing: str = "module"
    """``cloudwatch.signing`` (resolved): who signs the CloudWatch calls."""
    credentials: str = "accessKey"
    """``iam.credentials``: the key Secret (``accessKey``) or a role (``irsa``, ``podIdentity``)."""
    receiver_module: str = "published"
    """``receiver.module``: the published receiver (init container) or the batching one (ConfigMap)."""
    flush_seconds: int = 60
    max_series: int = 1000
    receiver_module_sha256: str | None = None
    """``batching``: the sha256 of the module the program ships (a new module is a new generation)."""

    @classmethod
    def from_config(
        cls,
        config: AcpwConfig,
        *,
        sender_file_sha256: str | None = None,
        receiver_file_sha256: str | None = None,
    ) -> RolloutSpec:
        images = config.images
        assert config.iam.user_name is not None  # load_config sets the default
        return cls(
            istio_version=str(config.istio_version),
            user_name=config.iam.user_name,
            key_generation=config.iam.key_generation,
            region=config.region,
            metric_namespace=config.cloudwatch.namespace,
            metric_name=config.cloudwatch.metric_name,
            request_timeout_ms=config.cloudwatch.request_timeout_ms,
            receiver_vm_id=config.receiver_vm_id,
            match_hosts=tuple(config.match_hosts),
            fail_strategy=config.fail_strategy,
            sender=images.sender,
            sender_digest=images.sender_digest,
            receiver_volume=images.receiver_volume,
            receiver_volume_digest=images.receiver_volume_digest,
            registry=images.registry,
            pull_policy=images.pull_policy,
            modules_honour_region=images.modules_honour_region,
            sender_file_sha256=sender_file_sha256 if images.sender_file else None,
            receiver_file_sha256=receiver_file_sha256 if images.receiver_file else None,
            instance=config.instance,
            signing=config.signing,
            credentials=config.iam.credentials,
            receiver_module=config.receiver.module,
            flush_seconds=config.receiver.flush_seconds,
            max_series=config.receiver.max_series,
            receiver_module_sha256=(
                batching_module_sha256() if config.receiver.module == "batching" else None
            ),
        )

    def to_json(self) -> str:
        data = asdict(self)
        # Left out at their defaults, so the id of a generation from before they existed holds.
        for name, default in _LATER_FIELDS.items():
            if data[name] == default:
                del data[name]
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @property
    def uses_key(self) -> bool:
        """Its pods read an IAM access key (``accessKey``): the key and its Secret must exist."""
        return self.credentials == "accessKey"

    @classmethod
    def from_json(cls, text: str) -> RolloutSpec:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        data["match_hosts"] = tuple(data.get("match_hosts") or ())
        return cls(**data)

    @property
    def id(self) -> str:
        return short_hash(self.to_json())

    @property
    def key(self) -> KeyIdentity:
        return KeyIdentity(self.user_name, self.key_generation)

    def config(self, current: AcpwConfig) -> AcpwConfig:
        """The configuration this generation was built from (gateways etc. from ``current``)."""
        return current.model_copy(
            update={
                "istio_version": IstioVersion.parse(self.istio_version),
                "cloudwatch": current.cloudwatch.model_copy(
                    update={
                        "signing": self.signing,
                        "region": self.region,
                        "namespace": self.metric_namespace,
                        "metric_name": self.metric_name,
                        "request_timeout_ms": self.request_timeout_ms,
                    }
                ),
                "images": current.images.model_copy(
                    update={
                        "sender": self.sender,
                        "sender_digest": self.sender_digest,
                        "receiver_volume": self.receiver_volume,
                        "receiver_volume_digest": self.receiver_volume_digest,
                        "registry": self.registry,
                        "pull_policy": self.pull_policy,
                        "modules_honour_region": self.modules_honour_region,
                    }
                ),
                "iam": current.iam.model_copy(
                    update={
                        "user_name": self.user_name,
                        "key_generation": self.key_generation,
                        "credentials": self.credentials,
                    }
                ),
                "receiver": current.receiver.model_copy(
                    update={
                        "module": self.receiver_module,
                        "flush_seconds": self.flush_seconds,
                        "max_series": self.max_series,
                    }
                ),
                "match_hosts": list(self.match_hosts),
                "fail_strategy": self.fail_strategy,
                "receiver_vm_id": self.receiver_vm_id,
                "instance": self.instance,
            }
        )


_LATER_FIELDS: dict[str, Any] = {
    "signing": "module",
    "credentials": "accessKey",
    "receiver_module": "published",
    "flush_seconds": 60,
    "max_series": 1000,
    "receiver_module_sha256": None,
}
"""Spec fields added after generations were first recorded, with the value they had then."""


@dataclass(frozen=True)
class Generation:
    """One generation: what its pods run with (``spec``) and the images resolved for it.

    The desired generation's images are outputs of this update (pulumi inputs); a kept one's
    are plain strings, read back from the record on the live Deployment.
    """

    spec: RolloutSpec
    sender_url: Input[str]
    """The WasmPlugin's ``url``."""
    sender_sha256: Input[str | None]
    """The WasmPlugin's ``sha256`` (the image manifest digest, 64 hex)."""
    receiver_image: Input[str]
    """The init container's image, by digest."""

    @property
    def id(self) -> str:
        return self.spec.id

    def sender(self) -> Input[str]:
        """The pod annotation naming the sender image (an output while the images are)."""
        url, sha256 = self.sender_url, self.sender_sha256
        if isinstance(url, str) and (sha256 is None or isinstance(sha256, str)):
            return sender_annotation(url, sha256)
        from pulumi import Output  # only where the images are outputs of this update

        return Output.all(url, sha256).apply(lambda values: sender_annotation(*values))

    def to_record(self) -> dict[str, Any]:
        """The generation as the record keeps it; its images must be resolved."""
        assert isinstance(self.sender_url, str) and isinstance(self.receiver_image, str)
        sha256 = self.sender_sha256
        assert sha256 is None or isinstance(sha256, str)
        return {
            "spec": json.loads(self.spec.to_json()),
            "sender": json.loads(sender_annotation(self.sender_url, sha256)),
            "receiverImage": self.receiver_image,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Generation:
        url, sha256 = parse_sender_annotation(json.dumps(record["sender"]))
        return cls(
            RolloutSpec.from_json(json.dumps(record["spec"])),
            url,
            sha256,
            str(record["receiverImage"]),
        )


def sender_annotation(url: str, sha256: str | None) -> str:
    """The pod annotation naming the sender image the generation's WasmPlugin pulls."""
    return json.dumps({"sha256": sha256, "url": url}, sort_keys=True, separators=(",", ":"))


def parse_sender_annotation(text: str) -> tuple[str, str | None]:
    data = json.loads(text)
    return str(data["url"]), (str(data["sha256"]) if data.get("sha256") else None)


LEGACY = "legacy"
"""The generation of a pod deployed by release 0.1.0 (fixed object names, hash annotation only)."""


@dataclass(frozen=True)
class LiveGateway:
    """What the live gateway Deployment says about the pods it runs."""

    gateway: str
    """``namespace/name``."""
    template_generation: str | None
    """Generation id of the pod template (``LEGACY`` for 0.1.0, None before ACPW)."""
    template: Generation | None
    """The template's generation, rebuilt from its annotations."""
    legacy_hash: str | None
    recorded: tuple[Generation, ...]
    """What the last update kept (the Deployment's generations annotation)."""
    recorded_legacy: bool
    settled: bool
    """The rollout of the current template is complete: every pod runs it."""
    replicas: int

    @property
    def legacy_running(self) -> bool:
        return self.template_generation == LEGACY or (self.recorded_legacy and not self.settled)


def parse_live_deployment(gateway: str, obj: Mapping[str, Any]) -> LiveGateway:
    """Read a live Deployment (as the Kubernetes API returns it) into a :class:`LiveGateway`."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    generation_id = labels.get(ROLLOUT_LABEL)
    legacy_hash = annotations.get(LEGACY_HASH_ANNOTATION)
    kept: Generation | None = None
    if generation_id and generation_id != OFF:
        try:
            live_spec = RolloutSpec.from_json(annotations[ROLLOUT_SPEC_ANNOTATION])
            kept = Generation(
                live_spec,
                *parse_sender_annotation(annotations[SENDER_ANNOTATION]),
                # The batching receiver comes in a ConfigMap: no init container, no image.
                "" if live_spec.receiver_module == "batching" else _init_image(template),
            )
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(
                f"gateway {gateway}: the live pod template's ACPW annotations cannot be read "
                f"({error}); was it changed by hand?"
            ) from None
    elif legacy_hash:
        generation_id = LEGACY
    recorded_text = (meta.get("annotations") or {}).get(GENERATIONS_ANNOTATION)
    recorded: list[Generation] = []
    recorded_legacy = False
    if recorded_text:
        data = json.loads(recorded_text)
        recorded_legacy = bool(data.get(LEGACY))
        recorded = [Generation.from_record(r) for r in data.get("generations", [])]
    replicas = int(spec.get("replicas", 1) or 0)
    settled = (
        int(status.get("observedGeneration", 0)) >= int(meta.get("generation", 0))
        and int(status.get("updatedReplicas", 0)) == replicas
        and int(status.get("replicas", 0)) == replicas
        and int(status.get("availableReplicas", 0)) == replicas
    )
    return LiveGateway(
        gateway=gateway,
        template_generation=generation_id,
        template=kept,
        legacy_hash=legacy_hash,
        recorded=tuple(recorded),
        recorded_legacy=recorded_legacy,
        settled=settled,
        replicas=replicas,
    )


def _init_image(template: Mapping[str, Any]) -> str:
    for container in (template.get("spec") or {}).get("initContainers") or []:
        if container.get("name") == INIT_CONTAINER:
            return str(container["image"])
    raise KeyError(f"init container {INIT_CONTAINER}")


def generations_record(kept: Sequence[Generation], legacy: bool) -> str:
    """The Deployment annotation that tells the next update what this one kept."""
    data: dict[str, Any] = {"generations": [k.to_record() for k in kept]}
    if legacy:
        data[LEGACY] = True
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


@dataclass
class GenerationPlan:
    """Which generations an update keeps besides the desired one, and what to tell the user."""

    retained: list[Generation] = field(default_factory=list)
    """Older generations whose pods may still run (never the desired one), oldest first."""
    legacy_gateways: list[str] = field(default_factory=list)
    """Gateways whose pods may still run the 0.1.0 objects, kept under their old names."""
    revoked: list[KeyIdentity] = field(default_factory=list)
    """Keys deactivated at once (``acpw:iam.revokePreviousKey``)."""
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def keys(self, desired: RolloutSpec) -> list[KeyIdentity]:
        """Every key to keep, desired first; revoked ones stay (inactive) for one more update."""
        keys = [desired.key] if desired.uses_key else []
        kept_keys = [kept.spec.key for kept in self.retained if kept.spec.uses_key]
        for identity in kept_keys + self.revoked:
            if identity not in keys:
                keys.append(identity)
        return keys


def plan_generations(
    desired: RolloutSpec,
    live: Mapping[str, LiveGateway],
    *,
    awaited: set[str],
    revoke_previous_key: bool,
    disabled: set[str] | None = None,
) -> GenerationPlan:
    """Decide what to keep for pods that may still run an older generation.

    ``live`` holds the gateways the program read; ``awaited`` names those whose rollout this
    update performs and waits for (their old generations are deleted at its end, after the wait);
    ``disabled`` those ACPW is taken off (``enabled: false``): their target is no generation.
    """
    plan = GenerationPlan()
    retained: dict[str, Generation] = {}
    for key in sorted(live):
        gateway = live[key]
        if key in awaited:
            continue
        may_run: list[Generation] = []
        if gateway.template is not None:
            may_run.append(gateway.template)
        if not gateway.settled:
            may_run.extend(gateway.recorded)
        if gateway.legacy_running:
            plan.legacy_gateways.append(key)
        for kept in may_run:
            if kept.spec.id != desired.id or key in (disabled or set()):
                retained.setdefault(kept.spec.id, kept)
        target = OFF if key in (disabled or set()) else desired.id
        if gateway.template_generation != target and not (
            target == OFF and gateway.template_generation is None
        ):
            plan.warnings.append(
                f"gateway {key}: its pods run generation {gateway.template_generation or 'none'}, "
                f"not {target}: run `istioctl install -f <your IstioOperator with the "
                "istioOperatorYaml settings merged>`; the older generation's objects and key are "
                "kept until a later `pulumi up` sees the rollout complete"
            )
    plan.retained = sorted(retained.values(), key=lambda k: k.spec.id)

    if revoke_previous_key:
        users_of: dict[KeyIdentity, list[str]] = {}
        for key, gateway in sorted(live.items()):
            for running in (gateway.template, *gateway.recorded):
                if (
                    running is not None
                    and running.spec.uses_key
                    and (running.spec.key != desired.key or not desired.uses_key)
                ):
                    users_of.setdefault(running.spec.key, []).append(key)
        for identity, gateways in sorted(users_of.items()):
            plan.revoked.append(identity)
            pods = ", ".join(f"{g} ({live[g].replicas} pods)" for g in sorted(set(gateways)))
            plan.warnings.append(
                f"acpw:iam.revokePreviousKey: {identity.describe()} is deactivated now; pods "
                f"still running with it stop sending metrics until they are replaced: {pods}"
            )
        # A revoked key is kept deactivated, not deleted, until no generation needs it.
    if desired.registry != "ecr" and any(k.spec.registry == "ecr" for k in plan.retained):
        # Leaving ECR deletes its repositories at the end of the update; kept pods pull from them.
        plan.problems.append(
            "acpw:images.registry: gateways still run a generation whose images are in ECR, "
            "which leaving 'ecr' would delete: finish that rollout first (run istioctl install, "
            "wait for it, `pulumi up`), then change the registry"
        )
    # Keys the last update kept still exist until the end of this one: they count too.
    existing = [
        k.spec.key for gateway in live.values() for k in gateway.recorded if k.spec.uses_key
    ]
    per_user: dict[str, set[int]] = {}
    for identity in [*plan.keys(desired), *existing]:
        per_user.setdefault(identity.user_name, set()).add(identity.generation)
    for user, generations in sorted(per_user.items()):
        if len(generations) > IAM_KEYS_PER_USER:
            plan.problems.append(
                f"acpw:iam.keyGeneration: IAM user {user} would need {len(generations)} access "
                f"keys (generations {', '.join(map(str, sorted(generations)))}), IAM allows "
                f"{IAM_KEYS_PER_USER}: gateways still run an older key. Finish the previous "
                "rotation first (run istioctl install, wait for the rollout, `pulumi up`), or "
                "keep the current keyGeneration"
            )
    return plan


# --- names of generation-scoped objects ---------------------------------------------------------


def credentials_secret_name(key: KeyIdentity, names: ObjectNames = DEFAULT_NAMES) -> str:
    return f"{names.credentials_secret}-{key.suffix}"


def bootstrap_configmap_name(content: str, names: ObjectNames = DEFAULT_NAMES) -> str:
    """Content-hash name (kustomize style): a change is a new ConfigMap beside the old one."""
    return f"{names.bootstrap_configmap}-{short_hash(content, 10)}"


def rollout_selector(selector: Mapping[str, str], generation_id: str) -> dict[str, str]:
    """The gateway's own labels plus its generation: only pods of that generation match."""
    return {**dict(selector), ROLLOUT_LABEL: generation_id}
