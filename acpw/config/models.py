"""The ``acpw:*`` stack configuration as typed models: defaults and per-field validation.

Field names are snake_case; the user's keys are their camelCase aliases (``alias_generator``).
Checks that need several fields at once live in :mod:`acpw.config.checks`, reading the config
and turning it into an error live in :mod:`acpw.config.loading`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator

from acpw.config.base import ConfigModel, allowed
from acpw.config.errors import shown
from acpw.config.formats import (
    AWS_PARTITION,
    BOUNDARY_ARN_RE,
    CW_NAMESPACE_RE,
    DIGEST_RE,
    DNS_LABEL_RE,
    DNS_SUBDOMAIN_RE,
    HOST_RE,
    IAM_PATH_MAX,
    IAM_PATH_RE,
    IAM_USER_RE,
    IMAGE_REF_RE,
    INSTANCE_RE,
    KMS_KEY_ARN_RE,
    PERCENT_RE,
    PRINTABLE_ASCII_RE,
    REGION_RE,
    VM_ID_RE,
    VPCE_RE,
    TextValue,
    is_iam_tag_text,
    label_problems,
    region_partition,
)
from acpw.config.observability import CostConfig, ObservabilityConfig
from acpw.config.upstreams import CREDENTIAL_ARN_RE, supported_hosts, upstream_of
from acpw.contract import AWS_CLI_IMAGE, DEFAULT_INSTANCE, KUBECTL_IMAGE, ObjectNames
from acpw.istio_versions import NEWEST_SUPPORTED, OLDEST_SUPPORTED, IstioFeatures, IstioVersion

NEWEST_KNOWN_MINOR = NEWEST_SUPPORTED[1]
"""Newest Istio minor release whose behaviour the program has been checked against."""

PUBLISHED_SENDER = "oci://ghcr.io/hatappi/aws-cloudwatch-proxy-wasm/oci-sender:v0.1.0"
PUBLISHED_RECEIVER_VOLUME = "ghcr.io/hatappi/aws-cloudwatch-proxy-wasm:v0.1.0"

DEFAULT_GATEWAY = {
    "name": "istio-ingressgateway",
    "namespace": "istio-system",
    "selector": {"app": "istio-ingressgateway", "istio": "ingressgateway"},
    "installer": "istioOperator",
}


_PARTITION_NOTES = {"aws-cn": " (aws-cn endpoints end in .amazonaws.com.cn)"}


def partition_message(region: str, partition: str) -> str:
    """Why a region outside the ``aws`` partition is refused (``cn-*``, ``us-gov-*``, ``*-iso*-*``)."""
    return (
        f"{shown(region)} is in the {partition} partition: only regions of the aws partition are "
        "supported, because the receiver's CloudWatch host is built as "
        f"monitoring.<region>.amazonaws.com{_PARTITION_NOTES.get(partition, '')}, the ARNs the "
        f"config takes (iam.permissionsBoundary, images.ecrKmsKeyArn) are arn:aws:... (in {partition}: "
        f"arn:{partition}:...) and the CloudWatch console URL is on console.aws.amazon.com: all "
        "aws-partition only"
    )


class CloudWatchConfig(ConfigModel):
    """``acpw:cloudwatch``: the receiver's configuration."""

    region: str | None = Field(None, json_schema_extra=allowed("a region of the aws partition"))
    """AWS region of the CloudWatch endpoint; unset: the stack's ``aws:region``."""
    namespace: str = Field(
        "AWSCloudWatchProxyWasm",
        json_schema_extra=allowed(
            "1 to 255 of letters, digits, spaces and . _ - / # :, not starting AWS/"
        ),
    )
    """CloudWatch metric namespace (also the IAM policy's ``cloudwatch:namespace`` condition)."""
    metric_name: str = Field(
        "RequestCount", json_schema_extra=allowed("1 to 255 printable ASCII characters")
    )
    """Name of the metric the receiver publishes (one data point per request)."""
    request_timeout_ms: int = Field(5000, strict=True, json_schema_extra=allowed("100 to 60000"))
    """Timeout of one PutMetricData call, in milliseconds."""
    signing: Literal["module", "envoy"] | None = None
    """Who signs the PutMetricData calls: ``module`` (the receiver, static keys, ap-northeast-1
    only) or ``envoy`` (Envoy's ``aws_request_signing`` upstream filter on the receiver's own
    cluster: any region, session credentials, IRSA, EKS Pod Identity; Istio 1.22 or later).
    Unset: ``envoy`` where ``module`` cannot work (another region, a keyless
    ``iam.credentials`` or ``receiver.module: batching``) on Istio 1.22+, else ``module``: so
    upgrading the program never changes what a working stack runs (a changed default would roll
    every gateway)."""

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is None:
            return value
        partition = region_partition(value)
        if partition != AWS_PARTITION:
            raise ValueError(partition_message(value, partition))
        if not REGION_RE.match(value):
            raise ValueError(
                f"{shown(value)} is not an AWS region name like ap-northeast-1 or us-east-1"
            )
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not value or len(value) > 255:
            raise ValueError("must be 1 to 255 characters")
        if value.startswith("AWS/"):
            raise ValueError("must not start with 'AWS/' (reserved for AWS services)")
        if not CW_NAMESPACE_RE.match(value):
            raise ValueError(
                "may contain only letters, digits, spaces and . _ - / # : (CloudWatch namespace rules)"
            )
        return value

    @field_validator("metric_name")
    @classmethod
    def _metric_name(cls, value: str) -> str:
        if not value or len(value) > 255 or not PRINTABLE_ASCII_RE.match(value):
            raise ValueError("must be 1 to 255 printable ASCII characters")
        return value

    @field_validator("request_timeout_ms")
    @classmethod
    def _timeout(cls, value: int) -> int:
        if not 100 <= value <= 60000:
            raise ValueError(f"{shown(value)} is out of range: allowed 100 to 60000 (milliseconds)")
        return value


FLUSH_SECONDS_RANGE = (1, 300)
"""``receiver.flushSeconds``: the batching receiver's flush interval, in seconds (its tick is 1 s;
CloudWatch keeps 1-minute data, so a flush every 60 s already loses no resolution)."""
MAX_SERIES_RANGE = (1, 10_000)
"""``receiver.maxSeries``: dimension sets per flush. The module keeps two tables of about 1 KiB
per entry (the one counting, the one being sent), so 10,000 is about 20 MiB of the VM's memory."""


class ReceiverConfig(ConfigModel):
    """``acpw:receiver``: which receiver module runs, and how the batching one batches."""

    module: Literal["published", "batching"] = "published"
    """``published``: the v0.1.0 receiver from ``images.receiverVolume`` (one PutMetricData call per
    request, the raw path as a dimension). ``batching``: the project's own receiver
    (receiver/batching.c, shipped with the program and delivered in a ConfigMap): it counts per
    dimension set, drops the query string from the path, keeps at most ``maxSeries`` dimension
    sets (the rest in one overflow series) and sends one batch of PutMetricData calls every
    ``flushSeconds``; unsigned, so it needs ``cloudwatch.signing: envoy`` (no key enters the
    VM)."""
    flush_seconds: int = Field(
        60,
        strict=True,
        json_schema_extra=allowed(f"{FLUSH_SECONDS_RANGE[0]} to {FLUSH_SECONDS_RANGE[1]}"),
    )
    """``batching``: seconds between two flushes (one batch of PutMetricData calls each)."""
    max_series: int = Field(
        1000,
        strict=True,
        json_schema_extra=allowed(f"{MAX_SERIES_RANGE[0]} to {MAX_SERIES_RANGE[1]}"),
    )
    """``batching``: distinct (host, method, path, status) dimension sets per flush; requests of
    any further set are counted in one overflow series (all four dimensions ``(overflow)``)."""

    @field_validator("flush_seconds")
    @classmethod
    def _flush_seconds(cls, value: int) -> int:
        low, high = FLUSH_SECONDS_RANGE
        if not low <= value <= high:
            raise ValueError(f"{shown(value)} is out of range: allowed {low} to {high} (seconds)")
        return value

    @field_validator("max_series")
    @classmethod
    def _max_series(cls, value: int) -> int:
        low, high = MAX_SERIES_RANGE
        if not low <= value <= high:
            raise ValueError(
                f"{shown(value)} is out of range: allowed {low} to {high:,} (dimension sets per "
                "flush; the module keeps two tables of about 1 KiB per entry)"
            )
        return value


class GatewayConfig(ConfigModel):
    """One entry of ``acpw:gateways``: an ingress gateway the modules run in."""

    name: str = Field(json_schema_extra=allowed("a DNS label (up to 63 of a-z, 0-9, -)"))
    """The gateway's Deployment name (also its IstioOperator component name); with
    ``gatewayApi`` the name of the Gateway API ``Gateway`` (istiod's Deployment is
    ``<name>-istio``)."""
    namespace: str = Field(json_schema_extra=allowed("a DNS label (up to 63 of a-z, 0-9, -)"))
    """Namespace of the gateway's Deployment (with ``gatewayApi``: of the ``Gateway``)."""
    selector: dict[str, TextValue] = Field(
        default_factory=dict,
        json_schema_extra=allowed(
            "Kubernetes labels, not empty (numbers and booleans taken as text); required "
            "except with gatewayApi, where it is not allowed"
        ),
    )
    """Labels selecting the gateway's pods (WasmPlugin and EnvoyFilter selector); no two gateways
    of one namespace may select the same pods. Not set with ``gatewayApi``: the sender attaches
    to the Gateway by ``targetRefs``."""
    installer: Literal["istioOperator", "deploymentPatch", "gatewayApi"] = "istioOperator"
    """How the gateway is installed, and so who rolls its pods: ``istioOperator`` (an IstioOperator
    overlay, applied by the operator or ``istioctl install``), ``deploymentPatch`` (the program
    patches the Deployment and waits for the rollout) or ``gatewayApi`` (a Gateway API
    ``Gateway`` of class ``istio``, Istio 1.26+: the program points its
    ``spec.infrastructure.parametersRef`` at an overlay ConfigMap, istiod rolls ``<name>-istio``
    and a Job waits)."""
    max_surge: int | str = Field(
        "25%", json_schema_extra=allowed("a count of at least 1, or '1%' to '100%'")
    )
    """Extra pods a rollout may start at once (``maxUnavailable`` stays 0): a count or a percentage."""
    enabled: bool = Field(True, strict=True)
    """False: take ACPW off this gateway (pods roll without it); remove the entry afterwards."""
    service_account: str | None = Field(
        None, json_schema_extra=allowed("a DNS subdomain (up to 253 of a-z, 0-9, - and .)")
    )
    """The gateway pods' ServiceAccount, trusted by the IAM role (``iam.credentials`` ``irsa`` /
    ``podIdentity``); unset: ``<name>-service-account`` for ``istioOperator`` (Istio's gateway
    chart), ``<name>`` for ``deploymentPatch`` (the ``istio/gateway`` Helm chart's default),
    ``<name>-istio`` for ``gatewayApi`` (istiod's generated ServiceAccount)."""

    @field_validator("service_account")
    @classmethod
    def _service_account(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 253 or not DNS_SUBDOMAIN_RE.match(value)):
            raise ValueError(
                f"{shown(value)} is not a ServiceAccount name (a DNS subdomain: up to 253 "
                "lowercase letters, digits, '-' and '.')"
            )
        return value

    @property
    def key(self) -> str:
        """``namespace/name``: how outputs, live reads and generation plans name this gateway."""
        return f"{self.namespace}/{self.name}"

    @property
    def service_account_name(self) -> str:
        """The ServiceAccount the gateway pods run as (``service_account`` or the installer's)."""
        if self.service_account is not None:
            return self.service_account
        if self.installer == "istioOperator":
            # manifests/charts/gateways/istio-ingress/templates/serviceaccount.yaml (istio 1.24.6)
            return f"{self.name}-service-account"
        if self.installer == "gatewayApi":
            # istiod's generated ServiceAccount <gateway>-<class> (GATEWAY_API_FACTS)
            return f"{self.name}-istio"
        # manifests/charts/gateway/templates/_helpers.tpl gateway.serviceAccountName (1.24.6)
        return self.name

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if len(value) > 63 or not DNS_LABEL_RE.match(value):
            raise ValueError(
                f"{shown(value)} is not a Kubernetes name (up to 63 lowercase letters, digits and '-')"
            )
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if len(value) > 63 or not DNS_LABEL_RE.match(value):
            raise ValueError(
                f"{shown(value)} is not a Kubernetes namespace (up to 63 lowercase letters, digits and '-')"
            )
        return value

    @field_validator("max_surge", mode="before")
    @classmethod
    def _max_surge(cls, value: Any) -> int | str:
        hint = "use a count like 2 or a percentage from '1%' to '100%'"
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"{shown(value)} is not allowed: {hint}")
        if isinstance(value, int):
            if value < 1:
                raise ValueError(
                    f"{shown(value)} is not allowed: at least 1 (maxUnavailable is 0, so a rollout "
                    "needs surge)"
                )
            return value
        match = PERCENT_RE.match(value)
        if not match or not 1 <= int(match.group(1)) <= 100:
            raise ValueError(f"{shown(value)} is not allowed: {hint}")
        return value

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError(
                "must not be empty: an empty selector would load the modules into every workload"
            )
        problems = label_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return dict(sorted(value.items()))


ROLE_ARN_RE = re.compile(r"^arn:aws:iam::\d{12}:role/([\x21-\x2e\x30-\x7e]+/)*[\w+=,.@-]{1,64}$")
"""An IAM role ARN of the aws partition, with an optional path."""


_BY_DIGEST = "an image reference ending @sha256:<64 lowercase hex>"


class ImagesConfig(ConfigModel):
    """``acpw:images``: where the Wasm modules come from and how they are pulled."""

    sender: str = Field(
        PUBLISHED_SENDER, json_schema_extra=allowed("oci:// and an image reference")
    )
    """``oci://`` URL of the sender image (one layer holding ``plugin.wasm``, or a Wasm OCI artifact)."""
    sender_digest: str | None = Field(
        None, json_schema_extra=allowed("sha256: and 64 lowercase hex")
    )
    """Manifest digest ``sha256:<64 hex>`` pinning the sender image."""
    receiver_volume: str = Field(
        PUBLISHED_RECEIVER_VOLUME, json_schema_extra=allowed("an image reference (no scheme)")
    )
    """Image whose working directory holds ``receiver.wasm``, copied by the init container."""
    receiver_volume_digest: str | None = Field(
        None, json_schema_extra=allowed("sha256: and 64 lowercase hex")
    )
    """Manifest digest pinning the receiver volume image."""
    sender_file: str | None = None
    """Refused since 0.3.0 (the program no longer pushes): publish the file with
    ``python -m acpw.oci.publish`` and set ``sender`` and ``senderDigest``."""
    receiver_file: str | None = None
    """Refused since 0.3.0: publish with ``python -m acpw.oci.publish``, set ``receiverVolume``
    and ``receiverVolumeDigest``."""
    pull_policy: Literal["IfNotPresent", "Always"] = "IfNotPresent"
    """``imagePullPolicy`` of the sender WasmPlugin and the receiver's init container."""
    registry: Literal["ghcr", "ecr"] = "ghcr"
    """``ghcr``: pull the source images as they are; ``ecr``: through an ECR pull-through cache."""
    ecr_keep_images: int = Field(10, strict=True, ge=1, le=1000)
    """ECR lifecycle policy: how many images each repository keeps."""
    ecr_kms_key_arn: str | None = Field(
        None, json_schema_extra=allowed("arn:aws:kms:<region>:<account>:key/<id> or alias/<name>")
    )
    """Encrypt the cached ECR repositories with this KMS key instead of AES256 (needs
    ``ecrCreationRoleArn``)."""
    ecr_upstream_credentials: dict[str, str] = Field(
        default_factory=dict,
        json_schema_extra=allowed(
            "upstream host -> arn:aws:secretsmanager:...:secret:ecr-pullthroughcache/<name>"
        ),
    )
    """Registry ``ecr``: per upstream registry host (``ghcr.io``, ``docker.io``, ...), the ARN of
    the Secrets Manager secret ``ecr-pullthroughcache/<name>`` holding its credentials."""
    ecr_creation_role_arn: str | None = Field(
        None, json_schema_extra=allowed("arn:aws:iam::<account>:role/[path/]<name>")
    )
    """Registry ``ecr``: the IAM role ECR assumes to create cached repositories with a KMS key
    and tags (the repository creation template's custom role)."""
    modules_honour_region: bool = Field(False, strict=True)
    """Set true only for modules built so that they call the configured region (not v0.1.0)."""
    kubectl: str = Field(KUBECTL_IMAGE, json_schema_extra=allowed(_BY_DIGEST))
    """The kubectl image of the rollout-check Jobs and the refresher, by digest (``...@sha256:``)."""
    aws_cli: str = Field(AWS_CLI_IMAGE, json_schema_extra=allowed(_BY_DIGEST))
    """The AWS CLI image of the refresher (and the heartbeat's default), by digest."""
    copy_tool_images: bool = Field(False, strict=True)
    """Registry ``ecr``: copy ``kubectl`` and ``awsCli`` into private ECR too, and run them from there."""
    refresher_namespace: str | None = Field(None, json_schema_extra=allowed("a DNS label"))
    """Registry ``ecr``: where the one refresher runs; default: the first gateway namespace."""
    refresher_role_arn: str | None = Field(
        None, json_schema_extra=allowed("arn:aws:iam::<account>:role/[path/]<name>")
    )
    """Registry ``ecr``: an IAM role the refresher assumes through IRSA / EKS Pod Identity
    instead of a static key of its own IAM user."""

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not value.startswith("oci://"):
            raise ValueError(
                f"{shown(value)} must be an oci:// image URL (other schemes are not supported)"
            )
        if not IMAGE_REF_RE.match(value.removeprefix("oci://")):
            raise ValueError(f"{shown(value)} is not a valid image reference after oci://")
        return value

    @field_validator("receiver_volume")
    @classmethod
    def _receiver_volume(cls, value: str) -> str:
        if not IMAGE_REF_RE.match(value):
            raise ValueError(
                f"{shown(value)} is not an image reference like registry/repository:tag (no scheme)"
            )
        return value

    @field_validator("ecr_kms_key_arn")
    @classmethod
    def _kms_key(cls, value: str | None) -> str | None:
        return _aws_arn(
            value,
            KMS_KEY_ARN_RE,
            "a KMS key ARN",
            "arn:aws:kms:<region>:<account>:key/<id> or alias/<name>",
        )

    @field_validator("ecr_upstream_credentials")
    @classmethod
    def _upstream_credentials(cls, value: dict[str, str]) -> dict[str, str]:
        problems = []
        for host, arn in value.items():
            if upstream_of(f"{host}/x") is None:
                problems.append(
                    f"{shown(host)} is not an upstream registry ECR pull-through caches "
                    f"(allowed: {supported_hosts()})"
                )
            elif not isinstance(arn, str) or not CREDENTIAL_ARN_RE.match(arn):
                problems.append(
                    f"{host}: {shown(arn)} is not the ARN of a Secrets Manager secret named "
                    "ecr-pullthroughcache/<name> (arn:aws:secretsmanager:<region>:<account>:"
                    "secret:ecr-pullthroughcache/<name>-<suffix>)"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return dict(sorted(value.items()))

    @field_validator("kubectl", "aws_cli")
    @classmethod
    def _tool_image(cls, value: str) -> str:
        if not isinstance(value, str) or not IMAGE_REF_RE.match(value) or "@sha256:" not in value:
            raise ValueError(
                f"{shown(value)} is not an image reference by digest: write "
                "registry/repository[:tag]@sha256:<64 lowercase hex> (these images receive a "
                "ServiceAccount token or an AWS key, so a tag alone is refused)"
            )
        return value

    @field_validator("refresher_namespace")
    @classmethod
    def _refresher_namespace(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 63 or not DNS_LABEL_RE.match(value)):
            raise ValueError(f"{shown(value)} is not a Kubernetes namespace name (a DNS label)")
        return value

    @field_validator("refresher_role_arn", "ecr_creation_role_arn")
    @classmethod
    def _refresher_role_arn(cls, value: str | None) -> str | None:
        return _aws_arn(
            value,
            ROLE_ARN_RE,
            "an IAM role ARN",
            "arn:aws:iam::<12-digit account>:role/[path/]<name>",
        )

    @field_validator("sender_digest", "receiver_volume_digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None and not DIGEST_RE.match(value):
            raise ValueError(
                f"{shown(value)} is not a digest: allowed is 'sha256:' and 64 lowercase hex"
            )
        return value


KEY_GENERATION_MAX = 99999
"""The key generation is part of Secret and Pulumi resource names (``acpw-aws-credentials-g<N>-...``):
five digits keep every derived name within its limits."""
PROGRAM_TAGS = ("acpw:purpose", "pulumi:project", "pulumi:stack")
"""Tags the program sets on every AWS resource it tags (acpw/contract.py ``aws_tags``)."""
IAM_TAGS_MAX = 50 - len(PROGRAM_TAGS)
"""AWS allows 50 tags on an IAM user; the program adds its own."""
ALLOWED_SOURCE_VPCES_MAX = 10
ALLOWED_SOURCE_IPS_MAX = 16
"""With these, the longest PutMetricData policy stays under IAM's 2048-character limit for a
user's inline policies (tests/test_credentials.py checks the worst case)."""


def _aws_arn(value: str | None, pattern: re.Pattern[str], what: str, example: str) -> str | None:
    """``value`` if it is ``what`` in the aws partition, else a clear error."""
    if value is None:
        return value
    partition = _other_partition_arn(value)
    if partition:
        raise ValueError(
            f"{shown(value)} is an ARN of the {partition} partition: only the aws partition "
            f"is supported ({example})"
        )
    if not pattern.match(value):
        raise ValueError(f"{shown(value)} is not {what} of the aws partition ({example})")
    return value


def _other_partition_arn(value: str) -> str | None:
    """The partition of an ARN outside the aws partition (``arn:aws-cn:...`` -> ``aws-cn``)."""
    partition = value.split(":", 2)[1] if value.count(":") >= 2 else ""
    if value.startswith("arn:") and partition.startswith("aws-"):
        return partition
    return None


OIDC_PROVIDER_ARN_RE = re.compile(
    r"^arn:aws:iam::\d{12}:oidc-provider/([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}(/[\x21-\x7e]+)?$"
)
"""An IAM OIDC provider ARN: ``arn:aws:iam::<account>:oidc-provider/<issuer host>[/<path>]``."""
EKS_CLUSTER_RE = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
"""An EKS cluster name (CreateCluster: 1 to 100 of letters, digits, - and _, starting alphanumeric)."""
KEYLESS = ("irsa", "podIdentity")
"""The ``iam.credentials`` modes without an IAM user, key or Secret."""
PUBLISHED_MODULE_REGION = "ap-northeast-1"
"""v0.1.0 hard-codes ``monitoring.ap-northeast-1.amazonaws.com`` as Host and signing host."""


class IamConfig(ConfigModel):
    """``acpw:iam``: the AWS identity the CloudWatch calls are signed with."""

    credentials: Literal["accessKey", "irsa", "podIdentity"] = "accessKey"
    """Where the signing credentials come from: ``accessKey`` (an IAM user's key in a Secret, read
    from env), ``irsa`` (an IAM role assumed with the ServiceAccount token through the cluster's
    OIDC provider; Istio 1.24+) or ``podIdentity`` (an IAM role given by the EKS Pod Identity
    agent; Istio 1.22+). The keyless modes need ``cloudwatch.signing: envoy`` and create no IAM
    user, key or Secret."""
    oidc_provider_arn: str | None = Field(
        None,
        json_schema_extra=allowed("arn:aws:iam::<account>:oidc-provider/<issuer host and path>"),
    )
    """``irsa``: the IAM OIDC provider of the cluster's ServiceAccount issuer (the role trusts it
    for exactly the gateways' ServiceAccounts)."""
    eks_cluster_name: str | None = Field(
        None, json_schema_extra=allowed("1 to 100 of letters, digits, - and _")
    )
    """``podIdentity``: the EKS cluster whose Pod Identity associations give the role to the
    gateways' ServiceAccounts (the Pod Identity agent add-on must run)."""
    user_name: str | None = Field(
        None, json_schema_extra=allowed("1 to 64 of letters, digits and + = , . @ _ -")
    )
    """Name of the IAM user (``accessKey``) or role (``irsa``, ``podIdentity``); unset:
    ``<project>-<stack>``."""
    path: str = Field(
        "/acpw/",
        json_schema_extra=allowed(
            f"/ or /segments/ of printable ASCII, no //, up to {IAM_PATH_MAX}"
        ),
    )
    """IAM path of the user."""
    permissions_boundary: str | None = Field(
        None, json_schema_extra=allowed("arn:aws:iam::<account>:policy/...")
    )
    """ARN of a managed policy set as the user's permissions boundary."""
    tags: dict[str, TextValue] = Field(
        default_factory=dict,
        json_schema_extra=allowed(
            f"at most {IAM_TAGS_MAX} IAM tags (letters, digits, spaces and _ . : / = + - @; "
            "numbers and booleans taken as text)"
        ),
    )
    """Tags of the AWS resources; the program adds ``acpw:purpose``, ``pulumi:project`` and
    ``pulumi:stack`` itself."""
    key_generation: int = Field(
        1, strict=True, json_schema_extra=allowed(f"1 to {KEY_GENERATION_MAX}")
    )
    """Bump by one to rotate the access key without downtime."""
    revoke_previous_key: bool = Field(False, strict=True)
    """Emergency: deactivate every older key at once, even while pods still use it."""
    allowed_source_vpces: list[str] = Field(
        default_factory=list,
        json_schema_extra=allowed(f"at most {ALLOWED_SOURCE_VPCES_MAX} distinct vpce-... ids"),
    )
    """VPC endpoint ids (``vpce-...``) the key may call PutMetricData through (``aws:SourceVpce``)."""
    allowed_source_ips: list[str] = Field(
        default_factory=list,
        json_schema_extra=allowed(f"at most {ALLOWED_SOURCE_IPS_MAX} distinct public CIDRs"),
    )
    """Public CIDRs the key may call PutMetricData from (``aws:SourceIp``); normalised."""

    @field_validator("oidc_provider_arn")
    @classmethod
    def _oidc_provider_arn(cls, value: str | None) -> str | None:
        return _aws_arn(
            value,
            OIDC_PROVIDER_ARN_RE,
            "an IAM OIDC provider ARN",
            "arn:aws:iam::<12-digit account>:oidc-provider/oidc.eks.<region>.amazonaws.com/id/<id>",
        )

    @field_validator("eks_cluster_name")
    @classmethod
    def _eks_cluster_name(cls, value: str | None) -> str | None:
        if value is not None and not EKS_CLUSTER_RE.match(value):
            raise ValueError(
                f"{shown(value)} is not an EKS cluster name (1 to 100 of letters, digits, '-' and "
                "'_', starting with a letter or digit)"
            )
        return value

    @property
    def keyless(self) -> bool:
        """No IAM user, key or Secret: the pods get a role (``irsa``, ``podIdentity``)."""
        return self.credentials in KEYLESS

    @property
    def oidc_issuer(self) -> str:
        """The issuer (host and path) of ``oidc_provider_arn``: the trust policy's condition prefix."""
        assert self.oidc_provider_arn is not None
        return self.oidc_provider_arn.split(":oidc-provider/", 1)[1]

    @field_validator("user_name")
    @classmethod
    def _user_name(cls, value: str | None) -> str | None:
        if value is not None and not IAM_USER_RE.match(value):
            raise ValueError(
                f"{shown(value)} is not an IAM user name (1 to 64 of letters, digits and +=,.@_-)"
            )
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        rule = (
            "an IAM path is '/' or '/'-separated segments of printable ASCII (no spaces), "
            f"starting and ending with '/', at most {IAM_PATH_MAX} characters, e.g. /platform/acpw/"
        )
        if len(value) > IAM_PATH_MAX:
            raise ValueError(f"{shown(value)} is too long: {rule}")
        if "//" in value:
            raise ValueError(f"{shown(value)} has an empty segment ('//'): {rule}")
        if not IAM_PATH_RE.match(value):
            raise ValueError(f"{shown(value)} is not an IAM path: {rule}")
        return value

    @field_validator("permissions_boundary")
    @classmethod
    def _boundary(cls, value: str | None) -> str | None:
        return _aws_arn(
            value, BOUNDARY_ARN_RE, "an IAM policy ARN", "arn:aws:iam::<account>:policy/..."
        )

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        rule = "letters, digits, spaces and _ . : / = + - @ (IAM tag rules)"
        problems = []
        if len(value) > IAM_TAGS_MAX:
            problems.append(
                f"{len(value)} tags: at most {IAM_TAGS_MAX} (AWS allows 50 per IAM user, and the "
                f"program adds {', '.join(PROGRAM_TAGS)})"
            )
        for key, tag in value.items():
            if not 1 <= len(key) <= 128 or not is_iam_tag_text(key):
                problems.append(f"tag key {shown(key)} must be 1 to 128 of {rule}")
            elif key.lower().startswith("aws:"):
                problems.append(f"tag key {shown(key)} must not start with 'aws:' (reserved)")
            elif key in PROGRAM_TAGS:
                problems.append(f"tag key {shown(key)} is set by the program")
            if len(tag) > 256 or not is_iam_tag_text(tag):
                problems.append(
                    f"tag value {shown(tag)} of {shown(key)} must be 0 to 256 of {rule}"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return dict(sorted(value.items()))

    @field_validator("key_generation")
    @classmethod
    def _generation(cls, value: int) -> int:
        if not 1 <= value <= KEY_GENERATION_MAX:
            raise ValueError(
                f"{shown(value)} is not allowed: use an integer from 1 to {KEY_GENERATION_MAX} "
                "(bump it by one to rotate the key; it is part of Secret and resource names)"
            )
        return value

    @field_validator("allowed_source_vpces")
    @classmethod
    def _source_vpces(cls, value: list[str]) -> list[str]:
        if len(value) > ALLOWED_SOURCE_VPCES_MAX:
            raise ValueError(
                f"{len(value)} VPC endpoints: at most {ALLOWED_SOURCE_VPCES_MAX} (IAM limits the "
                "size of a user's inline policy)"
            )
        for index, vpce in enumerate(value):
            if not VPCE_RE.match(vpce):
                raise ValueError(
                    f"[{index}] {shown(vpce)} is not a VPC endpoint id: 'vpce-' and 8 or 17 "
                    "lowercase hex, e.g. vpce-0123456789abcdef0"
                )
        duplicates = sorted({v for v in value if value.count(v) > 1})
        if duplicates:
            raise ValueError(f"duplicate VPC endpoints: {', '.join(duplicates)}")
        return value

    @field_validator("allowed_source_ips")
    @classmethod
    def _source_ips(cls, value: list[str]) -> list[str]:
        if len(value) > ALLOWED_SOURCE_IPS_MAX:
            raise ValueError(
                f"{len(value)} CIDRs: at most {ALLOWED_SOURCE_IPS_MAX} (IAM limits the size of a "
                "user's inline policy)"
            )
        networks = []
        for index, text in enumerate(value):
            try:
                network = ipaddress.ip_network(text, strict=True)
            except ValueError as error:
                hint = ""
                if "has host bits set" in str(error):
                    hint = f": did you mean {ipaddress.ip_network(text, strict=False)}?"
                raise ValueError(
                    f"[{index}] {shown(text)} is not an IPv4 or IPv6 network in CIDR notation "
                    f"(address/prefix length){hint}"
                ) from None
            if network.prefixlen == 0:
                raise ValueError(
                    f"[{index}] {shown(text)} allows every address: leave allowedSourceIps out "
                    "instead"
                )
            if not network.is_global:
                raise ValueError(
                    f"[{index}] {shown(text)} is not a public network: aws:SourceIp only ever "
                    "holds public addresses (a request through a VPC endpoint has none): for "
                    "traffic through a VPC endpoint use allowedSourceVpces"
                )
            networks.append(str(network))
        duplicates = sorted({n for n in networks if networks.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate networks: {', '.join(duplicates)}")
        return networks


class AcpwConfig(ConfigModel):
    """The whole validated ``acpw:*`` configuration of one stack."""

    istio_version: IstioVersion = Field(
        json_schema_extra=allowed(
            f'"1.{OLDEST_SUPPORTED[1]}" to "1.{NEWEST_KNOWN_MINOR}", or with a patch release '
            '("1.22.3"); quoted'
        )
    )
    """Istio release of the cluster, ``"1.13"`` or ``"1.13.9"`` (quote it); decides every
    version-dependent choice."""
    cloudwatch: CloudWatchConfig = Field(
        default_factory=lambda: CloudWatchConfig.model_validate({})
    )
    """The receiver's configuration: region, metric namespace and name, timeout."""
    receiver: ReceiverConfig = Field(default_factory=lambda: ReceiverConfig.model_validate({}))
    """Which receiver module runs (``published`` or the project's ``batching`` one) and its
    batching settings."""
    gateways: Annotated[list[GatewayConfig], Field(min_length=1)] = Field(
        default_factory=lambda: [GatewayConfig.model_validate(DEFAULT_GATEWAY)]
    )
    """The ingress gateways the modules run in; default: ``istio-ingressgateway`` in
    ``istio-system``."""
    match_hosts: list[str] = Field(
        default_factory=list,
        json_schema_extra=allowed("distinct lowercase hostnames, optional :port (1 to 65535)"),
    )
    """Exact ``:authority`` values the sender counts (its ``match_hosts``); empty counts every
    host."""
    images: ImagesConfig = Field(default_factory=lambda: ImagesConfig.model_validate({}))
    """Module images, their digests, the registry and pull policy, and the tool images."""
    iam: IamConfig = Field(default_factory=lambda: IamConfig.model_validate({}))
    """The AWS identity of the receiver and its key generation."""
    fail_strategy: Literal["open", "closed"] = "open"
    """What the sender's HTTP filter does when its module cannot load (honoured from Istio
    1.19)."""
    receiver_vm_id: str = Field(
        "aws-cloudwatch-proxy-wasm-receiver",
        json_schema_extra=allowed("1 to 128 of letters, digits and _ . -, starting alphanumeric"),
    )
    """``vm_id`` of the receiver VM; the sender's ``receiver_vm_id`` points at it."""
    instance: str = Field(
        DEFAULT_INSTANCE,
        json_schema_extra=allowed("1 to 20 of a-z, 0-9 and -, starting with a letter"),
    )
    """Prefix of every Kubernetes object name and the ``app.kubernetes.io/instance`` label; two
    stacks (or components) in one cluster need different ones, and changing it makes a new
    generation."""
    observability: ObservabilityConfig = Field(
        default_factory=lambda: ObservabilityConfig.model_validate({})
    )
    """Dashboard, alarms, their SNS topic and the heartbeat."""
    cost: CostConfig = Field(default_factory=lambda: CostConfig.model_validate({}))
    """Expected traffic for the monthly CloudWatch estimate, and an optional AWS Budget."""

    model_config = ConfigDict(arbitrary_types_allowed=True)  # merged with ConfigModel's

    @field_validator("istio_version", mode="before")
    @classmethod
    def _istio_version(cls, value: Any) -> IstioVersion:
        if not isinstance(value, str):
            raise ValueError(
                f'{shown(value)} must be a string like "1.22" or "1.22.3" (quote it in YAML: 1.20 would read as 1.2)'
            )
        try:
            version = IstioVersion.parse(value)
        except ValueError:
            raise ValueError(
                f"{shown(value)} is not an Istio version like 1.22 or 1.22.3"
            ) from None
        oldest = IstioVersion(OLDEST_SUPPORTED[1])
        if version < oldest:
            hint = ""
            # 1.20 written unquoted in YAML is the number 1.2: only hint where that is the case.
            if (
                version.patch is None
                and OLDEST_SUPPORTED[1] <= version.minor * 10 <= NEWEST_KNOWN_MINOR
            ):
                hint = f" (if you wrote 1.{version.minor}0 unquoted, YAML read it as a number: quote it)"
            raise ValueError(
                f"Istio {version} is too old: supported are 1.{OLDEST_SUPPORTED[1]} to 1.{NEWEST_KNOWN_MINOR} "
                f"(WasmPlugin exists from 1.12){hint}"
            )
        if version.minor > NEWEST_KNOWN_MINOR:
            raise ValueError(
                f"Istio {version} is unknown to this program: supported are 1.{OLDEST_SUPPORTED[1]} to "
                f"1.{NEWEST_KNOWN_MINOR}"
            )
        return version

    @field_validator("match_hosts")
    @classmethod
    def _match_hosts(cls, value: list[str]) -> list[str]:
        for host in value:
            if not isinstance(host, str) or not HOST_RE.match(host):
                raise ValueError(
                    f"{shown(host)} is not an exact :authority value (lowercase hostname, optional "
                    ":port; no wildcards, schemes or paths)"
                )
            _, colon, port = host.rpartition(":")
            if colon and (not 1 <= int(port) <= 65535 or port.startswith("0")):
                raise ValueError(
                    f"{shown(host)} has port {port}: a port is 1 to 65535, written without "
                    "leading zeros (as clients send it in :authority)"
                )
        duplicates = sorted({h for h in value if value.count(h) > 1})
        if duplicates:
            raise ValueError(f"duplicate hosts: {', '.join(duplicates)}")  # valid hostnames
        return value

    @field_validator("receiver_vm_id")
    @classmethod
    def _vm_id(cls, value: str) -> str:
        if not VM_ID_RE.match(value):
            raise ValueError(
                f"{shown(value)} is not a VM id: 1 to 128 of letters, digits and _ . - (starting alphanumeric)"
            )
        return value

    @property
    def features(self) -> IstioFeatures:
        return IstioFeatures(self.istio_version)

    @property
    def region(self) -> str:
        """The resolved CloudWatch region (set by :func:`load_config`)."""
        assert self.cloudwatch.region is not None
        return self.cloudwatch.region

    @property
    def signing(self) -> Literal["module", "envoy"]:
        """Who signs the CloudWatch calls: ``cloudwatch.signing``, or its default (see there)."""
        if self.cloudwatch.signing is not None:
            return self.cloudwatch.signing
        module_cannot = (
            self.iam.keyless
            or self.receiver.module == "batching"
            or (self.region != PUBLISHED_MODULE_REGION and not self.images.modules_honour_region)
        )
        if module_cannot and self.features.envoy_upstream_signing:
            return "envoy"
        return "module"

    @property
    def namespaces(self) -> list[str]:
        """Gateway namespaces, in first-seen order."""
        return list(dict.fromkeys(g.namespace for g in self.gateways))

    @property
    def names(self) -> ObjectNames:
        """This instance's Kubernetes object names."""
        return ObjectNames(self.instance)

    @field_validator("instance")
    @classmethod
    def _instance(cls, value: str) -> str:
        if not INSTANCE_RE.match(value):
            raise ValueError(
                f"{shown(value)} is not allowed: 1 to 20 lowercase letters, digits and '-', "
                "starting with a letter and ending alphanumeric (it prefixes object names)"
            )
        return value

    @property
    def enabled_gateways(self) -> list[GatewayConfig]:
        """The gateways ACPW runs in (``enabled``)."""
        return [g for g in self.gateways if g.enabled]

    @property
    def enabled_namespaces(self) -> list[str]:
        """Namespaces of enabled gateways, in first-seen order: where the modules' objects live."""
        return list(dict.fromkeys(g.namespace for g in self.enabled_gateways))
