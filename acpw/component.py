"""``AcpwDeployment`` as a Pulumi component provider: the typed interface every language sees.

``provider/`` hosts this module's :class:`AcpwDeployment` with
``pulumi.provider.experimental.component_provider_host``; the schema (``provider/schema.json``)
is inferred from the annotations below by ``pulumi.provider.experimental.analyzer.Analyzer``,
so ``pulumi package add <repo>/provider`` generates a typed SDK in TypeScript, Go, C#, Java,
Python and YAML.

The analyzer reads real annotations, so this module must not use ``from __future__ import
annotations``; and it supports only some shapes: ``pulumi.Input[...]`` of ``str``, ``int``,
``float``, ``bool``, lists, ``dict[str, ...]`` and TypedDicts (no ``Literal``, no unions, no
pydantic models). The TypedDicts therefore describe the stack config's shape and nothing more:
every rule stays in the one config model, :func:`acpw.config.load_config`. The inputs are
turned back into the raw camelCase dict the stack config would give, validated by it, and the
Python :class:`acpw.deployment.AcpwDeployment` is built from the result, so a YAML or TypeScript
user gets the same ``ConfigError`` text as ``pulumi config set`` does.

Stable interface (see CHANGELOG.md): the type token ``acpw:index:AcpwDeployment``, the input and
output names and the type names below. Adding an optional input is a minor change; renaming or
removing one, or changing a type, is a breaking change. ``tests/test_component_provider.py``
compares the inferred schema with the committed snapshot, so every change is a visible diff.
"""

import json
import re
import sys
import typing
from typing import Any, NotRequired, TypedDict

import pulumi
from pulumi.errors import InputPropertiesError, InputPropertyErrorDetails
from pulumi.output import Unknown
from pulumi.provider import ConstructResult
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.experimental.util import camel_case
from pulumi.runtime.sync_await import _sync_await

from acpw import deployment
from acpw.config import ConfigError, load_config
from acpw.live import wait_for

PACKAGE = "acpw"
"""The provider's package name: the first part of every type token."""
VERSION = "0.2.0"
"""The one version number: pyproject.toml, the plugin and the schema (a test checks they agree)."""
TYPE_TOKEN = f"{PACKAGE}:index:AcpwDeployment"
"""Type token of the component, the same from Python and from a generated SDK."""


class CloudWatch(TypedDict):
    """``cloudwatch``: where and under which names the receiver publishes."""

    region: NotRequired[pulumi.Input[str]]
    """AWS region of the CloudWatch endpoint; unset: the stack's ``aws:region``. Allowed: a region
    of the aws partition."""
    namespace: NotRequired[pulumi.Input[str]]
    """CloudWatch metric namespace (also the IAM policy's ``cloudwatch:namespace`` condition).
    Allowed: 1 to 255 of letters, digits, spaces and . _ - / # :, not starting AWS/. Default:
    ``AWSCloudWatchProxyWasm``."""
    metric_name: NotRequired[pulumi.Input[str]]
    """Name of the metric the receiver publishes (one data point per request). Allowed: 1 to 255
    printable ASCII characters. Default: ``RequestCount``."""
    request_timeout_ms: NotRequired[pulumi.Input[int]]
    """Timeout of one PutMetricData call, in milliseconds. Allowed: 100 to 60000. Default:
    ``5000``."""
    signing: NotRequired[pulumi.Input[str]]
    """Who signs the PutMetricData calls: ``module`` (the receiver, static keys, ap-northeast-1
    only) or ``envoy`` (Envoy's ``aws_request_signing`` upstream filter on the receiver's own
    cluster: any region, session credentials, IRSA, EKS Pod Identity; Istio 1.22 or later). Unset:
    ``envoy`` where ``module`` cannot work (another region, a keyless ``iam.credentials`` or
    ``receiver.module: batching``) on Istio 1.22+, else ``module``: so upgrading the program never
    changes what a working stack runs (a changed default would roll every gateway). Allowed:
    ``module``, ``envoy``."""


class Receiver(TypedDict):
    """``receiver``: which receiver module runs, and how the batching one batches."""

    module: NotRequired[pulumi.Input[str]]
    """``published``: the v0.1.0 receiver from ``images.receiverVolume`` (one PutMetricData call per
    request, the raw path as a dimension). ``batching``: the project's own receiver
    (receiver/batching.c, shipped with the program and delivered in a ConfigMap): it counts per
    dimension set, drops the query string from the path, keeps at most ``maxSeries`` dimension sets
    (the rest in one overflow series) and sends one batch of PutMetricData calls every
    ``flushSeconds``; unsigned, so it needs ``cloudwatch.signing: envoy`` (no key enters the VM).
    Allowed: ``published``, ``batching``. Default: ``published``."""
    flush_seconds: NotRequired[pulumi.Input[int]]
    """``batching``: seconds between two flushes (one batch of PutMetricData calls each). Allowed: 1
    to 300. Default: ``60``."""
    max_series: NotRequired[pulumi.Input[int]]
    """``batching``: distinct (host, method, path, status) dimension sets per flush; requests of any
    further set are counted in one overflow series (all four dimensions ``(overflow)``). Allowed: 1
    to 10000. Default: ``1000``."""


class Gateway(TypedDict):
    """One ingress gateway the modules run in."""

    name: pulumi.Input[str]
    """The gateway's Deployment name (also its IstioOperator component name); with ``gatewayApi``
    the name of the Gateway API ``Gateway`` (istiod's Deployment is ``<name>-istio``). Allowed: a
    DNS label (up to 63 of a-z, 0-9, -)."""
    namespace: pulumi.Input[str]
    """Namespace of the gateway's Deployment (with ``gatewayApi``: of the ``Gateway``). Allowed: a
    DNS label (up to 63 of a-z, 0-9, -)."""
    selector: NotRequired[pulumi.Input[dict[str, str]]]
    """Labels selecting the gateway's pods (WasmPlugin and EnvoyFilter selector); no two gateways of
    one namespace may select the same pods. Not set with ``gatewayApi``: the sender attaches to the
    Gateway by ``targetRefs``. Allowed: Kubernetes labels, not empty (numbers and booleans taken as
    text); required except with gatewayApi, where it is not allowed."""
    installer: NotRequired[pulumi.Input[str]]
    """How the gateway is installed, and so who rolls its pods: ``istioOperator`` (an IstioOperator
    overlay, applied by the operator or ``istioctl install``), ``deploymentPatch`` (the program
    patches the Deployment and waits for the rollout) or ``gatewayApi`` (a Gateway API ``Gateway``
    of class ``istio``, Istio 1.26+: the program points its ``spec.infrastructure.parametersRef`` at
    an overlay ConfigMap, istiod rolls ``<name>-istio`` and a Job waits). Allowed:
    ``istioOperator``, ``deploymentPatch``, ``gatewayApi``. Default: ``istioOperator``."""
    max_surge: NotRequired[pulumi.Input[str]]
    """Extra pods a rollout may start at once (``maxUnavailable`` stays 0): a count or a percentage.
    Allowed: a count of at least 1, or '1%' to '100%'. Default: ``25%``."""
    enabled: NotRequired[pulumi.Input[bool]]
    """False: take ACPW off this gateway (pods roll without it); remove the entry afterwards.
    Default: ``true``."""
    service_account: NotRequired[pulumi.Input[str]]
    """The gateway pods' ServiceAccount, trusted by the IAM role (``iam.credentials`` ``irsa`` /
    ``podIdentity``); unset: ``<name>-service-account`` for ``istioOperator`` (Istio's gateway
    chart), ``<name>`` for ``deploymentPatch`` (the ``istio/gateway`` Helm chart's default),
    ``<name>-istio`` for ``gatewayApi`` (istiod's generated ServiceAccount). Allowed: a DNS
    subdomain (up to 253 of a-z, 0-9, - and .)."""


class Images(TypedDict):
    """Where the Wasm modules come from and how they are pulled."""

    sender: NotRequired[pulumi.Input[str]]
    """``oci://`` URL of the sender image (one layer holding ``plugin.wasm``, or a Wasm OCI
    artifact). Allowed: oci:// and an image reference."""
    sender_digest: NotRequired[pulumi.Input[str]]
    """Manifest digest ``sha256:<64 hex>`` pinning the sender image. Allowed: sha256: and 64
    lowercase hex."""
    receiver_volume: NotRequired[pulumi.Input[str]]
    """Image whose working directory holds ``receiver.wasm``, copied by the init container. Allowed:
    an image reference (no scheme)."""
    receiver_volume_digest: NotRequired[pulumi.Input[str]]
    """Manifest digest pinning the receiver volume image. Allowed: sha256: and 64 lowercase hex."""
    sender_file: NotRequired[pulumi.Input[str]]
    """Refused since 0.3.0 (the program no longer pushes): publish the file with ``python -m
    acpw.oci.publish`` and set ``sender`` and ``senderDigest``."""
    receiver_file: NotRequired[pulumi.Input[str]]
    """Refused since 0.3.0: publish with ``python -m acpw.oci.publish``, set ``receiverVolume``
    and ``receiverVolumeDigest``."""
    pull_policy: NotRequired[pulumi.Input[str]]
    """``imagePullPolicy`` of the sender WasmPlugin and the receiver's init container. Allowed:
    ``IfNotPresent``, ``Always``. Default: ``IfNotPresent``."""
    registry: NotRequired[pulumi.Input[str]]
    """``ghcr``: pull the source images as they are; ``ecr``: through an ECR pull-through cache.
    Allowed: ``ghcr``, ``ecr``. Default: ``ghcr``."""
    ecr_keep_images: NotRequired[pulumi.Input[int]]
    """ECR lifecycle policy: how many images each repository keeps. Allowed: 1 to 1000. Default:
    ``10``."""
    ecr_kms_key_arn: NotRequired[pulumi.Input[str]]
    """Encrypt the cached ECR repositories with this KMS key instead of AES256 (needs
    ``ecrCreationRoleArn``). Allowed: arn:aws:kms:<region>:<account>:key/<id> or alias/<name>."""
    ecr_upstream_credentials: NotRequired[pulumi.Input[dict[str, str]]]
    """Registry ``ecr``: per upstream registry host (``ghcr.io``, ``docker.io``, ...), the ARN
    of the Secrets Manager secret ``ecr-pullthroughcache/<name>`` holding its credentials.
    Allowed: upstream host -> arn:aws:secretsmanager:...:secret:ecr-pullthroughcache/<name>."""
    ecr_creation_role_arn: NotRequired[pulumi.Input[str]]
    """Registry ``ecr``: the IAM role ECR assumes to create cached repositories with a KMS key
    and tags (the repository creation template's custom role). Allowed:
    arn:aws:iam::<account>:role/[path/]<name>."""
    modules_honour_region: NotRequired[pulumi.Input[bool]]
    """Set true only for modules built so that they call the configured region (not v0.1.0).
    Default: ``false``."""
    kubectl: NotRequired[pulumi.Input[str]]
    """The kubectl image of the rollout-check Jobs and the refresher, by digest (``...@sha256:``).
    Allowed: an image reference ending @sha256:<64 lowercase hex>."""
    aws_cli: NotRequired[pulumi.Input[str]]
    """The AWS CLI image of the refresher (and the heartbeat's default), by digest. Allowed: an
    image reference ending @sha256:<64 lowercase hex>."""
    copy_tool_images: NotRequired[pulumi.Input[bool]]
    """Registry ``ecr``: copy ``kubectl`` and ``awsCli`` into private ECR too, and run them from
    there. Default: ``false``."""
    refresher_namespace: NotRequired[pulumi.Input[str]]
    """Registry ``ecr``: where the one refresher runs; default: the first gateway namespace.
    Allowed: a DNS label."""
    refresher_role_arn: NotRequired[pulumi.Input[str]]
    """Registry ``ecr``: an IAM role the refresher assumes through IRSA / EKS Pod Identity instead
    of a static key of its own IAM user. Allowed: arn:aws:iam::<account>:role/[path/]<name>."""


class Iam(TypedDict):
    """The AWS identity the CloudWatch calls are signed with."""

    credentials: NotRequired[pulumi.Input[str]]
    """Where the signing credentials come from: ``accessKey`` (an IAM user's key in a Secret, read
    from env), ``irsa`` (an IAM role assumed with the ServiceAccount token through the cluster's
    OIDC provider; Istio 1.24+) or ``podIdentity`` (an IAM role given by the EKS Pod Identity agent;
    Istio 1.22+). The keyless modes need ``cloudwatch.signing: envoy`` and create no IAM user, key
    or Secret. Allowed: ``accessKey``, ``irsa``, ``podIdentity``. Default: ``accessKey``."""
    oidc_provider_arn: NotRequired[pulumi.Input[str]]
    """``irsa``: the IAM OIDC provider of the cluster's ServiceAccount issuer (the role trusts it
    for exactly the gateways' ServiceAccounts). Allowed:
    arn:aws:iam::<account>:oidc-provider/<issuer host and path>."""
    eks_cluster_name: NotRequired[pulumi.Input[str]]
    """``podIdentity``: the EKS cluster whose Pod Identity associations give the role to the
    gateways' ServiceAccounts (the Pod Identity agent add-on must run). Allowed: 1 to 100 of
    letters, digits, - and _."""
    user_name: NotRequired[pulumi.Input[str]]
    """Name of the IAM user (``accessKey``) or role (``irsa``, ``podIdentity``); unset:
    ``<project>-<stack>``. Allowed: 1 to 64 of letters, digits and + = , . @ _ -."""
    path: NotRequired[pulumi.Input[str]]
    """IAM path of the user. Allowed: / or /segments/ of printable ASCII, no //, up to 512. Default:
    ``/acpw/``."""
    permissions_boundary: NotRequired[pulumi.Input[str]]
    """ARN of a managed policy set as the user's permissions boundary. Allowed:
    arn:aws:iam::<account>:policy/..."""
    tags: NotRequired[pulumi.Input[dict[str, str]]]
    """Tags of the AWS resources; the program adds ``acpw:purpose``, ``pulumi:project`` and
    ``pulumi:stack`` itself. Allowed: at most 47 IAM tags (letters, digits, spaces and _ . : / = + -
    @; numbers and booleans taken as text)."""
    key_generation: NotRequired[pulumi.Input[int]]
    """Bump by one to rotate the access key without downtime. Allowed: 1 to 99999. Default:
    ``1``."""
    revoke_previous_key: NotRequired[pulumi.Input[bool]]
    """Emergency: deactivate every older key at once, even while pods still use it. Default:
    ``false``."""
    allowed_source_vpces: NotRequired[pulumi.Input[list[str]]]
    """VPC endpoint ids (``vpce-...``) the key may call PutMetricData through (``aws:SourceVpce``).
    Allowed: at most 10 distinct vpce-... ids."""
    allowed_source_ips: NotRequired[pulumi.Input[list[str]]]
    """Public CIDRs the key may call PutMetricData from (``aws:SourceIp``); normalised. Allowed: at
    most 16 distinct public CIDRs."""


class Heartbeat(TypedDict):
    """One request a minute through each gateway, so that the no-data alarm means something."""

    enabled: NotRequired[pulumi.Input[bool]]
    """Run the heartbeat CronJobs (the no-data alarm needs them). Default: ``true``."""
    host: NotRequired[pulumi.Input[str]]
    """``Host`` of the request; must be counted. Unset: the first of ``matchHosts``. Allowed: a
    lowercase hostname, optional :port."""
    path: NotRequired[pulumi.Input[str]]
    """Path of the request (no query string: each distinct path is a billed metric). Allowed: / and
    letters, digits, . _ ~ / -. Default: ``/acpw-heartbeat``."""
    port: NotRequired[pulumi.Input[int]]
    """Port of the gateway Service (named like the gateway's Deployment). Allowed: 1 to 65535.
    Default: ``80``."""
    image: NotRequired[pulumi.Input[str]]
    """Image providing ``curl`` (the AWS CLI image, which the project already uses, has it).
    Allowed: an image reference."""


class Observability(TypedDict):
    """Dashboard, alarms and their SNS topic; each part can be switched off."""

    dashboard: NotRequired[pulumi.Input[bool]]
    """Create the CloudWatch dashboard. Default: ``true``."""
    no_data_alarm: NotRequired[pulumi.Input[bool]]
    """Alarm when the namespace receives no data point for ``noDataMinutes``. Default: ``true``."""
    no_data_minutes: NotRequired[pulumi.Input[int]]
    """Minutes without a data point before the no-data alarm fires. Allowed: 3 to 180. Default:
    ``10``."""
    server_error_alarm: NotRequired[pulumi.Input[bool]]
    """Alarm when the share of 5xx responses is over ``serverErrorPercent``. Default: ``true``."""
    server_error_percent: NotRequired[pulumi.Input[float]]
    """Share of 5xx responses, in percent, over which a minute counts against the 5xx alarm.
    Allowed: more than 0, less than 100. Default: ``5.0``."""
    server_error_minutes: NotRequired[pulumi.Input[int]]
    """Consecutive minutes over the threshold before the alarm fires. Allowed: 1 to 180. Default:
    ``5``."""
    server_error_min_requests: NotRequired[pulumi.Input[int]]
    """Minutes with fewer requests than this never count as over the threshold (1 of 2 is 50%).
    Allowed: at least 0. Default: ``20``."""
    topic_arn: NotRequired[pulumi.Input[str]]
    """SNS topic the alarms notify; unset: the program creates one (subscriptions are yours).
    Allowed: arn:aws:sns:<region>:<account>:<name>."""
    heartbeat: NotRequired[pulumi.Input[Heartbeat]]
    """The heartbeat: one request a minute through each gateway."""


class Cost(TypedDict):
    """Expected traffic and cardinality, for the monthly CloudWatch estimate and budget."""

    requests_per_second: NotRequired[pulumi.Input[float]]
    """Average requests per second over all gateways (each one is a PutMetricData call). Allowed: 0
    or more. Default: ``0``."""
    hosts: NotRequired[pulumi.Input[int]]
    """Distinct counted hosts; unset: the number of ``matchHosts``, or 1. Allowed: at least 1."""
    methods: NotRequired[pulumi.Input[int]]
    """Distinct HTTP methods. Allowed: 1 to 100. Default: ``1``."""
    paths: NotRequired[pulumi.Input[int]]
    """Distinct raw paths including query strings (each distinct value is a new metric). Allowed: at
    least 1. Default: ``1``."""
    statuses: NotRequired[pulumi.Input[int]]
    """Distinct HTTP response statuses. Allowed: 1 to 500. Default: ``1``."""
    gateway_pods: NotRequired[pulumi.Input[int]]
    """Gateway pods over all gateways (``receiver.module: batching``: each pod's receiver sends its
    own calls every flush); unset: one per enabled gateway. Allowed: at least 1."""
    monthly_budget_usd: NotRequired[pulumi.Input[float]]
    """Warn when the estimate reaches this; with ``createBudget`` also the AWS Budget's limit.
    Allowed: more than 0."""
    create_budget: NotRequired[pulumi.Input[bool]]
    """Create an AWS Budget on the account's CloudWatch spend, notifying the alarm topic. Default:
    ``false``."""
    budget_emails: NotRequired[pulumi.Input[list[str]]]
    """Extra e-mail subscribers of the budget's notifications. Allowed: e-mail addresses."""


class AcpwDeploymentArgs(TypedDict):
    """Inputs of the packaged ``AcpwDeployment``: the keys of the ``acpw:*`` stack config."""

    istio_version: pulumi.Input[str]
    """Istio release of the cluster, ``"1.13"`` or ``"1.13.9"`` (quote it); decides every
    version-dependent choice. Allowed: "1.12" to "1.30", or with a patch release ("1.22.3");
    quoted."""
    cloudwatch: NotRequired[pulumi.Input[CloudWatch]]
    """The receiver's configuration: region, metric namespace and name, timeout."""
    receiver: NotRequired[pulumi.Input[Receiver]]
    """Which receiver module runs (``published`` or the project's ``batching`` one) and its
    batching settings."""
    gateways: NotRequired[pulumi.Input[list[Gateway]]]
    """The ingress gateways the modules run in; default: ``istio-ingressgateway`` in
    ``istio-system``."""
    match_hosts: NotRequired[pulumi.Input[list[str]]]
    """Exact ``:authority`` values the sender counts (its ``match_hosts``); empty counts every host.
    Allowed: distinct lowercase hostnames, optional :port (1 to 65535)."""
    images: NotRequired[pulumi.Input[Images]]
    """Module images, their digests, the registry and pull policy, and the tool images."""
    iam: NotRequired[pulumi.Input[Iam]]
    """The AWS identity of the receiver and its key generation."""
    fail_strategy: NotRequired[pulumi.Input[str]]
    """What the sender's HTTP filter does when its module cannot load (honoured from Istio 1.19).
    Allowed: ``open``, ``closed``. Default: ``open``."""
    receiver_vm_id: NotRequired[pulumi.Input[str]]
    """``vm_id`` of the receiver VM; the sender's ``receiver_vm_id`` points at it. Allowed: 1 to 128
    of letters, digits and _ . -, starting alphanumeric. Default:
    ``aws-cloudwatch-proxy-wasm-receiver``."""
    instance: NotRequired[pulumi.Input[str]]
    """Prefix of every Kubernetes object name and the ``app.kubernetes.io/instance`` label; two
    stacks (or components) in one cluster need different ones, and changing it makes a new
    generation. Allowed: 1 to 20 of a-z, 0-9 and -, starting with a letter. Default: ``acpw``."""
    observability: NotRequired[pulumi.Input[Observability]]
    """Dashboard, alarms, their SNS topic and the heartbeat."""
    cost: NotRequired[pulumi.Input[Cost]]
    """Expected traffic for the monthly CloudWatch estimate, and an optional AWS Budget."""


# Output types keep the key names of the Python component's dicts (which are its stack outputs),
# so that the provider passes them through unchanged: hence the camelCase attribute names.
class GatewayInfo(TypedDict):
    """What the component did for one gateway."""

    receiverDelivery: str
    """How the receiver is delivered: ``envoyFilterBootstrapPatch`` or ``bootstrapOverride``."""
    installer: str
    """``istioOperator`` or ``deploymentPatch``."""
    istioObjects: list[str]
    """Names of the Istio objects created for the gateway."""


class ObservabilityInfo(TypedDict):
    """The dashboard, alarms and cost estimate."""

    dashboardName: NotRequired[str]
    """Name of the dashboard (absent when ``observability.dashboard`` is false)."""
    dashboardUrl: NotRequired[str]
    """Console link to the dashboard."""
    alarmTopicArn: NotRequired[str]
    """SNS topic the alarms (and the budget) notify."""
    alarms: list[str]
    """Names of the alarms."""
    costEstimate: dict[str, str]
    """Monthly CloudWatch estimate: amounts as strings (``monthlyUsd``, ``customMetrics``, ...)."""


class AcpwDeployment(pulumi.ComponentResource):
    """aws-cloudwatch-proxy-wasm on Istio ingress gateways: IAM identity, key Secrets, Wasm images, Istio objects, gateway settings, dashboard and alarms. The inputs are validated with the same rules and messages as the ``acpw:*`` stack config; AWS and Kubernetes providers are taken from the resource options (``providers``)."""

    user_arn: pulumi.Output[str]
    """ARN of the IAM user whose keys sign the CloudWatch calls (keyless modes: the gateways' role)."""
    secret_names: pulumi.Output[dict[str, str]]
    """Per gateway namespace: the Secret holding the desired generation's keys."""
    gateways: pulumi.Output[dict[str, GatewayInfo]]
    """Per gateway (``namespace/name``): receiver delivery, installer and Istio object names."""
    generation: pulumi.Output[str]
    """Id of the desired generation (the gateway pods' ``acpw-rollout`` label)."""
    cloudwatch_console_url: pulumi.Output[str]
    """Console link to the metrics of the configured namespace."""
    istio_operator_yaml: pulumi.Output[str] | None
    """IstioOperator for ``istioctl install -f`` when a gateway uses ``installer: istioOperator``."""
    observability: pulumi.Output[ObservabilityInfo]
    """Dashboard name and URL, alarm names and topic, monthly cost estimate."""

    def __new__(  # type: ignore[misc]
        cls,
        name: str,
        args: AcpwDeploymentArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> deployment.AcpwDeployment:
        """The Python component itself, built from the validated inputs: one resource, one token.

        Returning an instance of another class skips ``__init__``; the provider only reads the
        URN and the output attributes, which the Python component has under the same names.
        """
        config = load_config(
            raw_config(args),
            project=pulumi.get_project(),
            stack=pulumi.get_stack(),
            aws_region=pulumi.Config("aws").get("region"),
        )
        return deployment.AcpwDeployment(name, deployment.AcpwDeploymentArgs(config=config), opts)

    def __init__(
        self,
        name: str,
        args: AcpwDeploymentArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:  # pragma: no cover - never called: __new__ returns the Python component
        raise AssertionError("unreachable")


_NUMBER_RE = re.compile(r"^[0-9]+$")


def raw_config(args: AcpwDeploymentArgs | dict[str, Any]) -> dict[str, Any]:
    """The Python inputs (snake_case keys) as the raw ``acpw:*`` dict the stack config gives.

    Inputs that are outputs of other resources are waited for, at any depth: the config decides
    which resources exist, so it must be known; an unknown value (in a preview) is a
    ``ConfigError``.
    """
    plain = resolved({k: v for k, v in dict(args).items() if v is not None})
    return _config_shape(plain, AcpwDeploymentArgs, rename=True)


def wire_config(inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs of a ``Construct`` call (schema names: camelCase) as the raw ``acpw:*`` dict.

    Every name is kept, known or not, so that :func:`acpw.config.load_config` refuses a
    misspelt one with the allowed names; the SDK's own input mapping
    (``ComponentProvider.map_inputs``) would drop it, and would turn an object input that
    arrives as an output (a secret, a value with dependencies) into ``{}``.
    """
    return _config_shape(resolved(inputs), AcpwDeploymentArgs, rename=False)


def resolved(inputs: dict[str, Any]) -> dict[str, Any]:
    """``inputs`` with every output, at any depth, replaced by its value.

    The provider host passes an input that is unknown in a preview as ``pulumi.output.Unknown``
    (or inside an unknown output), and one with dependencies or secrets as an output. Anything
    unknown is a ``ConfigError`` naming each key it is at.
    """
    unknown: list[str] = []

    def plain(value: Any, key: str) -> Any:
        if isinstance(value, pulumi.Output):
            if not _sync_await(value.is_known()):
                unknown.append(key)
                return None
            value = wait_for(value)
        if isinstance(value, Unknown):
            unknown.append(key)
            return None
        if isinstance(value, dict):
            return {k: plain(v, f"{key}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v, f"{key}[{i}]") for i, v in enumerate(value)]
        return value

    result = {key: plain(value, camel_case(key)) for key, value in inputs.items()}
    if unknown:
        raise ConfigError(
            [
                f"acpw:{key}: is unknown until another resource is created; it decides which "
                "resources exist, so it must be known in a preview (pass a plain value)"
                for key in unknown
            ]
        )
    return result


def _config_shape(value: dict[str, Any], shape: type, *, rename: bool) -> dict[str, Any]:
    """``value`` in the config's shape, following the TypedDict ``shape``.

    With ``rename``, the Python (snake_case) keys of TypedDicts become the config's camelCase
    names; user maps (``selector``, ``tags``) keep theirs, and so does a key ``shape`` does not
    have, for the config to refuse. Integers arrive as floats from the engine (the provider's
    conversion keeps the float): whole ones become ints, others stay floats for the config's
    "valid integer" message.
    """
    hints = dict(shape.__annotations__)
    if not rename:
        hints = {camel_case(name): hint for name, hint in hints.items()}
    result: dict[str, Any] = {}
    for key, item in value.items():
        if item is None:
            continue
        field = _field_type(hints[key]) if key in hints else None
        if key in ("max_surge", "maxSurge") and isinstance(item, str) and _NUMBER_RE.match(item):
            item = int(item)  # the schema's string holds a count or a percentage
        elif field is int and isinstance(item, float) and item.is_integer():
            item = int(item)  # every number crosses the wire as a double
        elif field is not None and typing.is_typeddict(field) and isinstance(item, dict):
            item = _config_shape(item, field, rename=rename)
        elif (
            field is not None
            and typing.get_origin(field) is list
            and typing.is_typeddict(typing.get_args(field)[0])
            and isinstance(item, list)
        ):
            inner = typing.get_args(field)[0]
            item = [
                _config_shape(i, inner, rename=rename) if isinstance(i, dict) else i for i in item
            ]
        result[camel_case(key) if rename and key in hints else key] = item
    return result


def _field_type(annotation: Any) -> Any:
    """``T`` of ``NotRequired[pulumi.Input[T]]`` (``pulumi.Input`` is a union with ``T``)."""
    while typing.get_origin(annotation) in (NotRequired, typing.Required):
        annotation = typing.get_args(annotation)[0]
    for member in typing.get_args(annotation) or (annotation,):
        origin = typing.get_origin(member)
        if origin is not None and origin.__name__ in ("Awaitable", "Output"):
            continue
        if isinstance(member, typing.ForwardRef):
            continue
        return member
    return annotation


class AcpwProvider(ComponentProvider):
    """The component provider: the SDK's schema inference, with a ``construct`` of its own.

    ``ComponentProvider.construct`` maps the inputs by the schema first (pulumi Python SDK
    3.272.0, pulumi/provider/experimental/component.py ``map_input_properties``): a name not in
    the schema is skipped, and an object input that is an output becomes ``{}``, so a typo or a
    ``fn::secret`` object would silently give the defaults. Here every input reaches
    :func:`acpw.config.load_config` as sent, outputs resolved; its problems are raised as
    ``InputPropertiesError``, which the host sends as INVALID_ARGUMENT with the message and one
    detail per key (pulumi/provider/server.py ``create_grpc_invalid_properties_status``).
    """

    def __init__(self) -> None:
        super().__init__([AcpwDeployment], PACKAGE, None, VERSION)

    def construct(
        self,
        name: str,
        resource_type: str,
        inputs: pulumi.Inputs,
        options: pulumi.ResourceOptions | None = None,
    ) -> ConstructResult:
        self.validate_resource_type(PACKAGE, resource_type)
        try:
            config = load_config(
                wire_config(dict(inputs)),
                project=pulumi.get_project(),
                stack=pulumi.get_stack(),
                aws_region=pulumi.Config("aws").get("region"),
            )
        except ConfigError as error:
            raise InputPropertiesError(str(error), _details(error)) from error
        component = deployment.AcpwDeployment(
            name, deployment.AcpwDeploymentArgs(config=config), options
        )
        state = self.get_state(component, self._component_defs[TYPE_TOKEN.rsplit(":", 1)[1]])
        return ConstructResult(component.urn, state)


def _details(error: ConfigError) -> list[InputPropertyErrorDetails]:
    """One detail per problem: its key (without ``acpw:``) and the reason."""
    details: list[InputPropertyErrorDetails] = []
    for problem in error.problems:
        key, _, reason = problem.removeprefix("acpw:").partition(": ")
        details.append({"property_path": key, "reason": reason or problem})
    return details


def inferred_schema() -> dict[str, Any]:
    """The schema the provider serves (``GetSchema``), inferred from this module's annotations."""
    provider = AcpwProvider()
    assert provider.schema is not None
    schema: dict[str, Any] = json.loads(provider.schema)
    return schema


def serve() -> None:
    """Run the component provider (the ``provider/`` plugin's entry point)."""
    from pulumi.provider import main

    main(AcpwProvider(), sys.argv[1:])
