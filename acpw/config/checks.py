"""The rules across ``acpw:*`` fields, and the warnings: one entry point, a list of checks.

:func:`validate` runs every function of :data:`CHECKS` on an already field-validated
:class:`~acpw.config.models.AcpwConfig` and returns what they found, problems (the stack
config is refused: :func:`acpw.config.load_config` raises them as one ``ConfigError``) and
warnings (the program runs, and says what it cannot honour). Each check is a plain function
``(config) -> iterable of ConfigProblem | ConfigWarning``, each naming the key it is about; a new
rule is a new function in :data:`CHECKS`. The models never import this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

from acpw.config.errors import PROJECT, ConfigProblem, ConfigWarning, config_key, shown
from acpw.config.models import PUBLISHED_MODULE_REGION, AcpwConfig
from acpw.config.upstreams import registry_host, supported_hosts, upstream_of
from acpw.gateway_api import gateway_api_entry_problems
from acpw.istio_versions import (
    FEATURE_NAMES,
    GATEWAY_API_POD_LABEL,
    NEWEST_KNOWN_PATCH,
    first_release,
)

_QUOTES = ('"', "'", "\\")
"""What the dashboard's search expressions and Metrics Insights queries cannot quote."""

Finding = ConfigProblem | ConfigWarning
Check = Callable[[AcpwConfig], Iterable[Finding]]


class Findings(NamedTuple):
    """What :func:`validate` found: problems refuse the config, warnings are shown in the preview."""

    problems: list[ConfigProblem]
    warnings: list[ConfigWarning]


def validate(config: AcpwConfig, checks: Iterable[Check] | None = None) -> Findings:
    """Run every check (:data:`CHECKS` unless given) on ``config``, in order."""
    problems: list[ConfigProblem] = []
    warnings: list[ConfigWarning] = []
    for check in CHECKS if checks is None else checks:
        for finding in check(config):
            if isinstance(finding, ConfigWarning):
                warnings.append(finding)
            else:
                problems.append(finding)
    return Findings(problems, warnings)


def config_warnings(config: AcpwConfig) -> list[str]:
    """The warnings of ``config``, one ``acpw:<key>: ...`` line each, for the preview output."""
    return [warning.line for warning in validate(config).warnings]


def _gateway_problems(config: AcpwConfig) -> list[ConfigProblem]:
    problems = []
    seen_names: dict[tuple[str, str], int] = {}
    for index, gateway in enumerate(config.gateways):
        key = (gateway.namespace, gateway.name)
        gateway_api = gateway.installer == "gatewayApi"
        earlier = seen_names.get(key)
        # Two gatewayApi entries for one Gateway: reported by _gateway_api_problems.
        if earlier is not None and not (
            gateway_api and config.gateways[earlier].installer == "gatewayApi"
        ):
            problems.append(
                ConfigProblem(
                    config_key("gateways", index),
                    f"duplicate gateway {gateway.key} (also gateways[{earlier}])",
                )
            )
        seen_names.setdefault(key, index)
        if gateway_api:
            continue
        if not gateway.selector:
            problems.append(
                ConfigProblem(
                    config_key("gateways", index, "selector"),
                    f"required with installer {gateway.installer} (the labels of the gateway's "
                    "pods, e.g. {istio: ingressgateway}); only gatewayApi goes without",
                )
            )
            continue
        overlap = _overlapping_selector(config, index)
        if overlap is not None:
            problems.append(overlap)
    return problems


def _gateway_api_problems(config: AcpwConfig) -> list[ConfigProblem]:
    """``installer: gatewayApi``: the release, no selector, a Gateway name, one entry per
    Gateway (acpw/gateway_api.py)."""
    entries = [
        {
            "installer": g.installer,
            "name": g.name,
            "namespace": g.namespace,
            **({"selector": g.selector} if g.selector else {}),
        }
        for g in config.gateways
    ]
    problems = [
        ConfigProblem(key, message)
        for key, message in gateway_api_entry_problems(entries, config.istio_version)
    ]
    # A selector naming a Gateway API gateway's pods would load the modules into them twice.
    gateway_api = {(g.namespace, g.name) for g in config.gateways if g.installer == "gatewayApi"}
    for index, gateway in enumerate(config.gateways):
        selected = gateway.selector.get(GATEWAY_API_POD_LABEL)
        if selected is not None and (gateway.namespace, selected) in gateway_api:
            problems.append(
                ConfigProblem(
                    config_key("gateways", index, "selector"),
                    f"{GATEWAY_API_POD_LABEL}={selected} selects the pods of the gatewayApi "
                    f"gateway {gateway.namespace}/{selected}, which get the modules from their "
                    "own entry: select other pods",
                )
            )
    return problems


def _overlapping_selector(config: AcpwConfig, index: int) -> ConfigProblem | None:
    """The first earlier gateway in the same namespace whose selector matches the same pods.

    A selector matches the pods carrying all its labels, so when one selector's labels are a
    subset of another's, every pod of the larger one matches both: each gateway's WasmPlugin
    and bootstrap objects would load the modules into those pods a second time.
    """
    gateway = config.gateways[index]
    labels = set(gateway.selector.items())
    for earlier_index, earlier in enumerate(config.gateways[:index]):
        if earlier.namespace != gateway.namespace or not earlier.selector:
            continue  # a gatewayApi gateway has no selector: its sender targets the Gateway
        earlier_labels = set(earlier.selector.items())
        if labels == earlier_labels:
            found = (
                f"same selector as gateways[{earlier_index}] in namespace {gateway.namespace} "
                f"(gateways {earlier.name} and {gateway.name} both select "
                f"{_labels(gateway.selector)})"
            )
            pods = "the same pods"
        elif labels < earlier_labels or labels > earlier_labels:
            smaller, larger = (gateway, earlier) if labels < earlier_labels else (earlier, gateway)
            found = (
                f"selector {_labels(gateway.selector)} of gateway {gateway.name} is a "
                f"{'subset' if smaller is gateway else 'superset'} of the selector "
                f"{_labels(earlier.selector)} of gateway {earlier.name} (gateways[{earlier_index}]) "
                f"in namespace {gateway.namespace}: every pod gateway {larger.name} selects is "
                f"also selected by gateway {smaller.name}"
            )
            pods = "those pods"
        else:
            continue
        return ConfigProblem(
            config_key("gateways", index, "selector"),
            f"{found}, so the modules would load twice into {pods}; give each gateway a label "
            "the other does not select",
        )
    return None


def _labels(selector: dict[str, str]) -> str:
    return shown(", ".join(f"{key}={value}" for key, value in selector.items()))


def _region_problems(config: AcpwConfig) -> list[ConfigProblem]:
    region = config.cloudwatch.region
    if config.signing == "envoy" or config.images.modules_honour_region:
        return []
    if region in (None, PUBLISHED_MODULE_REGION):
        return []
    if config.features.envoy_upstream_signing:
        fix = (
            f"set {PROJECT}:cloudwatch.signing: envoy (Envoy signs for any region), or use "
            f"{PUBLISHED_MODULE_REGION}"
        )
    else:
        fix = (
            f"use {PUBLISHED_MODULE_REGION} (Envoy signing, which works in every region, needs "
            f"Istio {first_release('envoy_upstream_signing')} or later; this is "
            f"{config.istio_version})"
        )
    return [
        ConfigProblem(
            config_key("cloudwatch", "region"),
            f"{shown(region)} cannot work with the published v0.1.0 modules, which "
            f"always call monitoring.{PUBLISHED_MODULE_REGION}.amazonaws.com: {fix}, or set "
            f"{PROJECT}:images.modulesHonourRegion: true for modules built to honour the region",
        )
    ]


def _needs_release(config: AcpwConfig, feature: str, key: str) -> list[ConfigProblem]:
    """Refuse ``feature`` on a release without it, naming the first release that has it."""
    if config.features.has(feature):
        return []
    envoy = config.features.envoy
    return [
        ConfigProblem(
            key,
            f"{FEATURE_NAMES[feature]} needs Istio {first_release(feature)} or later: Istio "
            f"{config.istio_version} ships Envoy {envoy.version}, whose aws_request_signing "
            + (
                "filter cannot sign upstream requests (an upstream filter from Envoy 1.30)"
                if feature == "envoy_upstream_signing"
                else "credential chain lacks it by default"
            ),
        )
    ]


def _signing_problems(config: AcpwConfig) -> list[ConfigProblem]:
    iam = config.iam
    problems = []
    if config.signing == "envoy":
        problems += _needs_release(config, "envoy_upstream_signing", "cloudwatch.signing")
    if iam.keyless and config.signing == "module":
        problems.append(
            ConfigProblem(
                "iam.credentials",
                f"'{iam.credentials}' needs {PROJECT}:cloudwatch.signing: envoy: the published "
                "receiver signs only with a static key and sends no session token",
            )
        )
    if iam.credentials == "irsa":
        problems += _needs_release(config, "envoy_web_identity", "iam.credentials")
        if iam.oidc_provider_arn is None:
            problems.append(
                ConfigProblem(
                    "iam.oidcProviderArn",
                    "required for iam.credentials 'irsa': the ARN of the cluster's IAM OIDC "
                    "provider (arn:aws:iam::<account>:oidc-provider/oidc.eks.<region>."
                    "amazonaws.com/id/<id>)",
                )
            )
    if iam.credentials == "podIdentity":
        problems += _needs_release(config, "envoy_pod_identity", "iam.credentials")
        if iam.eks_cluster_name is None:
            problems.append(
                ConfigProblem(
                    "iam.eksClusterName",
                    "required for iam.credentials 'podIdentity': the name of the EKS cluster "
                    "whose Pod Identity agent gives the role to the gateway pods",
                )
            )
    return problems


def _receiver_problems(config: AcpwConfig) -> list[ConfigProblem]:
    """The batching receiver signs nothing itself: it needs Envoy to sign its calls."""
    if config.receiver.module != "batching" or config.signing == "envoy":
        return []
    why = (
        "it holds no credentials and sends its calls unsigned, for Envoy's aws_request_signing "
        "filter to sign"
    )
    fix = f"set {PROJECT}:cloudwatch.signing: envoy"
    if not config.features.envoy_upstream_signing:
        fix = (
            f"use Istio {first_release('envoy_upstream_signing')} or later with "
            f"{PROJECT}:cloudwatch.signing: envoy (this is {config.istio_version}), or receiver."
            "module: published"
        )
    return [
        ConfigProblem(
            "receiver.module",
            f"'batching' needs {PROJECT}:cloudwatch.signing: envoy, not "
            f"'{config.signing}': {why}; {fix}",
        )
    ]


def _embedded_digest(reference: str) -> str | None:
    """The ``sha256:...`` digest an image reference already carries after ``@``, if any."""
    _, at, digest = reference.rpartition("@")
    return digest if at else None


def _image_problems(config: AcpwConfig) -> list[ConfigProblem]:
    images = config.images
    problems = []
    if images.registry == "ecr" and not config.features.wasm_pull_secret:
        problems.append(
            ConfigProblem(
                config_key("images", "registry"),
                f"'ecr' is a private registry, and Istio {config.istio_version} ignores WasmPlugin pull "
                "secrets (they work from 1.14): use 'ghcr' (public images) or Istio 1.14 or later",
            )
        )
    if images.ecr_kms_key_arn and images.registry != "ecr":
        problems.append(
            ConfigProblem(
                config_key("images", "ecr_kms_key_arn"),
                f"only applies to registry 'ecr': set {PROJECT}:images.registry: ecr",
            )
        )
    for image_field, digest_field in (
        ("sender", "sender_digest"),
        ("receiver_volume", "receiver_volume_digest"),
    ):
        embedded = _embedded_digest(getattr(images, image_field))
        configured = getattr(images, digest_field)
        if embedded and configured and embedded != configured:
            problems.append(
                ConfigProblem(
                    config_key("images", digest_field),
                    f"{configured} differs from the digest {embedded} already in "
                    f"{PROJECT}:images.{config_key(image_field)}: the two pins disagree, and "
                    f"only one could be used; keep one of them (or make them equal)",
                )
            )
    for name, image_key, digest_key, command in (
        ("sender_file", "sender", "senderDigest", "sender"),
        ("receiver_file", "receiverVolume", "receiverVolumeDigest", "receiver"),
    ):
        if getattr(images, name):
            problems.append(
                ConfigProblem(
                    config_key("images", name),
                    LOCAL_FILE_REFUSAL.format(
                        command=command, image=image_key, digest=digest_key, project=PROJECT
                    ),
                )
            )
    if images.registry == "ecr":
        problems += _pull_through_problems(config)
    for name, value in (
        ("ecr_upstream_credentials", images.ecr_upstream_credentials),
        ("ecr_creation_role_arn", images.ecr_creation_role_arn),
        ("copy_tool_images", images.copy_tool_images),
        ("refresher_namespace", images.refresher_namespace),
        ("refresher_role_arn", images.refresher_role_arn),
    ):
        if value and images.registry != "ecr":
            problems.append(
                ConfigProblem(
                    config_key("images", name),
                    f"only applies to registry 'ecr' (the pull-secret refresher and the private "
                    f"registry exist only there): set {PROJECT}:images.registry: ecr",
                )
            )
    return problems


LOCAL_FILE_REFUSAL = (
    "the program no longer pushes local files (that took a Python dynamic provider, which fails "
    "from every other language): publish it outside the engine with `python -m "
    "acpw.oci.publish {command} <file> --to <registry>/<repository>` (or `make "
    "publish-images`), then set {project}:images.{image} to the printed reference and "
    "{project}:images.{digest} to the printed digest"
)
"""Why ``images.senderFile`` / ``receiverFile`` are refused, and what to run instead."""


def _pull_through_problems(config: AcpwConfig) -> list[ConfigProblem]:
    """Registry ``ecr``: every image's upstream has a pull-through rule, with its credential."""
    images = config.images
    problems = []
    references = [("sender", images.sender), ("receiver_volume", images.receiver_volume)]
    if images.copy_tool_images:
        references += [("kubectl", images.kubectl), ("aws_cli", images.aws_cli)]
    credentials = {
        found.url for host in images.ecr_upstream_credentials if (found := upstream_of(f"{host}/x"))
    }
    for name, reference in references:
        host = registry_host(reference)
        upstream = upstream_of(reference)
        if upstream is None:
            problems.append(
                ConfigProblem(
                    config_key("images", name),
                    f"registry 'ecr' caches images through an ECR pull-through cache rule, and ECR "
                    f"has none for {host} (supported: {supported_hosts()}): use one of those "
                    f"registries or {PROJECT}:images.registry: ghcr",
                )
            )
        elif upstream.needs_credential and upstream.url not in credentials:
            problems.append(
                ConfigProblem(
                    config_key("images", "ecr_upstream_credentials"),
                    f"{host} (from {PROJECT}:images.{config_key(name)}) needs a credential for the "
                    f"ECR pull-through cache: create a Secrets Manager secret named "
                    f'ecr-pullthroughcache/<name> holding {{"username": ..., "accessToken": ...}} '
                    f"in the stack's account and region, and set {PROJECT}:images."
                    f'ecrUpstreamCredentials: {{"{host}": <its ARN>}}',
                )
            )
            credentials.add(upstream.url)  # one problem per upstream
    if images.ecr_kms_key_arn and not images.ecr_creation_role_arn:
        problems.append(
            ConfigProblem(
                config_key("images", "ecr_creation_role_arn"),
                f"is needed with {PROJECT}:images.ecrKmsKeyArn: ECR creates the cached "
                "repositories with a KMS key only as a role of yours (the repository creation "
                "template's custom role)",
            )
        )
    return problems


def _observability_problems(config: AcpwConfig) -> list[ConfigProblem]:
    observability = config.observability
    problems = []
    metric_name = config.cloudwatch.metric_name
    if any(q in metric_name for q in _QUOTES) and (observability.dashboard or observability.alarms):
        problems.append(
            ConfigProblem(
                "cloudwatch.metricName",
                f"{shown(metric_name)} holds a quote or backslash, which the dashboard's search "
                "expressions and the alarms' Metrics Insights queries cannot quote: rename the "
                "metric or set acpw:observability.dashboard, noDataAlarm and serverErrorAlarm to false",
            )
        )
    heartbeat = observability.heartbeat
    hosts = config.match_hosts
    if heartbeat.enabled and heartbeat.host and hosts and heartbeat.host not in hosts:
        problems.append(
            ConfigProblem(
                "observability.heartbeat.host",
                f"{shown(heartbeat.host)} is not in acpw:matchHosts, so the sender would not count "
                "the heartbeat: use one of " + ", ".join(hosts),
            )
        )
    if observability.no_data_alarm and not heartbeat.enabled:
        problems.append(
            ConfigProblem(
                "observability.noDataAlarm",
                "needs acpw:observability.heartbeat.enabled: true; without the heartbeat an idle "
                "gateway sends no data and the alarm would fire for it. Set noDataAlarm: false "
                "to run without either",
            )
        )
    return problems


def _cost_problems(config: AcpwConfig) -> list[ConfigProblem]:
    cost, observability = config.cost, config.observability
    problems = []
    hosts = config.match_hosts
    if cost.hosts is not None and hosts and cost.hosts > len(hosts):
        problems.append(
            ConfigProblem(
                "cost.hosts",
                f"{cost.hosts} is more than the {len(hosts)} hosts of acpw:matchHosts, the "
                "only ones the sender counts",
            )
        )
    if cost.create_budget:
        if cost.monthly_budget_usd is None:
            problems.append(
                ConfigProblem(
                    "cost.createBudget", "needs acpw:cost.monthlyBudgetUsd (the budget's limit)"
                )
            )
        has_topic = observability.topic_arn is not None or observability.alarms
        if not has_topic and not cost.budget_emails:
            problems.append(
                ConfigProblem(
                    "cost.createBudget",
                    "the budget needs someone to notify: set acpw:cost.budgetEmails, or "
                    "acpw:observability.topicArn, or keep an alarm on (its topic is used)",
                )
            )
    return problems


def _unknown_patch_warning(config: AcpwConfig) -> list[ConfigWarning]:
    version = config.istio_version
    if not version.unknown_patch:
        return []
    return [
        ConfigWarning(
            "istioVersion",
            f"Istio {version} is newer than the newest patch release this program knows "
            f"(1.{version.minor}.{NEWEST_KNOWN_PATCH[version.minor]}): the facts of "
            f"1.{version.minor} apply, check the release notes for changes to WasmPlugin, "
            "EnvoyFilter or gateway installation",
        )
    ]


def _fail_strategy_warning(config: AcpwConfig) -> list[ConfigWarning]:
    if config.features.wasm_fail_strategy:
        return []
    # istiod treats an absent failStrategy as FAIL_CLOSE: a sender image that cannot be
    # fetched makes the gateway refuse traffic, whatever this setting says.
    return [
        ConfigWarning(
            "failStrategy",
            f"'{config.fail_strategy}' cannot be honoured on Istio {config.istio_version}: "
            "WasmPlugin.failStrategy exists from 1.19, so the sender fails closed (a sender image "
            "that cannot be fetched blocks traffic through the gateway); pin images.senderDigest",
        )
    ]


def _pull_secrets_warning(config: AcpwConfig) -> list[ConfigWarning]:
    features = config.features
    if (
        features.wasm_pull_secret
        and not features.wasm_distinct_pull_secrets
        and config.images.registry == "ecr"
        and len(config.gateways) > 1
    ):
        return [
            ConfigWarning(
                "images.registry",
                f"Istio {config.istio_version} mixes up WasmPlugins with different pull secrets "
                "(fixed in 1.14.3): upgrade before relying on more than one gateway",
            )
        ]
    return []


def _operator_warning(config: AcpwConfig) -> list[ConfigWarning]:
    if config.features.in_cluster_operator or not any(
        g.installer == "istioOperator" for g in config.gateways
    ):
        return []
    return [
        ConfigWarning(
            "gateways",
            f"Istio {config.istio_version} has no in-cluster operator: the IstioOperator "
            "is only exported (stack output istioOperatorYaml) for `istioctl install -f`",
        )
    ]


CHECKS: tuple[Check, ...] = (
    _gateway_problems,
    _gateway_api_problems,
    _region_problems,
    _signing_problems,
    _receiver_problems,
    _image_problems,
    _observability_problems,
    _cost_problems,
    _unknown_patch_warning,
    _fail_strategy_warning,
    _pull_secrets_warning,
    _operator_warning,
)
"""Every rule across fields, in the order their findings are reported."""
