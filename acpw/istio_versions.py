"""Every Istio-version-dependent fact of the program, in one place.

- the supported range (:data:`OLDEST_SUPPORTED`, :data:`NEWEST_SUPPORTED`);
- :data:`CHANGES`, the table of what changes at which release: :class:`IstioFeatures` answers
  from it, and ``python -m tools.readme_tables`` writes docs/istio-versions.md from it;
- the releases the tests render (:data:`MATRIX_MINORS`), each release's Kubernetes support
  window (:data:`KUBERNETES_WINDOWS`) and the pinned Istio CRD files the conformance tests
  validate against (:data:`CRD_FILES`, fetched by ``tools/fetch_istio_crds.py``).

Adding an Istio release means editing this module only (then ``python -m tools.readme_tables
--write``). The facts come from ../shared/ISTIO-VERSIONS.md (istio/istio and istio/api sources).
Builders ask an :class:`IstioFeatures` instead of comparing version numbers themselves.
Standard library only: ``tools/fetch_istio_crds.py`` runs before the venv exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering
from typing import Literal

OLDEST_SUPPORTED = (1, 12)
"""Oldest supported Istio release: WasmPlugin exists from 1.12."""
NEWEST_SUPPORTED = (1, 30)
"""Newest Istio minor release whose behaviour the program has been checked against."""

NEWEST_KNOWN_PATCH: dict[int, int] = {
    12: 9, 13: 9, 14: 6, 15: 7, 16: 7, 17: 8, 18: 7, 19: 10, 20: 8, 21: 6,
    22: 8, 23: 6, 24: 6, 25: 5, 26: 8, 27: 9, 28: 10, 29: 6, 30: 3,
}  # fmt: skip
"""Per minor, the newest patch release known to this program: the newest ``1.<minor>.<patch>``
tag of istio/istio in the snapshot of 2026-12-06 (``git tag``). A newer patch is accepted with a
warning: its minor's facts apply, but it was not checked."""

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

    @property
    def unknown_patch(self) -> bool:
        """A patch release newer than the newest one known for its minor (:data:`NEWEST_KNOWN_PATCH`)."""
        newest = NEWEST_KNOWN_PATCH.get(self.minor)
        return self.patch is not None and newest is not None and self.patch > newest


Column = Literal["receiver", "wasm", "networking", "gateway", "signing"]
"""A column of the README's version matrix."""

COLUMNS: dict[Column, str] = {
    "receiver": "receiver delivery",
    "wasm": "WasmPlugin fields",
    "networking": "ServiceEntry / DestinationRule",
    "gateway": "gateway settings",
    "signing": "CloudWatch signing / AWS identity",
}
"""The README matrix columns and their headings."""

OLDEST_BEHAVIOUR: dict[Column, str] = {
    "receiver": "`EnvoyFilter` BOOTSTRAP MERGE + `BOOTSTRAP_XDS_AGENT=true`",
    "wasm": "no `imagePullSecret` (ignored: private registries are refused)",
    "networking": "`v1beta1`, `caCertificates` = OS bundle (no verification by default)",
    "gateway": "IstioOperator created in-cluster + exported",
    "signing": "`module` + `accessKey` only (Envoy < 1.30: `aws_request_signing` is no upstream filter)",
}
"""What the oldest supported release gets, per README column."""


@dataclass(frozen=True)
class Change:
    """Something that starts with an Istio release (and stays in every later one)."""

    name: str
    since: tuple[int, int]
    """The first release with it: (minor, patch)."""
    column: Column | None
    """The README matrix column that shows it (None: not shown there)."""
    text: str = ""
    """The README matrix cell from that release on."""


CHANGES: tuple[Change, ...] = (
    Change(
        "wasm_pull_secret",
        (14, 0),
        "wasm",
        "`imagePullSecret` (two different secrets only from 1.14.3: warning)",
    ),
    Change("wasm_distinct_pull_secrets", (14, 3), None),
    Change("wasm_docker_multi_layer", (16, 0), None),
    Change("wasm_fail_strategy", (19, 0), "wasm", "+ `failStrategy`"),
    Change("wasm_plugin_type", (20, 0), "wasm", "+ `type: HTTP`"),
    # BOOTSTRAP patches are ignored from 1.21 (istio/istio #48693).
    Change(
        "bootstrap_override",
        (21, 0),
        "receiver",
        "ConfigMap `acpw-bootstrap` mounted at `/etc/istio/custom-bootstrap`, "
        "`ISTIO_BOOTSTRAP_OVERRIDE` (BOOTSTRAP patches are ignored from 1.21)",
    ),
    Change(
        "tls_verifies_by_default", (21, 0), "networking", "`v1beta1`, verification on by default"
    ),
    # v1 is served from 1.22; v1beta1 is served by every supported release.
    Change("networking_v1", (22, 0), "networking", "`v1`"),
    Change(
        "in_cluster_operator_deprecated",
        (22, 0),
        "gateway",
        "same (in-cluster operator deprecated)",
    ),
    # Envoy 1.30 (Istio 1.22): aws_request_signing works as an upstream HTTP filter, and its
    # credential chain reads an EKS Pod Identity token file (ENVOY_RELEASES has the sources).
    Change(
        "envoy_upstream_signing",
        (22, 0),
        "signing",
        "`signing: envoy` (any region); `podIdentity` (Envoy 1.30)",
    ),
    Change("envoy_pod_identity", (22, 0), None),
    Change("tls_always_verified", (24, 0), "networking", "`v1`, verification always on"),
    # Envoy 1.32 (Istio 1.24) fetches web-identity (IRSA) credentials by default; 1.29 - 1.31
    # only with a runtime flag the program does not set.
    Change(
        "envoy_web_identity", (24, 0), "signing", "+ `irsa` (Envoy 1.32: web identity by default)"
    ),
    Change(
        "in_cluster_operator_removed",
        (24, 0),
        "gateway",
        "IstioOperator only exported for `istioctl install -f` (warning)",
    ),
)
"""What changes at which Istio release, oldest first: the one table of version-dependent behaviour."""

_SINCE = {change.name: change.since for change in CHANGES}


def supported_minors() -> range:
    """Every supported minor release, oldest first."""
    return range(OLDEST_SUPPORTED[1], NEWEST_SUPPORTED[1] + 1)


@dataclass(frozen=True)
class IstioFeatures:
    """What a given Istio release accepts and how the program must use it (from :data:`CHANGES`)."""

    version: IstioVersion

    def has(self, change: str) -> bool:
        """True when this release has the named :data:`CHANGES` entry."""
        return self.version.at_least(*_SINCE[change])

    @property
    def receiver_delivery(self) -> ReceiverDelivery:
        return (
            "bootstrapOverride" if self.has("bootstrap_override") else "envoyFilterBootstrapPatch"
        )

    @property
    def networking_api_version(self) -> str:
        return (
            "networking.istio.io/v1" if self.has("networking_v1") else "networking.istio.io/v1beta1"
        )

    @property
    def envoy_filter_api_version(self) -> str:
        return "networking.istio.io/v1alpha3"

    @property
    def wasm_plugin_api_version(self) -> str:
        return "extensions.istio.io/v1alpha1"

    @property
    def wasm_fail_strategy(self) -> bool:
        return self.has("wasm_fail_strategy")

    @property
    def wasm_plugin_type(self) -> bool:
        return self.has("wasm_plugin_type")

    @property
    def wasm_pull_secret(self) -> bool:
        """1.13 accepts ``imagePullSecret`` but ignores it: private images cannot be pulled."""
        return self.has("wasm_pull_secret")

    @property
    def wasm_distinct_pull_secrets(self) -> bool:
        """Two WasmPlugins with different pull secrets work only from 1.14.3."""
        return self.has("wasm_distinct_pull_secrets")

    @property
    def wasm_docker_single_layer_only(self) -> bool:
        """1.13 - 1.15 accept a Docker/OCI image only with exactly one layer."""
        return not self.has("wasm_docker_multi_layer")

    @property
    def tls_verifies_by_default(self) -> bool:
        """A SIMPLE DestinationRule verifies the server certificate by default from 1.21."""
        return self.has("tls_verifies_by_default")

    @property
    def envoy_upstream_signing(self) -> bool:
        """Envoy's ``aws_request_signing`` filter works on a cluster (upstream filter) from 1.22."""
        return self.has("envoy_upstream_signing")

    @property
    def envoy_pod_identity(self) -> bool:
        """Envoy's credential chain reads an EKS Pod Identity token file from 1.22 (Envoy 1.30)."""
        return self.has("envoy_pod_identity")

    @property
    def envoy_web_identity(self) -> bool:
        """Envoy fetches IRSA (web identity) credentials by default from 1.24 (Envoy 1.32)."""
        return self.has("envoy_web_identity")

    @property
    def envoy(self) -> EnvoyRelease:
        """The Envoy this release's istio-proxy ships."""
        return ENVOY_RELEASES[self.version.minor]

    @property
    def in_cluster_operator(self) -> bool:
        """The in-cluster IstioOperator controller exists up to 1.23 (removed in 1.24)."""
        return not self.has("in_cluster_operator_removed")


FEATURE_NAMES = {
    "envoy_upstream_signing": "Envoy signing (acpw:cloudwatch.signing: envoy)",
    "envoy_pod_identity": "EKS Pod Identity (acpw:iam.credentials: podIdentity)",
    "envoy_web_identity": "IRSA (acpw:iam.credentials: irsa)",
}
"""What the Envoy features enable, for the error refusing them on an older release."""


def first_release(change: str) -> str:
    """The first release with the named :data:`CHANGES` entry, as ``1.<minor>``."""
    minor, patch = _SINCE[change]
    return f"1.{minor}" + (f".{patch}" if patch else "")


@dataclass(frozen=True)
class EnvoyRelease:
    """The Envoy inside one Istio minor's istio-proxy, and what its ``aws_request_signing`` does."""

    version: str
    """Envoy version (``1.30.x``: minor known, patch not read)."""
    verified: bool
    """True: read from envoy ``VERSION.txt`` at the pinned SHA or an istio/proxy commit message;
    False: from the rule Istio 1.N ships Envoy 1.(N+8) (istio.io supported-releases page, holds at
    every verified point)."""
    proxy_sha: str
    """istio/proxy commit pinned by istio/istio ``istio.deps`` (``lastStableSHA``) at the newest tag."""
    envoy_sha: str
    """``ENVOY_SHA`` in istio/proxy ``WORKSPACE`` at that commit (1.15: the istio/envoy fork)."""
    providers: str
    """Credential providers of the filter's default chain (legend in :data:`PROVIDER_LEGEND`)."""


PROVIDER_LEGEND = {
    "E": "env AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN",
    "F": "credentials file (envoy PR #25532, Envoy 1.26)",
    "W*": "web identity (IRSA) only with runtime "
    "envoy.reloadable_features.use_http_client_to_fetch_aws_credentials=true (Envoy 1.29 - 1.31)",
    "W": "web identity (IRSA), default (changelogs/1.32.0.yaml flips the flag on)",
    "T": "container credentials (ECS-style URI)",
    "P": "EKS Pod Identity token file (envoy PR #32833, changelogs/1.30.0.yaml)",
    "I": "EC2 instance metadata",
}
"""Legend of :attr:`EnvoyRelease.providers`."""

ENVOY_RELEASES: dict[int, EnvoyRelease] = {
    12: EnvoyRelease("1.20.x", False, "a732fe73", "ad78e0a9", "E, T, I"),
    13: EnvoyRelease("1.21.x", False, "ae81d0ed", "cc694c96", "E, T, I"),
    14: EnvoyRelease("1.22.x", False, "a757eae4", "f2404ab4", "E, T, I"),
    15: EnvoyRelease("1.23.x", False, "9da601c6", "87bbee93", "E, T, I"),
    16: EnvoyRelease("1.24.x", False, "ca3e0c6e", "bd031da7", "E, T, I"),
    17: EnvoyRelease("1.25.x", False, "e1222b56", "e208fc2a", "E, T, I"),
    18: EnvoyRelease("1.26.x", False, "491c2e17", "ffdedd22", "E, F, T, I"),
    19: EnvoyRelease("1.27.x", False, "a9208e4b", "be4f1cfd", "E, F, T, I"),
    20: EnvoyRelease("1.28.x", False, "b748410c", "c6cd2f02", "E, F, T, I"),
    21: EnvoyRelease("1.29.9", True, "78bd2d9b", "94aa5f7f", "E, F, W*, T, I"),
    22: EnvoyRelease("1.30.x", False, "b7950257", "583d388e", "E, F, W*, T, P, I"),
    23: EnvoyRelease("1.31.8-dev", True, "8d0aa290", "0d8a5e35", "E, F, W*, T, P, I"),
    24: EnvoyRelease("1.32.x", False, "c72ea79f", "93466adc", "E, F, W, T, P, I"),
    25: EnvoyRelease("1.33.8", True, "ab5b0d32", "29a3107a", "E, F, W, T, P, I"),
    26: EnvoyRelease("1.34.x", False, "51e3efe7", "8854dd14", "E, F, W, T, P, I"),
    27: EnvoyRelease("1.35.x", False, "a2abd28f", "3a854667", "E, F, W, T, P, I"),
    28: EnvoyRelease("1.36.x", False, "6aa6f06f", "57198c44", "E, F, W, T, P, I"),
    29: EnvoyRelease("1.37.x", False, "8f4f6932", "fe0bc162", "E, F, W, T, P, I"),
    30: EnvoyRelease("1.38.4-dev", True, "81864a1c", "4f1e006e", "E, F, W, T, P, I"),
}
"""Per Istio minor (newest patch of :data:`NEWEST_KNOWN_PATCH`), the Envoy its proxy ships.

How it was found: ``git show <tag>:istio.deps`` in istio/istio (proxy ``lastStableSHA``), then
``git show <proxy_sha>:WORKSPACE`` in istio/proxy (``ENVOY_SHA``). Every release compiles
``envoy.filters.http.aws_request_signing`` and ``envoy.filters.http.header_mutation`` in
(istio/proxy ``bazel/extension_config/extensions_build_config.bzl``). Envoy facts:

- upstream filter: envoy PR #31736, changelogs/1.30.0.yaml ("support use as an upstream HTTP
  filter"); before, config.cc registers only the downstream factory. First: Istio 1.22.
- ``host_rewrite``: envoy PR #10280 (Envoy 1.14): every supported release.
- an existing ``Authorization`` header: the Envoy 1.30-era signer *adds* its own
  (``headers.addCopy``; envoy issues #15963, #23702, #35075), the newer one replaces it (seen with
  Envoy 1.40 here). Which Envoy first replaces is not pinned down, so the program always removes
  the receiver's ``Authorization`` / ``X-Amz-Date`` / ``X-Amz-Security-Token`` with a
  ``header_mutation`` upstream filter before the signer.
- the web-identity STS endpoint is not configurable (``sts.<region>.amazonaws.com``); Envoy
  1.40's STS connection validates no certificate (tests/conformance/test_envoy_keyless.py;
  tests/conformance/envoy_harness/fake_credentials.py cites the sources).
"""

MATRIX_MINORS: tuple[int, ...] = (13, 14, 19, 20, 21, 23, 24, NEWEST_SUPPORTED[1])
"""The releases the mock and conformance tests render (``tests/matrix.py``): each side of every
change in :data:`CHANGES` (tests/test_istio_versions.py checks it), and the newest release."""

KUBERNETES_WINDOWS: dict[int, tuple[int, int]] = {
    12: (19, 22),
    13: (20, 23),
    14: (21, 24),
    15: (22, 25),
    16: (22, 25),
    17: (23, 26),
    18: (24, 27),
    19: (25, 28),
    20: (25, 29),
    21: (26, 29),
    22: (27, 30),
    23: (27, 30),
    24: (28, 31),
    25: (29, 32),
    26: (29, 33),
    27: (29, 33),
    28: (30, 34),
    29: (31, 35),
    30: (32, 37),
}
"""Istio minor -> supported Kubernetes (lowest, highest) minor. Source: istio.io "Supported
Releases" page ("Supported Kubernetes Versions"); 1.30 is newer than that table (1.29 ->
1.31-1.35): assumed 1.32-1.36, and the newest schema kubernetes-validate ships (1.37) is checked
too. The conformance tests check each release against its window."""


@dataclass(frozen=True)
class CrdFile:
    """A pinned Istio CRD file: the reference the conformance tests validate objects against."""

    name: str
    """File name in the CRD directory (``crd-all-<tag>.yaml``, ``crd-operator-<tag>.yaml``)."""
    tag: str
    """The istio/istio tag it is taken from."""
    path: str
    """Its path in istio/istio at that tag."""
    blob: str
    """Its git blob id (``git hash-object``), as in ../shared/istio-crds/README.md."""


_BASE_CRDS = "manifests/charts/base/crds"
CRD_FILES: tuple[CrdFile, ...] = (
    CrdFile(
        "crd-all-1.30.3.yaml",
        "1.30.3",
        "manifests/charts/base/files/crd-all.gen.yaml",
        "7318e07ffdaca66dbbfdc4e27e93da74eabdd3a2",
    ),
    CrdFile(
        "crd-all-1.23.6.yaml",
        "1.23.6",
        f"{_BASE_CRDS}/crd-all.gen.yaml",
        "dfc08041ff73e427c394675132525a353ad07d00",
    ),
    CrdFile(
        "crd-all-1.20.8.yaml",
        "1.20.8",
        f"{_BASE_CRDS}/crd-all.gen.yaml",
        "c259f01bab89ac6836d10a60998c41a931791974",
    ),
    CrdFile(
        "crd-all-1.14.6.yaml",
        "1.14.6",
        f"{_BASE_CRDS}/crd-all.gen.yaml",
        "043bdb6280a455ba1d92462dc8b69168f05f8714",
    ),
    CrdFile(
        "crd-all-1.13.9.yaml",
        "1.13.9",
        f"{_BASE_CRDS}/crd-all.gen.yaml",
        "7dab5252f1bc6add40ca6fa2db5c774b97a1fa29",
    ),
    CrdFile(
        "crd-operator-1.14.6.yaml",
        "1.14.6",
        f"{_BASE_CRDS}/crd-operator.yaml",
        "2a80f41866fce86c292f940dd17096ccba6d911d",
    ),
    CrdFile(
        "crd-operator-1.13.9.yaml",
        "1.13.9",
        f"{_BASE_CRDS}/crd-operator.yaml",
        "2a80f41866fce86c292f940dd17096ccba6d911d",
    ),
)
"""The Istio CRD files of the conformance tests, newest first (``make fetch-istio-crds``)."""


@dataclass(frozen=True)
class GatewayApiFact:
    """A fact about istiod's Gateway API deployment controller, with its source."""

    fact: str
    since: tuple[int, int] | None
    """The first release it holds for (None: every release that has the controller)."""
    source: str
    """istio/istio file and tag (tag commits in :data:`GATEWAY_API_TAG_COMMITS`)."""


GATEWAY_API_TAG_COMMITS: dict[str, str] = {
    "1.26.0": "c2e9871f340c0e0b114bcd1b73208284f1d17c9e",
    "1.26.8": "4ea27a1efd955d5ed1db8b817d3c8dd70a7ae52a",
    "1.27.9": "b9159ca3e5d56b05f69f3a58d687b8767d5639dd",
    "1.28.10": "ff49c1889ebad8d444b8f82425a2fd326c039e54",
    "1.30.3": "56df41f63e513f834c9a3af33d8aed82d1d961f2",
}
"""The istio/istio tag commits the :data:`GATEWAY_API_FACTS` were read at."""

_DC = "pilot/pkg/config/kube/gateway/deploymentcontroller.go"
_DC_130 = "pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go"

GATEWAY_API_FIRST = (26, 0)
"""First release whose deployment controller honours ``spec.infrastructure.parametersRef``
(and the class defaults): absent at every 1.25.x tag up to 1.25.5, present from 1.26.0
(``render()`` / ``fetchParameters()`` in ``pilot/pkg/config/kube/gateway/deploymentcontroller.go``)."""

GATEWAY_API_OVERLAY_KEYS: tuple[str, ...] = (
    "deployment",
    "service",
    "serviceAccount",
    "horizontalPodAutoscaler",
    "podDisruptionBudget",
)
"""``supportedOverlays`` of the deployment controller (1.26.0 - 1.30.3): any other data key in
either ConfigMap fails the whole render of the Gateway."""

GATEWAY_API_CLASS_DEFAULTS_LABEL = "gateway.istio.io/defaults-for-class"
GATEWAY_API_POD_LABEL = "gateway.networking.k8s.io/gateway-name"
GATEWAY_API_NAME_OVERRIDE_ANNOTATION = "gateway.istio.io/name-override"

GATEWAY_API_FACTS: tuple[GatewayApiFact, ...] = (
    GatewayApiFact(
        "parametersRef (group '', kind ConfigMap, same namespace as the Gateway) is honoured; "
        "a missing ConfigMap or another kind fails the render",
        (26, 0),
        f"{_DC} fetchParameters/render @1.26.0, 1.26.8, 1.28.10; {_DC_130} @1.30.3",
    ),
    GatewayApiFact(
        "class defaults: ConfigMaps in istiod's namespace labelled "
        "gateway.istio.io/defaults-for-class=<class>; only the oldest one is used",
        (26, 0),
        f"{_DC} render (controllers.OldestObject) @1.26.8; {_DC_130} @1.30.3",
    ),
    GatewayApiFact(
        "merge order: template output, then class defaults, then parametersRef",
        (26, 0),
        f"{_DC} render (templateOverlays append order) @1.26.8; {_DC_130} @1.30.3",
    ),
    GatewayApiFact(
        "each key is a YAML overlay applied by strategic merge patch with the apps/v1 "
        "Deployment (corev1 Service, ...) patch meta: containers/initContainers/volumes/env "
        "merge by name, volumeMounts by mountPath",
        (26, 0),
        f"{_DC} applyOverlay/strategicMergePatchYAML "
        "(StrategicMergeMapPatchUsingLookupPatchMeta) @1.26.8; same @1.30.3",
    ),
    GatewayApiFact(
        "bad overlay (unknown key, patch error, changed name/namespace/ownerReferences) "
        "fails the render: istiod logs the error and leaves the existing Deployment alone",
        (26, 0),
        f"{_DC} applyOverlay ('unsupported overlay', 'illegal metadata change') @1.26.8",
    ),
    GatewayApiFact(
        "istiod re-renders the Gateway when its parametersRef ConfigMap or a class-defaults "
        "ConfigMap changes (gatewaysByParamsRef index)",
        (26, 0),
        f"{_DC} NewDeploymentController configMaps handler @1.26.0, 1.26.8; {_DC_130}",
    ),
    GatewayApiFact(
        "generated Deployment/Service/ServiceAccount are named <gateway>-<gatewayClassName> "
        "(<gateway>-istio), overridden by annotation gateway.istio.io/name-override "
        "(ServiceAccount also by gateway.istio.io/service-account)",
        None,
        f"{_DC} configureIstioGateway, conversion.go getDefaultName @1.26.8",
    ),
    GatewayApiFact(
        "pods carry gateway.networking.k8s.io/gateway-name: <gateway> (istio.io/gateway-name "
        "removed in 1.24; an older selector with it is kept on upgrade)",
        (24, 0),
        f"{_DC} apply() comment @1.26.8; goldens testdata/deployment/simple.yaml",
    ),
    GatewayApiFact(
        "WasmPlugin targetRef (singular) exists",
        (20, 0),
        "manifests/charts/base/crds/crd-all.gen.yaml @1.20.8",
    ),
    GatewayApiFact(
        "WasmPlugin targetRefs exists",
        (22, 0),
        "crd-all.gen.yaml @1.23.6 (ISTIO-VERSIONS.md: from 1.22)",
    ),
    GatewayApiFact(
        "only one of selector, targetRef, targetRefs (CEL rule); targetRefs cannot name "
        "another namespace: the WasmPlugin lives in the Gateway's namespace",
        (24, 0),
        "manifests/charts/base/files/crd-all.gen.yaml @1.30.3 (ISTIO-VERSIONS.md: from 1.24)",
    ),
)
"""What istiod's Gateway API deployment controller does, per release, with sources."""

WASM_TARGET_REF_SINCE = (20, 0)
WASM_TARGET_REFS_SINCE = (22, 0)


def gateway_api_supported(version: IstioVersion) -> bool:
    """True when the release can deliver the receiver to a Gateway API gateway."""
    return version.at_least(*GATEWAY_API_FIRST)
