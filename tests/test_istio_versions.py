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


def test_supported_range() -> None:
    from acpw.istio_versions import NEWEST_SUPPORTED, OLDEST_SUPPORTED, supported_minors

    assert OLDEST_SUPPORTED < NEWEST_SUPPORTED
    assert supported_minors()[0] == OLDEST_SUPPORTED[1]
    assert supported_minors()[-1] == NEWEST_SUPPORTED[1]


def test_changes_are_ordered_named_once_and_documented() -> None:
    from acpw.istio_versions import CHANGES, COLUMNS, OLDEST_SUPPORTED

    assert [c.since for c in CHANGES] == sorted(c.since for c in CHANGES)
    assert len({c.name for c in CHANGES}) == len(CHANGES)
    for change in CHANGES:
        assert change.since[0] > OLDEST_SUPPORTED[1], change
        assert (change.column is None) == (not change.text), change
        assert change.column is None or change.column in COLUMNS


def test_matrix_sees_each_side_of_every_change() -> None:
    """The rendered matrix has a release without and one with each change, and the newest."""
    from acpw.istio_versions import CHANGES, MATRIX_MINORS, NEWEST_SUPPORTED, supported_minors

    assert list(MATRIX_MINORS) == sorted(set(MATRIX_MINORS))
    assert set(MATRIX_MINORS) <= set(supported_minors())
    assert MATRIX_MINORS[-1] == NEWEST_SUPPORTED[1]
    for change in CHANGES:
        minor, patch = change.since
        if patch:
            continue  # patch releases: the config tests pin those (1.14.2 / 1.14.3)
        assert any(m < minor for m in MATRIX_MINORS), change
        assert any(m >= minor for m in MATRIX_MINORS), change


def test_every_supported_release_has_a_kubernetes_window() -> None:
    from acpw.istio_versions import KUBERNETES_WINDOWS, supported_minors

    assert sorted(KUBERNETES_WINDOWS) == list(supported_minors())
    for minor, (lowest, highest) in KUBERNETES_WINDOWS.items():
        assert lowest <= highest, minor


def test_crd_files_are_of_supported_releases() -> None:
    from acpw.istio_versions import CRD_FILES, supported_minors

    for crd in CRD_FILES:
        assert crd.name.endswith(f"-{crd.tag}.yaml"), crd
        assert IstioVersion.parse(crd.tag).minor in supported_minors(), crd
        assert len(crd.blob) == 40, crd


def test_envoy_releases_cover_every_supported_release() -> None:
    from acpw.istio_versions import ENVOY_RELEASES, PROVIDER_LEGEND, supported_minors

    assert set(ENVOY_RELEASES) == set(supported_minors())
    for minor, release in ENVOY_RELEASES.items():
        # Istio 1.N ships Envoy 1.(N+8) at every verified point.
        assert release.version.startswith(f"1.{minor + 8}."), minor
        assert set(release.providers.split(", ")) <= set(PROVIDER_LEGEND), minor


def test_signing_features_start_where_envoy_has_them() -> None:
    from acpw.istio_versions import ENVOY_RELEASES, IstioFeatures, IstioVersion, first_release

    for minor, release in ENVOY_RELEASES.items():
        features = IstioFeatures(IstioVersion(minor))
        assert features.envoy_pod_identity == ("P" in release.providers.split(", ")), minor
        assert features.envoy_web_identity == ("W" in release.providers.split(", ")), minor
        # The upstream filter arrived with Envoy 1.30.
        assert features.envoy_upstream_signing == (minor + 8 >= 30), minor
    assert first_release("envoy_upstream_signing") == "1.22"
    assert first_release("envoy_web_identity") == "1.24"
