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


_FALLBACK_VERSIONS = ["1.13", "1.14", "1.19", "1.20", "1.21", "1.23", "1.24", "1.30"]


def _fallback_matrix_config(version: str) -> dict[str, Any]:  # TEMPORARY until tests/matrix.py
    minor = int(version.split(".")[1])
    gateways: list[dict[str, Any]] = [
        {
            "name": "edge-gateway",
            "namespace": "edge",
            "selector": {"app": "edge-gateway", "istio": "edge-gateway"},
            "installer": "deploymentPatch",
        }
    ]
    if minor <= 23:
        gateways.insert(
            0,
            {
                "name": "istio-ingressgateway",
                "namespace": "istio-system",
                "selector": {"app": "istio-ingressgateway", "istio": "ingressgateway"},
                "installer": "istioOperator",
            },
        )
    return {
        "aws:region": "ap-northeast-1",
        "acpw:istioVersion": version,
        "acpw:gateways": gateways,
    }


def _matrix_versions() -> list[str]:
    try:
        from tests.matrix import MATRIX_VERSIONS
    except ImportError:
        return _FALLBACK_VERSIONS
    return [str(v) for v in MATRIX_VERSIONS]


def _matrix_config(version: str) -> dict[str, Any]:
    try:
        from tests.matrix import matrix_config
    except ImportError:
        return _fallback_matrix_config(version)
    return dict(matrix_config(version))


@dataclass(frozen=True)
class Case:
    """One rendered configuration and the Istio version it targets."""

    name: str
    istio_version: str
    config: dict[str, Any]
    objects: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]

    def gateways(self) -> list[dict[str, Any]]:
        gws = self.config.get("acpw:gateways")
        if gws is None:
            from components.config import DEFAULT_GATEWAY

            gws = [DEFAULT_GATEWAY]
        return [dict(g, installer=g.get("installer", "istioOperator")) for g in gws]


def case_names() -> list[str]:
    return [*EXAMPLE_STACKS, *(f"matrix-{v}" for v in _matrix_versions())]


@functools.cache
def render_case(name: str) -> Case:
    if name.startswith("matrix-"):
        config = _matrix_config(name.removeprefix("matrix-"))
        render = render_stack("matrix", config=config)
    else:
        config = read_stack_config(name)
        render = render_stack(name)
    version = str(config["acpw:istioVersion"])
    return Case(name, version, config, render.kubernetes)
