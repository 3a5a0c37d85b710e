"""A first `pulumi preview` shows values, not unknowns, wherever config decides them.

Reviewers read `pulumi preview --diff` on pull requests: an `[unknown]` hides what they need to
see. The prod stack is rendered as a first preview (the mock engine answers every output the
cloud computes as unknown: ECR repository URLs, ARNs, image digests the registry reports), and
every field of the WasmPlugins and the Deployment patches that is still unknown is listed here
with its reason. Anything else unknown fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pulumi.output

from tools.render import Render, render_stack

REGISTRY_HOST = "the ECR registry host (the repository does not exist before the first update)"
EXPECTED_UNKNOWN = {
    # WasmPlugin: only the URL (its sha256 is the pinned digest, known).
    ("WasmPlugin", "spec.url"): REGISTRY_HOST,
    # Deployment patch: the annotation naming the sender image (its URL). prod runs the batching
    # receiver, delivered in a ConfigMap: no init container, no receiver image.
    ("Deployment", "spec.template.metadata.annotations.aws-cloudwatch-proxy-wasm/sender"): (
        REGISTRY_HOST
    ),
}
GATEWAY_API_UNKNOWN = {
    # installer gatewayApi: the overlay is one JSON text holding the same two images, and its
    # ConfigMap is named by that text, so the Gateway's parametersRef follows it. A first
    # preview with registry ecr shows them unknown; with pinned ghcr images they are known.
    ("ConfigMap", "data"): REGISTRY_HOST,
    ("ConfigMap", "metadata.name"): REGISTRY_HOST,
    ("Gateway", "spec.infrastructure.parametersRef.name"): REGISTRY_HOST,
}


def unknown_paths(value: Any, path: str = "") -> Iterator[str]:
    if isinstance(value, pulumi.output.Unknown):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from unknown_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unknown_paths(item, f"{path}[{index}]")


def preview() -> Render:
    return render_stack("prod", preview=True)


def test_only_what_the_cloud_decides_is_unknown_at_a_first_preview() -> None:
    render = preview()
    found: dict[tuple[str, str], set[str]] = {}
    for registration in render.registrations:
        kind = registration.type.rsplit(":", 1)[-1]
        if kind not in ("WasmPlugin", "DeploymentPatch", "ConfigMap", "GatewayPatch"):
            continue
        kind = kind.removesuffix("Patch")
        for path in unknown_paths(registration.inputs):
            found.setdefault((kind, path), set()).add(registration.name)
    assert set(found) == set(EXPECTED_UNKNOWN) | set(GATEWAY_API_UNKNOWN), sorted(found)
    # Both WasmPlugins; the one deploymentPatch gateway's patch; the one gatewayApi overlay.
    assert {key: len(names) for key, names in found.items()} == {
        **{key: 2 if key[0] == "WasmPlugin" else 1 for key in EXPECTED_UNKNOWN},
        **{key: 1 for key in GATEWAY_API_UNKNOWN},
    }


def test_a_gateway_api_overlay_is_known_at_preview_with_pinned_public_images() -> None:
    from tests.matrix import matrix_config, with_public_images

    config = with_public_images(matrix_config("1.30"))
    config["acpw:gateways"] = [
        {"name": "partner-gateway", "namespace": "partner", "installer": "gatewayApi"}
    ]
    render = render_stack("matrix", config=config, preview=True)
    for registration in render.registrations:
        if registration.type.endswith(("ConfigMap", "GatewayPatch")):
            assert list(unknown_paths(registration.inputs)) == [], registration.name


def test_the_known_parts_are_the_values_the_update_applies() -> None:
    """Known fields in the preview equal the same fields once the cloud has answered."""
    before, after = preview(), render_stack("prod")
    plugins = {r.name: r for r in before.registrations if r.type.endswith("WasmPlugin")}
    for registration in after.registrations:
        if registration.name in plugins:
            known = plugins[registration.name].inputs["spec"]
            applied = registration.inputs["spec"]
            assert {k: v for k, v in known.items() if k != "url"} == {
                k: v for k, v in applied.items() if k != "url"
            }
