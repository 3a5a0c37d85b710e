"""The names every part must agree on: one home for them.

The gateway pod changes, the Istio objects, the credentials, the registry refresher and the
tests' Envoy harness all meet in a running ``istio-proxy`` container: the env vars the receiver
reads its key from, the file it loads, the bootstrap mount, the labels. Siblings import these
from here, never from each other.
"""

from __future__ import annotations

PART_OF = "aws-cloudwatch-proxy-wasm"

# --- inside the gateway pod --------------------------------------------------------------------
PROXY_CONTAINER = "istio-proxy"
ACCESS_KEY_ENV = "ACPW_AWS_ACCESS_KEY_ID"
SECRET_KEY_ENV = "ACPW_AWS_SECRET_ACCESS_KEY"
KEY_ENV_NAMES = (ACCESS_KEY_ENV, SECRET_KEY_ENV)
"""The receiver reads its static key from these (``vm_config.environment_variables.host_env_keys``)."""
RECEIVER_WASM_DIR = "/aws-cloudwatch-proxy-wasm"
RECEIVER_WASM_PATH = f"{RECEIVER_WASM_DIR}/receiver.wasm"
INIT_CONTAINER = "acpw-receiver-wasm"
WASM_VOLUME = "acpw-receiver-wasm"
BOOTSTRAP_VOLUME = "acpw-bootstrap"
BOOTSTRAP_FILE_KEY = "custom_bootstrap.json"
BOOTSTRAP_MOUNT_DIR = "/etc/istio/custom-bootstrap"
BOOTSTRAP_OVERRIDE_PATH = f"{BOOTSTRAP_MOUNT_DIR}/{BOOTSTRAP_FILE_KEY}"
BOOTSTRAP_OVERRIDE_ENV = "ISTIO_BOOTSTRAP_OVERRIDE"
BOOTSTRAP_XDS_AGENT_ENV = "BOOTSTRAP_XDS_AGENT"
QUEUE_NAME = "aws_cloudwatch_metric"

# --- Kubernetes object names (per gateway namespace unless noted) ------------------------------
CREDENTIALS_SECRET = "acpw-aws-credentials"
BOOTSTRAP_CONFIGMAP = "acpw-bootstrap"
PULL_SECRET_NAME = "acpw-registry-pull"
"""The ``kubernetes.io/dockerconfigjson`` Secret in each gateway namespace (registry ``ecr``)."""
ISTIO_OPERATOR_NAME = "acpw-gateways"
ISTIO_OPERATOR_NAMESPACE = "istio-system"

# --- images the program runs besides the modules -----------------------------------------------
# The defaults of ``acpw:images.kubectl`` and ``acpw:images.awsCli``: always by digest, because
# these images receive a ServiceAccount token and an AWS key.
#
# !!! PLACEHOLDER DIGESTS !!! The manifest digests below have NOT been resolved against the
# registries (written offline, no public record of them was found). They are well-formed but
# almost certainly not the images' real digests, so a pull of the defaults fails. Until they are
# replaced (``crane digest registry.k8s.io/kubectl:v1.33.0``, ``crane digest
# public.ecr.aws/aws-cli/aws-cli:2.27.0``) and ``TOOL_IMAGE_DIGESTS_VERIFIED`` is set to True,
# set ``acpw:images.kubectl`` and ``acpw:images.awsCli`` to references you resolved yourself;
# every preview warns while a default with a placeholder digest is in use.
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
"""Not a real digest: marks a default that must be replaced before it can be pulled."""
TOOL_IMAGE_DIGESTS_VERIFIED = False
"""True once the digests of the two defaults below are real (then the preview warning stops)."""
KUBECTL_IMAGE = f"registry.k8s.io/kubectl:v1.33.0@{PLACEHOLDER_DIGEST}"
AWS_CLI_IMAGE = f"public.ecr.aws/aws-cli/aws-cli:2.27.0@{PLACEHOLDER_DIGEST}"
TOOL_UID = 65532
"""The fixed non-root UID (and GID) of every container the program owns (the distroless
``nonroot`` user; no image used here needs a particular UID)."""

# --- labels ------------------------------------------------------------------------------------
MANAGED_BY = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": PART_OF}


def labels(component: str, **extra: str) -> dict[str, str]:
    """The labels of every object the program owns, with its ``app.kubernetes.io/component``."""
    return {**MANAGED_BY, "app.kubernetes.io/component": component, **extra}


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
