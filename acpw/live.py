"""Read the live gateway Deployments, where an update must know what the running pods use.

Only where Pulumi cannot perform and await a gateway's rollout (``installer: istioOperator``
from Istio 1.24: the user runs ``istioctl install``), and for ``acpw:iam.revokePreviousKey``.
The read is a Pulumi read (``get``): it happens in ``pulumi preview`` too, and the mock engine
answers it in the tests and the offline render. Its result decides which resources this program
registers, so the program waits for it (as a synchronous invoke does) before registering them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from acpw.config import GatewayConfig
from acpw.generations import LiveGateway, parse_live_deployment


def read_live_gateways(
    parent: pulumi.Resource,
    name: str,
    gateways: list[GatewayConfig],
    provider: pulumi.ProviderResource | None = None,
    deployment_of: Callable[[GatewayConfig], str] = lambda g: g.name,
) -> dict[str, LiveGateway]:
    """The live state of each gateway's Deployment, keyed ``namespace/name``.

    ``deployment_of``: the gateway's Deployment name (its installer's, acpw/installers.py).

    A typed ``Deployment.get`` with the component as parent: the read goes through the
    component's Kubernetes provider (``provider``, else the one its parent chain carries, else
    the SDK's versioned default), not an unversioned default of its own.
    """
    reads = {
        g.key: k8s.apps.v1.Deployment.get(
            f"{name}-live-{g.namespace}-{g.name}",
            f"{g.namespace}/{deployment_of(g)}",
            opts=pulumi.ResourceOptions(parent=parent, provider=provider),
        )
        for g in gateways
    }
    # One wait for every read: each wait pumps the event loop until its output resolves.
    objects = wait_for(
        pulumi.Output.all(
            *(
                pulumi.Output.all(read.metadata, read.spec, read.status).apply(
                    lambda values: {"metadata": values[0], "spec": values[1], "status": values[2]}
                )
                for read in reads.values()
            )
        )
    ) or [None] * len(reads)
    return {
        key: parse_live_deployment(key, _camel(obj or {}))
        for key, obj in zip(reads, objects, strict=True)
    }


_API_NAMES = {
    "init_containers": "initContainers",
    "observed_generation": "observedGeneration",
    "updated_replicas": "updatedReplicas",
    "available_replicas": "availableReplicas",
}
"""The SDK's snake_case names (a typed read translates property names, not map keys such as
labels and annotations) of the fields parse_live_deployment reads, back to the API's."""


def _camel(value: Any) -> Any:
    """A typed read's outputs back in API shape, as parse_live_deployment reads them."""
    if isinstance(value, dict):
        return {_API_NAMES.get(key, key): _camel(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_camel(item) for item in value]
    return value


def wait_for(output: pulumi.Output[Any]) -> Any:
    """The value of ``output`` now (None where unknown, as in a preview).

    The same wait a synchronous invoke does (``pulumi.runtime.invoke``): pump the event loop
    until the output resolves. tests/test_live.py fails loudly if the SDK moves it.
    """
    from pulumi.runtime.sync_await import _sync_await

    return _sync_await(output.future())
