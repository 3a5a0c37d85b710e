"""The Istio version matrix the mock and conformance tests render, and its stack config."""

from __future__ import annotations

from typing import Any

from acpw.istio_versions import MATRIX_MINORS

MATRIX_VERSIONS = [f"1.{minor}" for minor in MATRIX_MINORS]
"""The Istio releases rendered by the tests (defined in acpw/istio_versions.py)."""

PINNED_SENDER_DIGEST = "sha256:" + "ab" * 32
PINNED_VOLUME_DIGEST = "sha256:" + "cd" * 32


GHCR_CREDENTIAL = (
    "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:ecr-pullthroughcache/ghcr-AbCdEf"
)
"""An ECR pull-through cache credential for ghcr.io (example ARN)."""


def matrix_config(version: str, **overrides: Any) -> dict[str, Any]:
    """Stack config (``acpw:``/``aws:`` keys) exercising both installers on one Istio version.

    Private ECR images where the version can pull them (1.14+), public GHCR images on 1.13.
    """
    config: dict[str, Any] = {
        "aws:region": "ap-northeast-1",
        "acpw:istioVersion": version,
        "acpw:gateways": [
            {
                "name": "istio-ingressgateway",
                "namespace": "istio-system",
                "selector": {"app": "istio-ingressgateway", "istio": "ingressgateway"},
                "installer": "istioOperator",
            },
            {
                "name": "edge-gateway",
                "namespace": "edge",
                "selector": {"app": "edge-gateway", "istio": "edge-gateway"},
                "installer": "deploymentPatch",
            },
        ],
        "acpw:matchHosts": ["www.example.com"],
        "acpw:images": {
            "registry": "ghcr" if version == "1.13" else "ecr",
            "senderDigest": PINNED_SENDER_DIGEST,
            "receiverVolumeDigest": PINNED_VOLUME_DIGEST,
            **(
                {}
                if version == "1.13"
                else {"ecrUpstreamCredentials": {"ghcr.io": GHCR_CREDENTIAL}}
            ),
        },
    }
    for key, value in overrides.items():
        config[key if ":" in key else f"acpw:{key}"] = value
    return config


def with_public_images(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` pulling public GHCR images: no ECR keys, no pull-secret refresher."""
    images = {
        key: value for key, value in config["acpw:images"].items() if not key.startswith("ecr")
    }
    return {**config, "acpw:images": {**images, "registry": "ghcr"}}
