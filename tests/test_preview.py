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
        if kind not in ("WasmPlugin", "DeploymentPatch"):
            continue
        kind = kind.removesuffix("Patch")
        for path in unknown_paths(registration.inputs):
            found.setdefault((kind, path), set()).add(registration.name)
    assert set(found) == set(EXPECTED_UNKNOWN), sorted(found)
    # Every WasmPlugin and every patch has them (two gateways).
    assert all(len(names) == 2 for names in found.values())


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
