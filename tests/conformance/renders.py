"""The renders the conformance layers check: each example stack and each Istio matrix version.

Rendering runs the real program under the mock engine (``tools.render``); each case is rendered
once per test session.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from tools.render import read_stack_config, render_stack

EXAMPLE_STACKS = ("dev", "prod")


def _matrix_versions() -> list[str]:
    from tests.matrix import MATRIX_VERSIONS

    return [str(v) for v in MATRIX_VERSIONS]


@dataclass(frozen=True)
class Case:
    """One rendered configuration and the Istio version it targets."""

    name: str
    istio_version: str
    config: dict[str, Any]
    objects: list[dict[str, Any]]
    outputs: dict[str, Any]
    exported: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]

    def istio_operators(self) -> list[dict[str, Any]]:
        """IstioOperators applied to the cluster, else the one exported for ``istioctl install -f``
        (from 1.24 there is no IstioOperator CRD: the render only exports it)."""
        return self.of_kind("IstioOperator") or [
            o for o in self.exported if o.get("kind") == "IstioOperator"
        ]

    def gateways(self) -> list[dict[str, Any]]:
        gws = self.config.get("acpw:gateways")
        if gws is None:
            from acpw.config import DEFAULT_GATEWAY

            gws = [DEFAULT_GATEWAY]
        return [dict(g, installer=g.get("installer", "istioOperator")) for g in gws]


GATEWAY_API_VERSIONS = ("1.26", "1.28", "1.30")
"""Releases rendered with a Gateway API gateway too (``installer: gatewayApi``, 1.26+): the first
release that can, one between, the newest."""
GATEWAY_API_GATEWAY = {"name": "partner-gateway", "namespace": "partner", "installer": "gatewayApi"}


def case_names() -> list[str]:
    return [
        *EXAMPLE_STACKS,
        *(f"matrix-{v}" for v in _matrix_versions()),
        *(f"gwapi-{v}" for v in GATEWAY_API_VERSIONS),
    ]


@functools.cache
def render_case(name: str) -> Case:
    if name.startswith("matrix-"):
        from tests.matrix import matrix_config

        config = dict(matrix_config(name.removeprefix("matrix-")))
        render = render_stack("matrix", config=config)
    elif name.startswith("gwapi-"):
        from tests.matrix import matrix_config

        config = dict(matrix_config(name.removeprefix("gwapi-")))
        config["acpw:gateways"] = [*config["acpw:gateways"], GATEWAY_API_GATEWAY]
        render = render_stack("matrix", config=config)
    else:
        config = read_stack_config(name)
        render = render_stack(name)
    version = str(config["acpw:istioVersion"])
    return Case(name, version, config, render.kubernetes, render.outputs, render.exported_objects)
