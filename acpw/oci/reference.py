"""Image references, parsed as the registries read them (``oras.container``, no network code).

Kept apart from :mod:`acpw.oci.client` so that the Pulumi program, which only parses
references, does not import the registry client's HTTP stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import oras.container

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
DOCKER_HUB = "registry-1.docker.io"


@dataclass(frozen=True)
class Reference:
    """An image reference: ``registry/repository[:tag][@digest]`` (an ``oci://`` prefix is dropped)."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        raw = text.removeprefix("oci://")
        has_tag = ":" in raw.rsplit("/", 1)[-1].split("@", 1)[0]
        try:
            container = oras.container.Container(raw)
        except ValueError as error:
            raise ValueError(f"'{text}' is not an image reference: {error}") from None
        registry = container.registry
        repository = container.api_prefix
        if registry == "docker.io":
            registry = DOCKER_HUB
            if "/" not in repository:
                repository = f"library/{repository}"
        digest = container.digest
        if digest is not None and not DIGEST_RE.match(digest):
            raise ValueError(f"'{text}': the digest must be sha256: and 64 lowercase hex")
        return cls(registry, repository, container.tag if has_tag else None, digest)

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest when pinned, else the tag (default latest)."""
        return self.digest or self.tag or "latest"

    @property
    def repository_url(self) -> str:
        return f"{self.registry}/{self.repository}"

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, self.tag, digest)

    def __str__(self) -> str:
        text = self.repository_url
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text
