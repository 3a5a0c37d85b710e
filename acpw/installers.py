"""The installers, as one table: everything that asks "which installer" reads it.

Each entry says what the installer builds, who awaits a gateway's rollout, how a gateway is
turned off and which object kinds it owns. ``installer_of`` refuses a name with no entry, so
an installer cannot slip past the table. Adding one (e.g. ``gatewayApi``) is an entry here plus
its builders (acpw/gateway.py dispatches on the entry's name, one builder per entry).

Awaiting, as pulumi-kubernetes does it (read at pulumi/pulumi-kubernetes 94977969d, v4.32.0-27;
provider/pkg/await/await.go, awaiters.go, deployment.go): after the apply, create and update of
a ``DeploymentPatch`` run the Deployment awaiter on the object the API server returns, so the
patch itself waits for the rollout (10 minutes unless ``customTimeouts`` or
``pulumi.com/timeoutSeconds`` say otherwise). ``pulumi.com/skipAwait: "true"`` turns that off.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from acpw.config import AcpwConfig, ConfigError, GatewayConfig


class Awaiter(Enum):
    """Who makes ``pulumi up`` wait for a gateway's rollout."""

    PATCH = "patch"
    """The ``DeploymentPatch`` itself (the provider's Deployment awaiter)."""
    JOB = "job"
    """A rollout-check Job (``kubectl rollout status``): the rollout is applied asynchronously."""
    NOBODY = "nobody"
    """The user rolls (``istioctl install``); a generations record keeps what live pods run."""


@dataclass(frozen=True)
class Installer:
    name: str
    builds: str
    """What the program registers for a gateway of this installer."""
    awaiter: Awaiter
    turns_off: str
    """What ``enabled: false`` does."""
    owns: tuple[str, ...]
    """Kinds the program registers for it (besides the shared generation objects)."""
    deployment_suffix: str = ""
    """The gateway's Deployment is ``<name><suffix>`` (what a rollout-check Job waits on)."""
    sender_by_gateway: bool = False
    """The sender WasmPlugin attaches to the Gateway (``targetRefs``), not by pod labels."""

    def deployment(self, gateway: GatewayConfig) -> str:
        """Name of the Deployment whose pods run ``gateway``."""
        return f"{gateway.name}{self.deployment_suffix}"


DEPLOYMENT_PATCH = Installer(
    name="deploymentPatch",
    builds=(
        "a DeploymentPatch server-side-applying the pod changes to the existing Deployment, "
        "after a retained DeploymentPatch of its own for the rollout strategy"
    ),
    awaiter=Awaiter.PATCH,
    turns_off=(
        "the patch gives up the modules' fields (a rollout it awaits) and is retained on delete, "
        "so removing the entry later restarts nothing; the strategy patch is always retained, "
        "so no relinquish ever drops maxUnavailable: 0"
    ),
    owns=("DeploymentPatch (pod changes)", "DeploymentPatch (strategy, retained)"),
)
ISTIO_OPERATOR = Installer(
    name="istioOperator",
    builds="an ingressGateways entry of the exported IstioOperator (istioctl install -f)",
    awaiter=Awaiter.NOBODY,
    turns_off="the entry keeps only the rollout settings; the user runs istioctl install",
    owns=("DeploymentPatch (generations record, skipAwait)",),
)
IN_CLUSTER_OPERATOR = Installer(
    name="istioOperator",
    builds="the IstioOperator created in the cluster for the in-cluster operator (Istio <= 1.23)",
    awaiter=Awaiter.JOB,
    turns_off="the entry keeps only the rollout settings; the operator applies it, a Job waits",
    owns=("IstioOperator", "Job", "ServiceAccount", "Role", "RoleBinding"),
)

GATEWAY_API = Installer(
    name="gatewayApi",
    builds=(
        "a content-named overlay ConfigMap <gateway>-acpw-<hash> (key deployment) and a "
        "GatewayPatch pointing the user's Gateway's spec.infrastructure.parametersRef at it, "
        "after a retained DeploymentPatch of the strategy of istiod's <gateway>-istio; the "
        "sender is one WasmPlugin per Gateway attached by targetRefs (targetRef before 1.22)"
    ),
    awaiter=Awaiter.JOB,
    turns_off=(
        "the overlay keeps only the rollout settings (istiod re-renders <gateway>-istio without "
        "the modules, a Job waits); that ConfigMap and the GatewayPatch are retained on delete, "
        "so removing the entry later restarts nothing"
    ),
    owns=(
        "ConfigMap (overlay)",
        "GatewayPatch (parametersRef)",
        "DeploymentPatch (strategy, retained)",
        "Job",
        "ServiceAccount",
        "Role",
        "RoleBinding",
    ),
    deployment_suffix="-istio",
    sender_by_gateway=True,
)
"""istiod renders <gateway>-istio from the Gateway and its parametersRef ConfigMap and rolls it
asynchronously when that ConfigMap changes (acpw.istio_versions.GATEWAY_API_FACTS): no patch of
ours is awaited on the Deployment, so a rollout-check Job waits on <gateway>-istio."""

INSTALLERS: dict[str, Installer] = {
    i.name: i for i in (DEPLOYMENT_PATCH, ISTIO_OPERATOR, GATEWAY_API)
}
"""Config value of ``acpw:gateways[].installer`` → its entry."""
VARIANTS: dict[tuple[str, bool], Installer] = {
    ("istioOperator", True): IN_CLUSTER_OPERATOR,
}
"""(installer, in-cluster operator) → the entry that replaces the plain one."""


def installer_of(config: AcpwConfig, gateway: GatewayConfig) -> Installer:
    """The table entry for ``gateway``; an installer with no entry is refused."""
    if gateway.installer not in INSTALLERS:
        raise ConfigError(
            [
                f"acpw:gateways[{gateway.key}].installer: "
                f"{gateway.installer!r} has no entry; allowed: {', '.join(sorted(INSTALLERS))}"
            ]
        )
    variant = VARIANTS.get((gateway.installer, config.features.in_cluster_operator))
    return variant or INSTALLERS[gateway.installer]


def gateways_awaited_by(config: AcpwConfig, *awaiters: Awaiter) -> list[GatewayConfig]:
    """The gateways whose rollout one of ``awaiters`` waits for, in config order."""
    return [g for g in config.gateways if installer_of(config, g).awaiter in awaiters]
