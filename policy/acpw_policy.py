"""CrossGuard policies for the acpw stacks: what a deployment of aws-cloudwatch-proxy-wasm must keep.

Every policy matches resources by TYPE and FIELDS, never by name (names carry rollout hashes).
Each ``validate_*`` function is pure: it reads only its ``args`` (props and policy config) and
reports through ``report_violation``; tests call them directly. ``__main__.py`` only wires them
into a ``PolicyPack``.

Values reach a validation as plain data in which a Pulumi secret is a :class:`pulumi_policy.Secret`
and a value unknown during preview is :data:`UNKNOWN`. The Python policy SDK drops the secret
markers the engine sends before calling a validation; :func:`preserve_secret_markers` (called by
``__main__.py``) keeps them, which the credential policies need.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pulumi_policy.policy as _sdk_policy
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import proxy as _sdk_proxy
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

PACK_NAME = "acpw"

IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"
ACCESS_KEY = "aws:iam/accessKey:AccessKey"
K8S_SECRET_TYPES = ("kubernetes:core/v1:Secret", "kubernetes:core/v1:SecretPatch")
WASM_PLUGIN_RE = re.compile(r"^kubernetes:extensions\.istio\.io/[^:]+:WasmPlugin$")
DESTINATION_RULE_RE = re.compile(r"^kubernetes:networking\.istio\.io/[^:]+:DestinationRule$")
ENVOY_FILTER_RE = re.compile(r"^kubernetes:networking\.istio\.io/[^:]+:EnvoyFilter$")
ISTIO_OPERATOR_RE = re.compile(r"^kubernetes:install\.istio\.io/[^:]+:IstioOperator$")
DEPLOYMENT_PATCH = "kubernetes:apps/v1:DeploymentPatch"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
GATEWAY_PATCH = "kubernetes:gateway.networking.k8s.io/v1:GatewayPatch"
GENERATED_SUFFIX = "-istio"
"""istiod names a Gateway's Deployment ``<gateway>-<gatewayClassName>`` (class ``istio``)."""
GATEWAY_SETTINGS_COMPONENT = "gateway-settings"
"""``app.kubernetes.io/component`` of the overlay ConfigMaps of ``installer: gatewayApi``
gateways, whose ``deployment`` key istiod merges into the generated Deployment."""
NETWORKING_V1_TYPE_RE = re.compile(r"^kubernetes:networking\.istio\.io/v1:")

PUT_METRIC_DATA = "cloudwatch:PutMetricData"
NAMESPACE_CONDITION_KEY = "cloudwatch:namespace"

# The pack runs in a venv of its own without the acpw package, so it restates these thresholds;
# tests/test_policy_versions.py holds each to acpw/istio_versions.py.
BOOTSTRAP_IGNORED_FROM = (21, 0)
"""istiod ignores EnvoyFilter BOOTSTRAP patches from 1.21 (istio/istio #48693)."""
TLS_VERIFIES_BY_DEFAULT_FROM = (21, 0)
"""A SIMPLE DestinationRule verifies the server certificate with the OS trust store from 1.21."""
FAIL_STRATEGY_FROM = (19, 0)
"""WasmPlugin.failStrategy exists from 1.19; without it istiod fails the plugin closed."""
NETWORKING_V1_FROM = (22, 0)
"""networking.istio.io/v1 is served from 1.22: a stack that applies it runs 1.22 or newer."""

_SHA256_HEX = re.compile(r"^(?:sha256:)?([0-9a-f]{64})$")
_URL_DIGEST = re.compile(r"@sha256:([0-9a-f]{64})$")
_VERSION = re.compile(r"^\s*1\.(\d+)(?:\.(\d+))?\s*$")

# Keys whose value is a credential wherever they appear, and env var names that carry one.
_CREDENTIAL_KEY = re.compile(
    r"(?i)^(?:[a-z0-9]+_)*(?:credentials|password|passwd|secret_?access_?key|access_?key_?id|"
    r"session_?token|authorization_?token)$|^\.docker(?:configjson|cfg)$"
)
_CREDENTIAL_ENV = re.compile(r"(?i)(?:ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|PASSWORD)$")
_ACCESS_KEY_SECRET_OUTPUTS = ("secret", "sesSmtpPasswordV4")


# --- plain values -------------------------------------------------------------------------


class _Unknown:
    """A value the engine does not know yet (preview)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()

_UNKNOWN_SENTINELS = frozenset(
    {
        _sdk_proxy.UNKNOWN_BOOLEAN_VALUE,
        _sdk_proxy.UNKNOWN_NUMBER_VALUE,
        _sdk_proxy.UNKNOWN_STRING_VALUE,
        _sdk_proxy.UNKNOWN_ARRAY_VALUE,
        _sdk_proxy.UNKNOWN_ASSET_VALUE,
        _sdk_proxy.UNKNOWN_ARCHIVE_VALUE,
        _sdk_proxy.UNKNOWN_OBJECT_VALUE,
    }
)


def plain(value: Any) -> Any:
    """The SDK's proxies turned into dicts and lists; secrets stay :class:`Secret`, unknowns
    :data:`UNKNOWN` (reading through the proxies would raise on the first unknown)."""
    if isinstance(value, _sdk_proxy._DictProxy | _sdk_proxy._ListProxy):
        return plain(value["__target"])
    if isinstance(value, Secret):
        return Secret(plain(value.value))
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        return {key: plain(value[key]) for key in value}
    if isinstance(value, Sequence):
        return [plain(item) for item in value]
    return value


def reveal(value: Any) -> Any:
    """``value`` without a Secret wrapper at its top."""
    while isinstance(value, Secret):
        value = value.value
    return value


def dig(value: Any, *path: str | int) -> Any:
    """The value at ``path`` (secrets looked through), ``None`` when absent, UNKNOWN when unknown."""
    for key in path:
        value = reveal(value)
        if value is UNKNOWN:
            return UNKNOWN
        if isinstance(key, int):
            if not isinstance(value, list) or not -len(value) <= key < len(value):
                return None
            value = value[key]
        else:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
    return reveal(value)


def _as_list(value: Any) -> list[Any]:
    value = reveal(value)
    if value is None:
        return []
    return [reveal(v) for v in value] if isinstance(value, list) else [value]


def _walk_plain(value: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, key, value) of every node outside a secret; a secret subtree is not entered."""
    if isinstance(value, Secret):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).startswith("__"):
                continue  # engine-internal (__provider, __defaults)
            child = f"{path}.{key}" if path else str(key)
            yield child, key, item
            yield from _walk_plain(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            child = f"{path}[{index}]"
            yield child, index, item
            yield from _walk_plain(item, child)


def _has_plain_leaf(value: Any) -> bool:
    """True when some non-empty leaf of ``value`` sits outside every secret."""
    if isinstance(value, Secret) or value is UNKNOWN or value is None:
        return False
    if isinstance(value, dict):
        return any(_has_plain_leaf(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_plain_leaf(v) for v in value)
    return value != ""


# --- Istio version --------------------------------------------------------------------------


def parse_istio_version(text: Any) -> tuple[int, int] | None:
    """``"1.21"`` / ``"1.21.3"`` as ``(minor, patch)``; ``None`` when absent or not a version."""
    match = _VERSION.match(str(text)) if isinstance(text, str | int | float) else None
    if not match:
        return None
    return int(match.group(1)), int(match.group(2) or 0)


def _configured_version(config: Mapping[str, Any]) -> tuple[int, int] | None:
    return parse_istio_version(config.get("istioVersion"))


def _fmt(version: tuple[int, int]) -> str:
    return f"1.{version[0]}"


ISTIO_VERSION_SCHEMA = {
    "type": "string",
    "description": 'Istio release of the cluster ("1.13", "1.30.2"). Defaults to the stack\'s '
    "acpw:istioVersion config.",
}


# --- receiver IAM policy --------------------------------------------------------------------


def _policy_document(props: Any) -> Any:
    document = dig(props, "policy")
    if isinstance(document, str):
        try:
            return json.loads(document)
        except ValueError:
            return None
    return document


def _patterns_match(patterns: list[Any], action: str) -> bool:
    return any(
        isinstance(p, str) and fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns
    )


def grants_put_metric_data(document: Any) -> bool:
    """True when an Allow statement of the IAM policy document grants cloudwatch:PutMetricData."""
    for statement in _as_list(dig(document, "Statement")):
        if dig(statement, "Effect") != "Allow":
            continue
        if dig(statement, "Action") is not None and _patterns_match(
            _as_list(dig(statement, "Action")), PUT_METRIC_DATA
        ):
            return True
        not_action = dig(statement, "NotAction")
        if not_action is not None and not _patterns_match(_as_list(not_action), PUT_METRIC_DATA):
            return True
    return False


def receiver_iam_policy_problems(props: Any, config: Mapping[str, Any]) -> list[str]:
    """Problems of a UserPolicy that grants PutMetricData: it must grant nothing else, and only
    under a ``cloudwatch:namespace`` StringEquals condition (one of ``namespaces`` when configured)."""
    document = _policy_document(props)
    if document is UNKNOWN or dig(props, "policy") is UNKNOWN:
        return []  # computed during preview: checked again on update
    if not grants_put_metric_data(document):
        return []
    allowed_namespaces = config.get("namespaces") or []
    problems = []
    for index, statement in enumerate(_as_list(dig(document, "Statement"))):
        if dig(statement, "Effect") != "Allow":
            continue
        where = f"Statement[{index}]"
        if dig(statement, "NotAction") is not None:
            problems.append(f"{where} uses NotAction: it grants every action it does not list")
            continue
        actions = _as_list(dig(statement, "Action"))
        extra = [
            a for a in actions if not (isinstance(a, str) and a.lower() == PUT_METRIC_DATA.lower())
        ]
        if extra:
            problems.append(
                f"{where} grants {', '.join(map(str, extra))}: the receiver's user may only "
                f"have {PUT_METRIC_DATA}"
            )
        if not actions:
            continue
        namespaces = _as_list(dig(statement, "Condition", "StringEquals", NAMESPACE_CONDITION_KEY))
        if not namespaces or not all(isinstance(n, str) and n for n in namespaces):
            problems.append(
                f"{where} has no Condition StringEquals {NAMESPACE_CONDITION_KEY}: the key could "
                "write metrics into any namespace"
            )
        elif allowed_namespaces and any(n not in allowed_namespaces for n in namespaces):
            problems.append(
                f"{where} allows namespace(s) {', '.join(namespaces)}; the pack allows only "
                f"{', '.join(map(str, allowed_namespaces))}"
            )
    return problems


def validate_receiver_iam_policy(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != IAM_USER_POLICY:
        return
    for message in receiver_iam_policy_problems(plain(args.props), args.get_config()):
        report_violation(message, None)


# --- credentials ----------------------------------------------------------------------------


PUBLIC_PLACEHOLDERS = {
    "ACPW_AWS_ACCESS_KEY_ID": "ACPW-ENVOY-SIGNS-NOT-A-KEY",
    "ACPW_AWS_SECRET_ACCESS_KEY": "acpw-envoy-signs-this-is-not-a-secret",
}
"""The fixed, public values the receiver gets when Envoy signs (acpw/receiver.py
``PLACEHOLDER_KEYS``; tests/test_policy.py checks they agree): not credentials."""


def plain_credential_problems(resource_type: str, props: Any) -> list[str]:
    """Credentials outside a secret: a Kubernetes Secret's data/stringData, credential-named
    fields (password, *credentials, secret access key, .dockerconfigjson) and credential env vars
    with a literal value."""
    problems = []
    if resource_type in K8S_SECRET_TYPES:
        for field in ("data", "stringData"):
            value = props.get(field) if isinstance(props, dict) else None
            if _has_plain_leaf(value):
                problems.append(f"{field} is not a secret value: wrap it with pulumi.Output.secret")
    reported: list[str] = []
    for path, key, value in _walk_plain(props):
        if resource_type in K8S_SECRET_TYPES and path.split(".")[0] in ("data", "stringData"):
            continue  # reported above, once per field
        if any(path.startswith((f"{p}.", f"{p}[")) for p in reported):
            continue  # inside a field already reported
        if isinstance(key, str) and _CREDENTIAL_KEY.search(key) and _has_plain_leaf(value):
            problems.append(f"{path} holds a credential in a non-secret field")
            reported.append(path)
        elif (
            isinstance(value, dict)
            and isinstance(value.get("name"), str)
            and _CREDENTIAL_ENV.search(value["name"])
            and "value" in value
            and _has_plain_leaf(value["value"])
            and PUBLIC_PLACEHOLDERS.get(value["name"]) != value["value"]
        ):
            problems.append(
                f"{path} sets {value['name']} to a literal: use valueFrom.secretKeyRef or a secret"
            )
    return problems


def validate_no_plain_credentials(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    for message in plain_credential_problems(args.resource_type, plain(args.props)):
        report_violation(message, None)


def _plain_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    for child, _key, item in _walk_plain(value, path):
        if isinstance(item, str):
            yield child, item


def copied_access_key_secrets(resources: Sequence[PolicyResource]) -> list[tuple[str, str]]:
    """(urn, message) for every non-secret field of a resource that contains the secret of an
    ``aws:iam/accessKey:AccessKey`` of the stack (matched by value, so renames do not matter)."""
    secrets: dict[str, str] = {}
    for resource in resources:
        if resource.resource_type != ACCESS_KEY:
            continue
        props = plain(resource.props)
        for output in _ACCESS_KEY_SECRET_OUTPUTS:
            value = dig(props, output)
            if isinstance(value, str) and len(value) >= 8:
                secrets[value] = f"{output} of access key {resource.name}"
    found: list[tuple[str, str]] = []
    if not secrets:
        return found
    for resource in resources:
        if resource.resource_type == ACCESS_KEY:
            continue
        for path, text in _plain_strings(plain(resource.props)):
            for value, what in secrets.items():
                if value in text:
                    found.append((resource.urn, f"{path} contains the {what} in plain text"))
    return found


def validate_access_key_secret_not_copied(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    for urn, message in copied_access_key_secrets(args.resources):
        report_violation(message, urn)


# --- WasmPlugin -------------------------------------------------------------------------------


def wasm_plugin_pin_problems(props: Any) -> list[str]:
    """A WasmPlugin must be pinned: ``spec.sha256`` set, or a url ending in ``@sha256:<hex>``;
    when both are given they must agree."""
    sha256 = dig(props, "spec", "sha256")
    url = dig(props, "spec", "url")
    if sha256 is UNKNOWN:
        return []  # set from a digest the engine computes: a pin either way
    url_digest = _URL_DIGEST.search(url) if isinstance(url, str) else None
    if sha256 in (None, ""):
        if url_digest or url is UNKNOWN:
            return []
        return [f"spec.url {url!r} is not pinned: set spec.sha256 or reference the image @sha256:"]
    match = _SHA256_HEX.match(str(sha256))
    if not match:
        return [f"spec.sha256 {sha256!r} is not a sha256 digest (64 lowercase hex digits)"]
    if url_digest and url_digest.group(1) != match.group(1):
        return ["spec.sha256 and the @sha256: digest of spec.url differ: istiod rejects the plugin"]
    return []


def validate_wasm_plugin_pinned(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if not WASM_PLUGIN_RE.match(args.resource_type):
        return
    for message in wasm_plugin_pin_problems(plain(args.props)):
        report_violation(message, None)


def wasm_fail_strategy_problems(props: Any, config: Mapping[str, Any]) -> list[str] | None:
    """Problems of the WasmPlugin's failStrategy; ``None`` when the policy does not apply
    (Istio before 1.19 has no failStrategy: every plugin fails closed there)."""
    strategy = dig(props, "spec", "failStrategy")
    allow_closed = bool(config.get("allowFailClosed", False))
    version = _configured_version(config)
    if strategy is UNKNOWN or strategy == "FAIL_OPEN":
        return []
    if strategy is None:
        if version is not None and version < FAIL_STRATEGY_FROM:
            return None
        if allow_closed:
            return []
        return [
            "spec.failStrategy is not set: istiod then fails closed (a sender image that cannot be "
            "fetched blocks traffic through the gateway); set FAIL_OPEN"
            + ("" if version else ", or give the pack istioVersion if the cluster runs < 1.19")
        ]
    if strategy == "FAIL_CLOSE" and allow_closed:
        return []
    return [
        f"spec.failStrategy is {strategy}: the sender must fail open (FAIL_OPEN) unless the "
        "policy config sets allowFailClosed"
    ]


def validate_wasm_fail_open(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if not WASM_PLUGIN_RE.match(args.resource_type):
        return
    problems = wasm_fail_strategy_problems(plain(args.props), args.get_config())
    if problems is None:
        args.not_applicable("WasmPlugin.failStrategy exists from Istio 1.19")
        return
    for message in problems:
        report_violation(message, None)


# --- DestinationRule --------------------------------------------------------------------------


def _tls_settings(props: Any) -> Iterator[tuple[str, Any]]:
    yield "spec.trafficPolicy.tls", dig(props, "spec", "trafficPolicy", "tls")
    for index, port in enumerate(
        _as_list(dig(props, "spec", "trafficPolicy", "portLevelSettings"))
    ):
        tls = dig(port, "tls")
        if tls is not None:
            yield f"spec.trafficPolicy.portLevelSettings[{index}].tls", tls


def destination_rule_tls_problems(props: Any, config: Mapping[str, Any]) -> list[str]:
    """A DestinationRule must originate TLS and verify the server: a CA (caCertificates or
    credentialName, or the default trust store from Istio 1.21) and, unless
    ``requireSubjectAltNames`` is false, the expected subjectAltNames."""
    version = _configured_version(config)
    require_sans = config.get("requireSubjectAltNames", True) is not False
    problems = []
    for path, tls in _tls_settings(props):
        if tls is UNKNOWN:
            continue
        mode = dig(tls, "mode")
        if tls is None or mode in (None, "DISABLE"):
            if path == "spec.trafficPolicy.tls":
                problems.append(f"{path}: no TLS to the destination; set mode SIMPLE")
            else:
                problems.append(f"{path}: mode {mode or 'unset'} sends plain text")
            continue
        if mode == "ISTIO_MUTUAL":
            continue  # the mesh verifies the peer's workload identity
        if dig(tls, "insecureSkipVerify") is True:
            problems.append(f"{path}.insecureSkipVerify is true: the server is not verified")
            continue
        has_ca = bool(dig(tls, "caCertificates")) or bool(dig(tls, "credentialName"))
        if not has_ca:
            if version is None:
                problems.append(
                    f"{path} has no caCertificates: Istio verifies without one only from 1.21; "
                    "set caCertificates or give the pack istioVersion"
                )
            elif version < TLS_VERIFIES_BY_DEFAULT_FROM:
                problems.append(
                    f"{path} has no caCertificates: Istio {_fmt(version)} does not verify the "
                    "server certificate without one"
                )
        if require_sans and not _as_list(dig(tls, "subjectAltNames")):
            problems.append(
                f"{path} has no subjectAltNames: any certificate the CA signed is accepted"
            )
    return problems


def validate_destination_rule_tls(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if not DESTINATION_RULE_RE.match(args.resource_type):
        return
    for message in destination_rule_tls_problems(plain(args.props), args.get_config()):
        report_violation(message, None)


# --- BOOTSTRAP EnvoyFilter ----------------------------------------------------------------------


def has_bootstrap_patch(props: Any) -> bool:
    return any(
        dig(patch, "applyTo") == "BOOTSTRAP"
        for patch in _as_list(dig(props, "spec", "configPatches"))
    )


def stack_istio_version_floor(resources: Sequence[PolicyResource]) -> tuple[int, int] | None:
    """The lowest Istio release the stack's own objects imply: networking.istio.io/v1 needs 1.22."""
    if any(NETWORKING_V1_TYPE_RE.match(r.resource_type) for r in resources):
        return NETWORKING_V1_FROM
    return None


def ignored_bootstrap_filters(
    resources: Sequence[PolicyResource], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """(urn, message) for each EnvoyFilter with a BOOTSTRAP patch on Istio 1.21 or newer, where
    istiod drops it silently. The version comes from the config (``istioVersion``) or else from the
    stack's own objects; a BOOTSTRAP patch with no known version is reported too."""
    filters = [
        r
        for r in resources
        if ENVOY_FILTER_RE.match(r.resource_type) and has_bootstrap_patch(plain(r.props))
    ]
    if not filters:
        return []
    version = _configured_version(config)
    floor = stack_istio_version_floor(resources)
    if version is None and floor is None:
        return [
            (
                r.urn,
                "BOOTSTRAP patch with no known Istio version: istiod ignores it from 1.21; set "
                "istioVersion in the policy config",
            )
            for r in filters
        ]
    if version is not None and version >= BOOTSTRAP_IGNORED_FROM:
        reason = f"the cluster runs Istio {_fmt(version)}"
    elif floor is not None and floor >= BOOTSTRAP_IGNORED_FROM:
        reason = "the stack applies networking.istio.io/v1 objects (Istio 1.22+)"
    else:
        return []
    return [
        (
            r.urn,
            f"BOOTSTRAP patch is silently ignored from Istio 1.21 and {reason}: deliver the "
            "receiver with a custom bootstrap (ISTIO_BOOTSTRAP_OVERRIDE) instead",
        )
        for r in filters
    ]


def validate_no_ignored_bootstrap_filter(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    for urn, message in ignored_bootstrap_filters(args.resources, args.get_config()):
        report_violation(message, urn)


# --- gateway rollouts ---------------------------------------------------------------------------


def _is_zero(value: Any) -> bool:
    value = reveal(value)
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value == 0
    return isinstance(value, str) and value.strip() in ("0", "0%")


def _check_strategy(where: str, strategy: Any) -> list[str]:
    if strategy is UNKNOWN:
        return []
    if strategy is None:
        return [f"{where} is not set: the Deployment keeps its own (default 25%) maxUnavailable"]
    if dig(strategy, "type") == "Recreate":
        return [f"{where}.type is Recreate: every gateway pod stops before the new ones run"]
    max_unavailable = dig(strategy, "rollingUpdate", "maxUnavailable")
    if max_unavailable is UNKNOWN:
        return []
    if max_unavailable is None or not _is_zero(max_unavailable):
        return [
            f"{where}.rollingUpdate.maxUnavailable is {max_unavailable!r}: a gateway rollout must "
            "keep every serving pod until its replacement is ready (maxUnavailable: 0)"
        ]
    return []


def _overlay_problems(props: Any) -> list[str]:
    """A Gateway API gateway's overlay ConfigMap (JSON text under ``deployment``) keeps
    ``maxUnavailable: 0`` in the ``spec.strategy`` istiod merges into ``<gateway>-istio``."""
    labels = dig(props, "metadata", "labels")
    if dig(labels, "app.kubernetes.io/component") != GATEWAY_SETTINGS_COMPONENT:
        return []
    text = dig(props, "data", "deployment")
    if not isinstance(text, str):
        return []  # unknown in a preview
    try:
        overlay = json.loads(text)
    except ValueError:
        return ["data.deployment is not the JSON overlay the program writes"]
    return _check_strategy("data.deployment spec.strategy", dig(overlay, "spec", "strategy"))


def rollout_problems(resource_type: str, props: Any) -> list[str]:
    """Gateway rollouts keep ``maxUnavailable: 0``: on a DeploymentPatch, on each enabled
    gateway of an IstioOperator (k8s.strategy, then any Deployment overlay touching it), and in
    a Gateway API gateway's overlay ConfigMap."""
    if resource_type == CONFIG_MAP:
        return _overlay_problems(props)
    if resource_type == DEPLOYMENT_PATCH:
        if dig(props, "spec") is None:
            return []  # a metadata-only patch (e.g. an annotation) rolls nothing
        if dig(props, "spec", "strategy") is None and dig(props, "spec", "template") is not None:
            return []  # pod changes: judged with the patch that sets the strategy (stack policy)
        return _check_strategy("spec.strategy", dig(props, "spec", "strategy"))
    if not ISTIO_OPERATOR_RE.match(resource_type):
        return []
    problems = []
    for kind in ("ingressGateways", "egressGateways"):
        for index, gateway in enumerate(_as_list(dig(props, "spec", "components", kind))):
            if dig(gateway, "enabled") is False:
                continue
            where = f"spec.components.{kind}[{index}]"
            strategy = dig(gateway, "k8s", "strategy")
            for overlay in _as_list(dig(gateway, "k8s", "overlays")):
                if dig(overlay, "kind") != "Deployment":
                    continue
                for patch in _as_list(dig(overlay, "patches")):
                    path = dig(patch, "path")
                    value = dig(patch, "value")
                    if path == "spec.strategy":
                        strategy = value
                    elif path == "spec.strategy.rollingUpdate":
                        strategy = {**(reveal(strategy) or {}), "rollingUpdate": value}
                    elif path == "spec.strategy.rollingUpdate.maxUnavailable":
                        base = reveal(strategy) or {}
                        rolling = {**(dig(base, "rollingUpdate") or {}), "maxUnavailable": value}
                        strategy = {**base, "rollingUpdate": rolling}
            if strategy is None:
                problems.append(
                    f"{where}.k8s.strategy is not set: the gateway keeps the default 25% maxUnavailable"
                )
            else:
                problems.extend(_check_strategy(f"{where}.k8s.strategy", strategy))
    return problems


def validate_gateway_rollout(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    for message in rollout_problems(args.resource_type, plain(args.props)):
        report_violation(message, None)


def _patched_deployment(props: Any) -> tuple[str, str] | None:
    namespace, name = dig(props, "metadata", "namespace"), dig(props, "metadata", "name")
    if isinstance(namespace, str) and isinstance(name, str):
        return namespace, name
    return None  # unknown in a preview: nothing to pair


def unguarded_pod_patches(resources: Sequence[PolicyResource]) -> list[tuple[str, str]]:
    """(urn, message) for each DeploymentPatch changing a pod template of a Deployment that no
    DeploymentPatch of the stack gives ``maxUnavailable: 0``. The strategy sits in a patch of
    its own because deleting a patch relinquishes the fields it alone set
    (pulumi-kubernetes provider/pkg/ssa/actions.go, ``Relinquish``)."""
    patches = [(r, plain(r.props)) for r in resources if r.resource_type == DEPLOYMENT_PATCH]
    guarded = {
        _patched_deployment(props)
        for _, props in patches
        if dig(props, "spec", "strategy") is not None
        and not _check_strategy("spec.strategy", dig(props, "spec", "strategy"))
    }
    found = []
    for resource, props in patches:
        target = _patched_deployment(props)
        if dig(props, "spec", "template") is None or target is None or target in guarded:
            continue
        if dig(props, "spec", "strategy") is not None:
            continue  # its own strategy is judged by gateway-rollout-max-unavailable-zero
        found.append(
            (
                resource.urn,
                f"spec.template changes the pods of {target[0]}/{target[1]}, but no "
                "DeploymentPatch of this stack sets its spec.strategy with maxUnavailable: 0 "
                "(the Deployment keeps its own, default 25%)",
            )
        )
    return found


def unguarded_gateway_patches(resources: Sequence[PolicyResource]) -> list[tuple[str, str]]:
    """(urn, message) for each GatewayPatch (installer gatewayApi) whose parametersRef names no
    ConfigMap of the stack, or whose generated Deployment ``<gateway>-istio`` gets no
    DeploymentPatch of the stack with ``maxUnavailable: 0`` (removing the entry relinquishes the
    parametersRef, and istiod's template sets no strategy: the pods would roll under 25%)."""
    configmaps = {
        _patched_deployment(plain(r.props)) for r in resources if r.resource_type == CONFIG_MAP
    }
    guarded = {
        _patched_deployment(props)
        for r in resources
        if r.resource_type == DEPLOYMENT_PATCH
        for props in [plain(r.props)]
        if dig(props, "spec", "strategy") is not None
        and not _check_strategy("spec.strategy", dig(props, "spec", "strategy"))
    }
    found = []
    for resource in resources:
        if resource.resource_type != GATEWAY_PATCH:
            continue
        props = plain(resource.props)
        target = _patched_deployment(props)
        ref = dig(props, "spec", "infrastructure", "parametersRef", "name")
        if target is None or not isinstance(ref, str):
            continue  # unknown in a preview
        namespace, gateway = target
        if (namespace, ref) not in configmaps:
            found.append(
                (
                    resource.urn,
                    f"spec.infrastructure.parametersRef names ConfigMap {namespace}/{ref}, which "
                    "this stack does not create (istiod fails the Gateway's render)",
                )
            )
        if (namespace, f"{gateway}{GENERATED_SUFFIX}") not in guarded:
            found.append(
                (
                    resource.urn,
                    f"no DeploymentPatch of this stack gives {namespace}/{gateway}"
                    f"{GENERATED_SUFFIX} spec.strategy with maxUnavailable: 0",
                )
            )
    return found


def validate_gateway_patches_guarded(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    for urn, message in unguarded_gateway_patches(args.resources):
        report_violation(message, urn)


def validate_pod_patches_guarded(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    for urn, message in unguarded_pod_patches(args.resources):
        report_violation(message, urn)


# --- the pack ---------------------------------------------------------------------------------

ResourceValidation = Callable[[ResourceValidationArgs, ReportViolation], None]
StackValidation = Callable[[StackValidationArgs, ReportViolation], None]


def _with_defaults_resource(
    validate: ResourceValidation, defaults: Mapping[str, Any]
) -> ResourceValidation:
    def run(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        bound = ResourceValidationArgs(
            args.resource_type,
            args.props,
            args.urn,
            args.name,
            args.opts,
            args.provider,
            {**defaults, **args.get_config()},
            args.stack_tags,
        )
        validate(bound, report_violation)

    return run


def _with_defaults_stack(validate: StackValidation, defaults: Mapping[str, Any]) -> StackValidation:
    def run(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        bound = StackValidationArgs(
            args.resources, {**defaults, **args.get_config()}, args.stack_tags
        )
        validate(bound, report_violation)

    return run


def build_policies(
    stack_istio_version: str | None = None,
) -> list[Policy]:
    """The pack's policies; ``stack_istio_version`` (the stack's ``acpw:istioVersion``) is the
    default ``istioVersion`` of the version-dependent ones, which their policy config overrides."""
    defaults: dict[str, Any] = {}
    if parse_istio_version(stack_istio_version) is not None:
        defaults["istioVersion"] = stack_istio_version

    def resource(validate: ResourceValidation) -> ResourceValidation:
        return _with_defaults_resource(validate, defaults) if defaults else validate

    def stack(validate: StackValidation) -> StackValidation:
        return _with_defaults_stack(validate, defaults) if defaults else validate

    mandatory = EnforcementLevel.MANDATORY
    return [
        ResourceValidationPolicy(
            name="receiver-iam-least-privilege",
            description="The receiver's IAM user may only put metrics into its CloudWatch namespace.",
            validate=validate_receiver_iam_policy,
            enforcement_level=mandatory,
            config_schema=PolicyConfigSchema(
                properties={
                    "namespaces": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "If set, the only cloudwatch:namespace values allowed.",
                    }
                }
            ),
        ),
        ResourceValidationPolicy(
            name="no-plain-credentials",
            description="Access keys and registry credentials only travel in secret values.",
            validate=validate_no_plain_credentials,
            enforcement_level=mandatory,
        ),
        StackValidationPolicy(
            name="access-key-secret-not-copied",
            description="An IAM access key's secret never appears in a non-secret field of another resource.",
            validate=validate_access_key_secret_not_copied,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="wasm-plugin-pinned",
            description="WasmPlugins are pinned by sha256 digest.",
            validate=validate_wasm_plugin_pinned,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="wasm-plugin-fail-open",
            description="The sender WasmPlugin fails open, so a missing module never blocks traffic.",
            validate=resource(validate_wasm_fail_open),
            enforcement_level=mandatory,
            config_schema=PolicyConfigSchema(
                properties={
                    "allowFailClosed": {
                        "type": "boolean",
                        "default": False,
                        "description": "Accept FAIL_CLOSE (and an absent failStrategy).",
                    },
                    "istioVersion": ISTIO_VERSION_SCHEMA,
                }
            ),
        ),
        ResourceValidationPolicy(
            name="destination-rule-verifies-server",
            description="DestinationRules originate TLS and verify the server certificate.",
            validate=resource(validate_destination_rule_tls),
            enforcement_level=mandatory,
            config_schema=PolicyConfigSchema(
                properties={
                    "requireSubjectAltNames": {
                        "type": "boolean",
                        "default": True,
                        "description": "Require tls.subjectAltNames (server identity), not just a CA.",
                    },
                    "istioVersion": ISTIO_VERSION_SCHEMA,
                }
            ),
        ),
        StackValidationPolicy(
            name="no-ignored-bootstrap-envoyfilter",
            description="No BOOTSTRAP EnvoyFilter targets Istio 1.21+, where istiod silently ignores it.",
            validate=stack(validate_no_ignored_bootstrap_filter),
            enforcement_level=mandatory,
            config_schema=PolicyConfigSchema(properties={"istioVersion": ISTIO_VERSION_SCHEMA}),
        ),
        ResourceValidationPolicy(
            name="gateway-rollout-max-unavailable-zero",
            description="Gateway rollouts keep maxUnavailable: 0.",
            validate=validate_gateway_rollout,
            enforcement_level=mandatory,
        ),
        StackValidationPolicy(
            name="gateway-pod-patch-has-strategy",
            description=(
                "A DeploymentPatch changing gateway pods comes with a patch giving that "
                "Deployment maxUnavailable: 0."
            ),
            validate=validate_pod_patches_guarded,
            enforcement_level=mandatory,
        ),
        StackValidationPolicy(
            name="gateway-api-overlay-guarded",
            description=(
                "A Gateway's parametersRef names an overlay ConfigMap of the stack, and its "
                "generated Deployment gets a patch giving it maxUnavailable: 0."
            ),
            validate=validate_gateway_patches_guarded,
            enforcement_level=mandatory,
        ),
    ]


# --- secret markers -------------------------------------------------------------------------------

_sdk_deserialize_properties = _sdk_policy.deserialize_properties


def _keep_secrets(value: Any) -> Any:
    if isinstance(value, list):
        return [_keep_secrets(item) for item in value]
    if isinstance(value, dict):
        signature = value.get(SPECIAL_SIG_KEY)
        if signature == SPECIAL_SECRET_SIG:
            return Secret(_keep_secrets(value.get("value")))
        if signature is not None:  # assets and archives: the SDK's own handling
            return _sdk_deserialize_properties({"value": value})["value"]
        return {key: _keep_secrets(item) for key, item in value.items()}
    return value


def deserialize_keeping_secrets(props: dict[str, Any], proxy_secrets: bool = False) -> Any:
    """Like the SDK's ``deserialize_properties``, but a secret stays a :class:`Secret` for the
    validations (the SDK unwraps it, so a policy could not tell a secret field from a plain one)."""
    if proxy_secrets:  # remediation keeps the SDK's own secret-preserving proxies
        return _sdk_deserialize_properties(props, True)
    return {key: _keep_secrets(value) for key, value in props.items()}


def preserve_secret_markers() -> None:
    """Make the SDK hand validations :class:`Secret` values (pulumi-policy 1.21's Analyze and
    AnalyzeStack call ``pulumi_policy.policy.deserialize_properties``; tests pin that)."""
    _sdk_policy.deserialize_properties = deserialize_keeping_secrets  # type: ignore[assignment]
