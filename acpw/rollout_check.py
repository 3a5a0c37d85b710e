"""The Job that makes ``pulumi up`` wait for a rollout applied asynchronously: pure builders.

Only where nothing else waits (acpw/installers.py). A ``DeploymentPatch`` is awaited by
pulumi-kubernetes like a Deployment (provider/pkg/await/await.go, awaiters.go, deployment.go at
94977969d), so ``installer: deploymentPatch`` needs no Job. The in-cluster IstioOperator (Istio
<= 1.23) is applied by the operator asynchronously: a Job first waits for the Deployment's
template to carry the generation, then for the rollout. The same holds for ``installer:
gatewayApi``: istiod re-renders ``<gateway>-istio`` when the overlay ConfigMap changes, so the
Job waits on that Deployment. ``pulumi up`` fails with the Job when new pods never become Ready,
while ``maxUnavailable: 0`` keeps the old pods serving and the old generation's objects stay
(they are deleted only at the end of a successful update).

- Its name derives from the gateway (namespace and name) and the whole pod-template change, so
  every change gets a fresh Job (a Job's template is immutable) and no two gateways share one.
- ``pulumi.com/replaceUnready: "true"``: a Job that failed is replaced on the next ``pulumi up``
  instead of being awaited again (provider/pkg/provider/provider.go, Diff), so a retry needs no
  config change.
- No total timeout on the rollout: ``kubectl rollout status`` ends when the rollout completes or
  when the Deployment reports no progress for ``progressDeadlineSeconds``; a large gateway that
  keeps progressing is never failed for its size. A long backstop guards against a stuck Job.
"""

from __future__ import annotations

from typing import Any

from acpw.config import GatewayConfig
from acpw.contract import (
    DEFAULT_NAMES,
    ROLLOUT_LABEL,
    TOOL_SECURITY,
    TOOL_UID,
    ObjectNames,
    labels,
)
from acpw.generations import short_hash

OPERATOR_APPLY_TIMEOUT_SECONDS = 900
"""How long the in-cluster operator may take to put the new template on the Deployment."""
BACKSTOP_SECONDS = 6 * 3600
"""Upper bound of one Job (and Pulumi's wait for it), far above any progressing rollout."""
COMPONENT = "acpw-rollout-check"
LABELS = labels(COMPONENT)
"""The default instance's labels."""
_SECURITY = TOOL_SECURITY


def job_name(
    gateway: GatewayConfig, template_material: Any, names: ObjectNames = DEFAULT_NAMES
) -> str:
    """Unique per gateway and pod-template change; at most 63 characters (pod label limit)."""
    digest = short_hash(
        {"gateway": [gateway.namespace, gateway.name], "template": template_material}, 16
    )
    prefix = names.rollout_job_prefix
    room = 63 - len(prefix) - len(digest) - 2
    return f"{prefix}-{gateway.name[:room].rstrip('-')}-{digest}"


def _kubectl(name: str, image: Any, args: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "command": ["kubectl", *args],
        "resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"cpu": "100m", "memory": "64Mi"},
        },
        # kubectl keeps a discovery cache under $HOME.
        "env": [{"name": "HOME", "value": "/tmp"}],
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "securityContext": _SECURITY,
    }


def rollout_check_job(
    gateway: GatewayConfig,
    name: str,
    generation_id: str,
    *,
    wait_for_template: bool,
    image: Any,
    pull_secret: str | None = None,
    names: ObjectNames = DEFAULT_NAMES,
    deployment_name: str | None = None,
) -> dict[str, Any]:
    """A Job that succeeds only when the gateway runs ``generation_id`` on every pod.

    ``wait_for_template``: the in-cluster operator applies the template asynchronously, so first
    wait until the Deployment's template carries the generation, then for the rollout.
    ``image``: the kubectl image, by digest; ``pull_secret``: needed when it is a private copy.
    Every container of the pod calls the Kubernetes API, so the pod keeps its ServiceAccount
    token (``automountServiceAccountToken: true``, said explicitly). ``deployment_name``: the
    gateway's Deployment when it is not named like the gateway (``gatewayApi``:
    ``<gateway>-istio``, acpw/installers.py).
    """
    deployment = f"deployment/{deployment_name or gateway.name}"
    namespace = f"--namespace={gateway.namespace}"
    init: list[dict[str, Any]] = []
    if wait_for_template:
        init.append(
            _kubectl(
                "wait-for-template",
                image,
                [
                    "wait",
                    deployment,
                    namespace,
                    f"--for=jsonpath={{.spec.template.metadata.labels.{ROLLOUT_LABEL}}}={generation_id}",
                    f"--timeout={OPERATOR_APPLY_TIMEOUT_SECONDS}s",
                ],
            )
        )
    status = _kubectl("rollout-status", image, ["rollout", "status", deployment, namespace])
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": gateway.namespace,
            "labels": names.labels(COMPONENT),
            "annotations": {"pulumi.com/replaceUnready": "true"},
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": BACKSTOP_SECONDS,
            "template": {
                "metadata": {
                    "labels": names.labels(COMPONENT),
                    # Never inject a sidecar: the Job must be able to finish.
                    "annotations": {"sidecar.istio.io/inject": "false"},
                },
                "spec": {
                    "serviceAccountName": names.rollout_check,
                    "automountServiceAccountToken": True,
                    "restartPolicy": "Never",
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": TOOL_UID,
                        "runAsGroup": TOOL_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                    **({"imagePullSecrets": [{"name": pull_secret}]} if pull_secret else {}),
                    **({"initContainers": init} if init else {}),
                    "containers": [status],
                },
            },
        },
    }


def job_timeout() -> str:
    """Pulumi's wait for a Job (``customTimeouts``): the Job's own backstop."""
    return f"{BACKSTOP_SECONDS}s"


def rollout_check_rbac(
    namespace: str, gateway_names: list[str], names: ObjectNames = DEFAULT_NAMES
) -> dict[str, Any]:
    """ServiceAccount, Role and RoleBinding (one name) of the Jobs in ``namespace``."""
    account = names.rollout_check
    return {
        "metadata": {
            "name": account,
            "namespace": namespace,
            "labels": names.labels(COMPONENT),
        },
        "rules": rollout_check_role_rules(gateway_names),
        "role_ref": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": account,
        },
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
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
