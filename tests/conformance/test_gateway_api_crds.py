"""installer gatewayApi: the rendered Gateway patch, applied to a user's Gateway, against the
pinned Gateway API CRDs (v1.2.1, the oldest supported line, and v1.6.1), CEL rules included."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conformance.gateway_api_schema import (
    GATEWAY_CRDS,
    GROUP,
    apply_patch,
    crd,
    crd_file,
    user_gateway,
    validate_gateway_patch,
)
from tests.conformance.objects import object_ref
from tests.conformance.renders import GATEWAY_API_VERSIONS, render_case

ROOT = Path(__file__).resolve().parents[2]
TAGS = sorted(GATEWAY_CRDS)
RENDERS = [*(f"gwapi-{v}" for v in GATEWAY_API_VERSIONS), "prod"]
COMMITTED = "rendered/prod/kubernetes.yaml"


@pytest.mark.parametrize("tag", TAGS)
def test_crds_are_the_pinned_upstream_files(tag: str) -> None:
    path = crd_file(tag)
    blob = subprocess.run(
        ["git", "hash-object", str(path)], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert blob == GATEWAY_CRDS[tag]
    doc = yaml.safe_load(path.read_text())
    assert doc["metadata"]["annotations"][f"{GROUP}/bundle-version"] == tag
    assert doc["metadata"]["annotations"][f"{GROUP}/channel"] == "standard"
    assert crd(tag).served_versions(GROUP, "Gateway") == ["v1", "v1beta1"]


def _patches(source: str) -> list[dict[str, Any]]:
    if source == COMMITTED:
        objects = [d for d in yaml.safe_load_all((ROOT / COMMITTED).read_text()) if d]
    else:
        objects = render_case(source).objects
    patches = [o for o in objects if o.get("kind") == "Gateway"]
    assert patches, f"{source} renders no Gateway patch"
    return patches


@pytest.mark.parametrize("tag", TAGS)
@pytest.mark.parametrize("source", [*RENDERS, COMMITTED])
def test_rendered_patch_applied_to_a_user_gateway_is_valid(source: str, tag: str) -> None:
    for patch in _patches(source):
        meta = patch["metadata"]
        gateway = user_gateway(meta["name"], meta["namespace"])
        assert crd(tag).validate(gateway).ok  # the user's Gateway is valid before the patch
        merged = apply_patch(gateway, patch)
        report = crd(tag).validate(merged)
        assert report.ok, f"{source}: {report}"
        assert report.unevaluated == [], f"{source}: {report}"
        # The apply adds the reference and keeps what the user owns.
        spec = merged["spec"]
        assert (
            spec["infrastructure"]["parametersRef"]
            == (patch["spec"]["infrastructure"]["parametersRef"])
        )
        assert spec["infrastructure"]["labels"] == gateway["spec"]["infrastructure"]["labels"]
        assert spec["listeners"] == gateway["spec"]["listeners"]
        assert spec["gatewayClassName"] == "istio"
        assert validate_gateway_patch(patch) == [], object_ref(patch)


def _violations(tag: str, patch: dict[str, Any]) -> list[tuple[str, str]]:
    meta = patch["metadata"]
    merged = apply_patch(user_gateway(meta["name"], meta["namespace"]), patch)
    return [(v.path, v.message) for v in crd(tag).validate(merged).violations]


REF = "spec.infrastructure.parametersRef"


@pytest.mark.parametrize("tag", TAGS)
@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"name": None}, f"{REF}.name", "required field is missing"),
        ({"group": None}, f"{REF}.group", "required field is missing"),
        ({"name": ""}, f"{REF}.name", "shorter than 1 characters"),
        ({"kind": 5}, f"{REF}.kind", "must be of type string, got integer"),
        ({"kind": "Config Map"}, f"{REF}.kind", "does not match pattern"),
        ({"group": "Core"}, f"{REF}.group", "does not match pattern"),
        ({"namespace": "other"}, f"{REF}.namespace", "unknown field"),
    ],
)
def test_the_crds_refuse_a_wrong_reference(
    tag: str, change: dict[str, Any], path: str, message: str
) -> None:
    [patch] = copy.deepcopy(_patches("gwapi-1.30"))
    ref = patch["spec"]["infrastructure"]["parametersRef"]
    for key, value in change.items():
        if value is None:
            del ref[key]
        else:
            ref[key] = value
    violations = _violations(tag, patch)
    assert [p for p, m in violations if message in m] == [path], violations
    assert validate_gateway_patch(patch)


@pytest.mark.parametrize("tag", TAGS)
def test_the_crds_cel_rules_are_evaluated(tag: str) -> None:
    """The CRD's CEL rules run on the merged Gateway: a second listener named like the first, and a
    label key with an invalid prefix, fail their x-kubernetes-validations."""
    [patch] = _patches("gwapi-1.30")
    gateway = user_gateway("partner-gateway", "partner")
    gateway["spec"]["listeners"][1]["name"] = "http"
    gateway["spec"]["infrastructure"]["labels"]["Example.com/team"] = "partner"
    report = crd(tag).validate(apply_patch(gateway, patch))
    messages = [v.message for v in report.violations]
    assert any(m.startswith("Listener name must be unique") for m in messages), messages
    assert [v.path for v in report.violations if v.message.startswith("Label keys must")] == [
        "spec.infrastructure.labels"
    ], messages
    assert report.unevaluated == []


def test_the_patch_owns_only_the_parameters_ref() -> None:
    [patch] = copy.deepcopy(_patches("gwapi-1.30"))
    patch["spec"]["listeners"] = user_gateway("partner-gateway", "partner")["spec"]["listeners"]
    assert any("may own only" in p for p in validate_gateway_patch(patch))
    patch["apiVersion"] = f"{GROUP}/v1beta1"
    del patch["spec"]["listeners"]
    assert any(
        "not a gateway.networking.k8s.io/v1 Gateway" in p for p in validate_gateway_patch(patch)
    )
