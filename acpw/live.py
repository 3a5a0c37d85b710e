"""Read the live gateway Deployments, where an update must know what the running pods use.

Only where Pulumi cannot perform and await a gateway's rollout (``installer: istioOperator``
from Istio 1.24: the user runs ``istioctl install``), and for ``acpw:iam.revokePreviousKey``.
The read is a Pulumi read (``get``): it happens in ``pulumi preview`` too, and the mock engine
answers it in the tests and the offline render. Its result decides which resources this program
registers, so the program waits for it (as a synchronous invoke does) before registering them.
"""

from __future__ import annotations

from typing import Any

import pulumi

from acpw.config import GatewayConfig
from acpw.rollout import LiveGateway, parse_live_deployment

DEPLOYMENT_TYPE = "kubernetes:apps/v1:Deployment"


class _LiveDeployment(pulumi.CustomResource):
    """A read of a Deployment with its raw fields (camelCase, as the API returns them)."""

    metadata: pulumi.Output[Any]
    spec: pulumi.Output[Any]
    status: pulumi.Output[Any]

    def __init__(self, name: str, object_id: str, opts: pulumi.ResourceOptions) -> None:
        super().__init__(
            DEPLOYMENT_TYPE,
            name,
            {"apiVersion": None, "kind": None, "metadata": None, "spec": None, "status": None},
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(id=object_id)),
        )


def read_live_gateways(
    parent: pulumi.Resource, name: str, gateways: list[GatewayConfig]
) -> dict[str, LiveGateway]:
    """The live state of each gateway's Deployment, keyed ``namespace/name``."""
    reads = {
        f"{g.namespace}/{g.name}": _LiveDeployment(
            f"{name}-live-{g.namespace}-{g.name}",
            f"{g.namespace}/{g.name}",
            pulumi.ResourceOptions(parent=parent),
        )
        for g in gateways
    }
    live: dict[str, LiveGateway] = {}
    for key, read in reads.items():
        obj = wait_for(
            pulumi.Output.all(read.metadata, read.spec, read.status).apply(
                lambda values: {"metadata": values[0], "spec": values[1], "status": values[2]}
            )
        )
        live[key] = parse_live_deployment(key, obj or {})
    return live


def wait_for(output: pulumi.Output[Any]) -> Any:
    """The value of ``output`` now (None where unknown, as in a preview).

    The same wait a synchronous invoke does (``pulumi.runtime.invoke``): pump the event loop
    until the output resolves. tests/test_live.py fails loudly if the SDK moves it.
    """
    from pulumi.runtime.sync_await import _sync_await

    return _sync_await(output.future())
