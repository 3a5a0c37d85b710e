"""Every Istio-version-dependent choice of the program, in one place.

The facts come from ../shared/ISTIO-VERSIONS.md (istio/istio and istio/api sources).
Builders ask an :class:`IstioFeatures` instead of comparing version numbers themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering
from typing import Literal

OLDEST_SUPPORTED = (1, 12)

_VERSION_RE = re.compile(r"^1\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?$")

ReceiverDelivery = Literal["envoyFilterBootstrapPatch", "bootstrapOverride"]


@total_ordering
@dataclass(frozen=True)
class IstioVersion:
    """An Istio release as written in stack config: ``1.13`` or ``1.13.9``."""

    minor: int
    patch: int | None = None

    @classmethod
    def parse(cls, text: str) -> IstioVersion:
        match = _VERSION_RE.match(text.strip())
        if not match:
            raise ValueError(f"'{text}' is not an Istio version like 1.22 or 1.22.3")
        patch = match.group(2)
        return cls(int(match.group(1)), int(patch) if patch is not None else None)

    def at_least(self, minor: int, patch: int = 0) -> bool:
        """True when this release is ``1.<minor>.<patch>`` or newer (an unknown patch counts as .0)."""
        return (self.minor, self.patch or 0) >= (minor, patch)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, IstioVersion):
            return NotImplemented
        return (self.minor, self.patch or 0) < (other.minor, other.patch or 0)

    def __str__(self) -> str:
        return f"1.{self.minor}" + (f".{self.patch}" if self.patch is not None else "")


@dataclass(frozen=True)
class IstioFeatures:
    """What a given Istio release accepts and how the program must use it."""

    version: IstioVersion

    @property
    def receiver_delivery(self) -> ReceiverDelivery:
        # BOOTSTRAP patches are ignored from 1.21 (istio/istio #48693).
        return "bootstrapOverride" if self.version.at_least(21) else "envoyFilterBootstrapPatch"

    @property
    def networking_api_version(self) -> str:
        # v1 is served from 1.22; v1beta1 is served by every supported release.
        return (
            "networking.istio.io/v1" if self.version.at_least(22) else "networking.istio.io/v1beta1"
        )

    @property
    def envoy_filter_api_version(self) -> str:
        return "networking.istio.io/v1alpha3"

    @property
    def wasm_plugin_api_version(self) -> str:
        return "extensions.istio.io/v1alpha1"

    @property
    def wasm_fail_strategy(self) -> bool:
        return self.version.at_least(19)

    @property
    def wasm_plugin_type(self) -> bool:
        return self.version.at_least(20)

    @property
    def wasm_pull_secret(self) -> bool:
        """1.13 accepts ``imagePullSecret`` but ignores it: private images cannot be pulled."""
        return self.version.at_least(14)

    @property
    def wasm_distinct_pull_secrets(self) -> bool:
        """Two WasmPlugins with different pull secrets work only from 1.14.3."""
        return self.version.at_least(14, 3)

    @property
    def wasm_docker_single_layer_only(self) -> bool:
        """1.13 - 1.15 accept a Docker/OCI image only with exactly one layer."""
        return not self.version.at_least(16)

    @property
    def tls_verifies_by_default(self) -> bool:
        """A SIMPLE DestinationRule verifies the server certificate by default from 1.21."""
        return self.version.at_least(21)

    @property
    def in_cluster_operator(self) -> bool:
        """The in-cluster IstioOperator controller exists up to 1.23 (removed in 1.24)."""
        return not self.version.at_least(24)
