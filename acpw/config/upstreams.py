"""The upstream registries an ECR pull-through cache rule can serve (``images.registry: ecr``).

Facts from the ECR API reference, CreatePullThroughCacheRule (``upstreamRegistryUrl`` per
supported registry, ``credentialArn`` pattern ``...:secret:ecr-pullthroughcache/...``,
``ecrRepositoryPrefix`` 2 to 30 characters) and the ECR user guide, "Creating a pull through cache
rule" (registries that need a Secrets Manager credential).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Upstream:
    url: str
    """``upstreamRegistryUrl`` of the rule."""
    short: str
    """The last part of the ECR repository prefix (``<stack prefix>/<short>``)."""
    needs_credential: bool
    """The upstream refuses anonymous pulls through the cache: a Secrets Manager secret."""


UPSTREAMS: dict[str, Upstream] = {
    "ghcr.io": Upstream("ghcr.io", "ghcr", True),
    "docker.io": Upstream("registry-1.docker.io", "docker-hub", True),
    "registry-1.docker.io": Upstream("registry-1.docker.io", "docker-hub", True),
    "index.docker.io": Upstream("registry-1.docker.io", "docker-hub", True),
    "registry.gitlab.com": Upstream("registry.gitlab.com", "gitlab", True),
    "public.ecr.aws": Upstream("public.ecr.aws", "ecr-public", False),
    "quay.io": Upstream("quay.io", "quay", False),
    "registry.k8s.io": Upstream("registry.k8s.io", "k8s", False),
}
"""By the registry host an image reference names."""

CREDENTIAL_ARN_RE = re.compile(
    r"^arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:ecr-pullthroughcache/[a-zA-Z0-9/_+=.@-]+$"
)
"""A Secrets Manager secret ARN an ECR pull-through cache rule accepts (aws partition)."""

PREFIX_MAX = 30
"""``ecrRepositoryPrefix``: at most 30 characters."""


def registry_host(reference: str) -> str:
    """The registry an image reference names (Docker Hub when the first part is not a host)."""
    first = reference.removeprefix("oci://").split("/", 1)[0]
    if "/" not in reference.removeprefix("oci://") or not (
        "." in first or ":" in first or first == "localhost"
    ):
        return "docker.io"
    return first.lower()


def upstream_of(reference: str) -> Upstream | None:
    """The pull-through upstream serving this image, or None when ECR supports no rule for it."""
    return UPSTREAMS.get(registry_host(reference))


def supported_hosts() -> str:
    return ", ".join(sorted(UPSTREAMS))
