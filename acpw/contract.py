"""The names every part must agree on: one home for them.

The gateway pod changes, the Istio objects, the credentials, the registry refresher and the
tests' Envoy harness all meet in a running ``istio-proxy`` container: the env vars the receiver
reads its key from, the file it loads, the bootstrap mount, the labels. Siblings import these
from here, never from each other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

PART_OF = "aws-cloudwatch-proxy-wasm"

# --- inside the gateway pod --------------------------------------------------------------------
PROXY_CONTAINER = "istio-proxy"
ACCESS_KEY_ENV = "ACPW_AWS_ACCESS_KEY_ID"
SECRET_KEY_ENV = "ACPW_AWS_SECRET_ACCESS_KEY"
KEY_ENV_NAMES = (ACCESS_KEY_ENV, SECRET_KEY_ENV)
"""The receiver reads its static key from these (``vm_config.environment_variables.host_env_keys``)."""
RECEIVER_WASM_DIR = "/aws-cloudwatch-proxy-wasm"
RECEIVER_WASM_FILE = "receiver.wasm"
RECEIVER_WASM_PATH = f"{RECEIVER_WASM_DIR}/{RECEIVER_WASM_FILE}"
INIT_CONTAINER = "acpw-receiver-wasm"
WASM_VOLUME = "acpw-receiver-wasm"
BOOTSTRAP_VOLUME = "acpw-bootstrap"
BOOTSTRAP_FILE_KEY = "custom_bootstrap.json"
BOOTSTRAP_MOUNT_DIR = "/etc/istio/custom-bootstrap"
BOOTSTRAP_OVERRIDE_PATH = f"{BOOTSTRAP_MOUNT_DIR}/{BOOTSTRAP_FILE_KEY}"
BOOTSTRAP_OVERRIDE_ENV = "ISTIO_BOOTSTRAP_OVERRIDE"
BOOTSTRAP_XDS_AGENT_ENV = "BOOTSTRAP_XDS_AGENT"

# --- Kubernetes object names (per gateway namespace unless noted) ------------------------------
DEFAULT_INSTANCE = "acpw"
"""``acpw:instance``: the prefix of every object name, and the ``app.kubernetes.io/instance``
label. The default keeps the names of release 0.1.0; two stacks (or two components) in one
cluster set different ones."""
CREDENTIALS_SECRET = "acpw-aws-credentials"
BOOTSTRAP_CONFIGMAP = "acpw-bootstrap"
PULL_SECRET_NAME = "acpw-registry-pull"
"""The ``kubernetes.io/dockerconfigjson`` Secret in each gateway namespace (registry ``ecr``)."""
ISTIO_OPERATOR_NAMESPACE = "istio-system"
"""(The constants above are the default instance's names; :class:`ObjectNames` has any one's.)"""

# --- images the program runs besides the modules -----------------------------------------------
# The defaults of ``acpw:images.kubectl`` and ``acpw:images.awsCli``: always by digest, because
# these images receive a ServiceAccount token and an AWS key.
#
# By manifest-list digest (multi-arch), as published: the digests are the ones public projects pin
# for these tags (kubectl: rancher/system-upgrade-controller's manifest; aws-cli: two unrelated
# public projects agree). Check them against your registry or mirror (``crane digest <image>``)
# and override with ``acpw:images.kubectl`` / ``acpw:images.awsCli``.
KUBECTL_IMAGE = (
    "registry.k8s.io/kubectl:v1.31.2"
    "@sha256:d31de5468fb5c0943358671e3dcf8e4d8281108027efd1f211262d09aedd5519"
)
AWS_CLI_IMAGE = (
    "docker.io/amazon/aws-cli:2.27.0"
    "@sha256:e3e329e1d2894b7b4bbb0aacacd0a155262159b2e7a3b4275eb1f24046d3e06c"
)
TOOL_UID = 65532
"""The fixed non-root UID (and GID) of every container the program owns (the distroless
``nonroot`` user; no image used here needs a particular UID)."""
TOOL_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": TOOL_UID,
    "runAsGroup": TOOL_UID,
    "capabilities": {"drop": ["ALL"]},
}
"""The securityContext of every container the program owns: Pod Security "restricted" (with the
pod's RuntimeDefault seccomp) plus a read-only root filesystem."""

# --- labels ------------------------------------------------------------------------------------
MANAGED_BY = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": PART_OF}


def labels(component: str, instance: str = DEFAULT_INSTANCE, **extra: str) -> dict[str, str]:
    """The labels of every object the program owns: its ``app.kubernetes.io/component`` and
    the ``app.kubernetes.io/instance`` it belongs to."""
    return {
        **MANAGED_BY,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/instance": instance,
        **extra,
    }


@dataclass(frozen=True)
class ObjectNames:
    """The Kubernetes object names of one instance (``acpw:instance``): ``<instance>-...``."""

    instance: str = DEFAULT_INSTANCE

    def name(self, suffix: str) -> str:
        return f"{self.instance}-{suffix}"

    def labels(self, component: str, **extra: str) -> dict[str, str]:
        return labels(component, self.instance, **extra)

    @property
    def credentials_secret(self) -> str:
        return self.name("aws-credentials")

    @property
    def bootstrap_configmap(self) -> str:
        return self.name("bootstrap")

    @property
    def pull_secret(self) -> str:
        return self.name("registry-pull")

    @property
    def istio_operator(self) -> str:
        return self.name("gateways")

    @property
    def rollout_check(self) -> str:
        """ServiceAccount, Role and RoleBinding of the rollout-check Jobs."""
        return self.name("rollout-check")

    @property
    def rollout_job_prefix(self) -> str:
        return self.name("rollout")

    @property
    def refresher(self) -> str:
        return self.name("registry-refresher")

    @property
    def refresher_aws_secret(self) -> str:
        return self.name("registry-refresher-aws")

    def monitoring(self, region: str) -> str:
        return self.name(f"monitoring-{region}")

    def sender(self, gateway: str, generation_id: str) -> str:
        return self.name(f"sender-{gateway}-{generation_id}")

    def gateway_sender(self, gateway: str, receiver_vm_id: str) -> str:
        """The sender WasmPlugin of a Gateway API gateway for one receiver ``vm_id``
        (``targetRefs`` cannot select pods by generation: one per Gateway and ``vm_id``, updated
        in place, acpw/istio_resources.py ``wasm_plugin``)."""
        digest = hashlib.sha256(receiver_vm_id.encode()).hexdigest()[:8]
        return self.name(f"sender-{gateway}-vm{digest}")

    def receiver_module(self, digest: str) -> str:
        """The batching receiver's ConfigMap, named by the module's sha256 (its first 10 hex)."""
        return self.name(f"receiver-module-{digest[:10]}")

    def receiver_filter(self, gateway: str, generation_id: str) -> str:
        return self.name(f"receiver-{gateway}-{generation_id}")

    def heartbeat(self, gateway: str) -> str:
        return self.name(f"heartbeat-{gateway}")


DEFAULT_NAMES = ObjectNames()


# --- rollout identity on the gateway pod template ------------------------------------------------
ROLLOUT_LABEL = "acpw-rollout"
"""Pod label carrying the generation id; the WasmPlugin and EnvoyFilter of a generation select it,
so pods of an old generation keep their own sender and receiver until they are replaced."""
ROLLOUT_SPEC_ANNOTATION = "aws-cloudwatch-proxy-wasm/rollout"
"""Pod annotation: the generation's spec as JSON, read back from the live Deployment."""
SENDER_ANNOTATION = "aws-cloudwatch-proxy-wasm/sender"
"""Pod annotation: the sender image the generation's WasmPlugin pulls (``oci://...@sha256:...``)."""
LEGACY_HASH_ANNOTATION = "aws-cloudwatch-proxy-wasm/bootstrap-hash"
"""The only annotation of the previous release (0.1.0): a hash, no spec."""
GENERATIONS_ANNOTATION = "aws-cloudwatch-proxy-wasm/generations"
"""Deployment annotation (not the pod template): the generations the last update kept."""
OFF = "off"
"""The ``acpw-rollout`` label of a gateway ACPW was taken off (``enabled: false``)."""
PROGRESS_DEADLINE_SECONDS = 600
"""The gateway Deployment's progress deadline: how long a rollout may make no progress at all
(the rollout-check Jobs end with it)."""
"""The only annotation of the previous release (0.1.0): a hash, no spec."""


def aws_tags(user_tags: Mapping[str, str], purpose: str) -> dict[str, str]:
    """The tags of every AWS resource the program tags: the user's, what it is for, and the
    Pulumi project and stack that own it (two stacks in one account stay told apart)."""
    return {
        **user_tags,
        "acpw:purpose": purpose,
        "pulumi:project": pulumi.get_project(),
        "pulumi:stack": pulumi.get_stack(),
    }
