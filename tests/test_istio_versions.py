"""Istio version parsing and the per-version feature table."""

from __future__ import annotations

import pytest

from acpw.istio_versions import IstioFeatures, IstioVersion


@pytest.mark.parametrize(
    ("text", "minor", "patch"), [("1.13", 13, None), ("1.13.9", 13, 9), (" 1.30.0 ", 30, 0)]
)
def test_parse(text: str, minor: int, patch: int | None) -> None:
    assert IstioVersion.parse(text) == IstioVersion(minor, patch)


@pytest.mark.parametrize("text", ["2.0", "1", "1.x", "v1.13", "1.013", "1.13.9.1", ""])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not an Istio version"):
        IstioVersion.parse(text)


def test_ordering_and_at_least() -> None:
    assert IstioVersion(13, 9) < IstioVersion(14) < IstioVersion(14, 3)
    assert IstioVersion(14).at_least(14) and not IstioVersion(14).at_least(14, 3)
    assert IstioVersion(14, 3).at_least(14, 3)
    assert str(IstioVersion(13, 9)) == "1.13.9" and str(IstioVersion(21)) == "1.21"


FEATURE_TABLE = {
    # version: (delivery, networking API, failStrategy, type, pull secret, verify by default, operator)
    "1.12": ("envoyFilterBootstrapPatch", "v1beta1", False, False, False, False, True),
    "1.14": ("envoyFilterBootstrapPatch", "v1beta1", False, False, True, False, True),
    "1.19": ("envoyFilterBootstrapPatch", "v1beta1", True, False, True, False, True),
    "1.20": ("envoyFilterBootstrapPatch", "v1beta1", True, True, True, False, True),
    "1.21": ("bootstrapOverride", "v1beta1", True, True, True, True, True),
    "1.22": ("bootstrapOverride", "v1", True, True, True, True, True),
    "1.23": ("bootstrapOverride", "v1", True, True, True, True, True),
    "1.24": ("bootstrapOverride", "v1", True, True, True, True, False),
    "1.30": ("bootstrapOverride", "v1", True, True, True, True, False),
}


@pytest.mark.parametrize("version", FEATURE_TABLE)
def test_feature_table(version: str) -> None:
    features = IstioFeatures(IstioVersion.parse(version))
    assert (
        features.receiver_delivery,
        features.networking_api_version.rsplit("/", 1)[1],
        features.wasm_fail_strategy,
        features.wasm_plugin_type,
        features.wasm_pull_secret,
        features.tls_verifies_by_default,
        features.in_cluster_operator,
    ) == FEATURE_TABLE[version]


def test_single_layer_rule_and_distinct_pull_secrets() -> None:
    assert IstioFeatures(IstioVersion(15)).wasm_docker_single_layer_only
    assert not IstioFeatures(IstioVersion(16)).wasm_docker_single_layer_only
    assert not IstioFeatures(IstioVersion(14, 2)).wasm_distinct_pull_secrets
    assert IstioFeatures(IstioVersion(14, 3)).wasm_distinct_pull_secrets
